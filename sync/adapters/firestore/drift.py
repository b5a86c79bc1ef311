"""The DriftStore port on Firestore. Layout (beside the connections and their mappings)::

    drift/{account:user}           per connection: sync token (+ the calendar it belongs to),
                                   the check lease, the next fallback scan, the current channel
                                   (id, resource id, calendar, expiry, when to renew)
    drift_channels/{channel id}    which connection a channel belongs to and its token's SHA-256
                                   (the ping route reads only this and the drift doc)
    drift_pending/{account:user}   "a check is scheduled": created once per burst of pings,
                                   deleted when the check starts (so contention-free coalescing)
    drift_meta/sweep               when active connections were last enrolled

Drift state lives apart from ``connections/…`` so a check never contends with the worker's
transactions, which read the connection document on every change. Mappings stay where they
are: what restore needs (``etag``, ``applied``) is on them, and goes with them on disconnect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from sync.adapters.firestore.base import CONNECTIONS, TRANSIENT, WRITE_RETRY, FirestoreBase
from sync.kernel.clock import utcnow
from sync.kernel.errors import Retryable
from sync.kernel.model import connection_key
from sync.kernel.ports import ChannelRecord, CheckState

DRIFT = "drift"
CHANNELS = "drift_channels"
PENDING = "drift_pending"
META = "drift_meta"
ACCEPT_ATTEMPTS = 20  # a burst of pings of one channel each compare with the one recorded before

class FirestoreDriftStore(FirestoreBase):
    def __init__(self, client: firestore.Client, scan_minutes: float = 360.0) -> None:
        super().__init__(client)
        self.scan_period = timedelta(minutes=scan_minutes)

    # -- references --------------------------------------------------------------------------
    def drift_ref(self, account_id: str, user_id: str) -> firestore.DocumentReference:
        return self.db.collection(DRIFT).document(connection_key(account_id, user_id))

    def pending_ref(self, account_id: str, user_id: str) -> firestore.DocumentReference:
        return self.db.collection(PENDING).document(connection_key(account_id, user_id))

    def channel_ref(self, channel_id: str) -> firestore.DocumentReference:
        return self.db.collection(CHANNELS).document(channel_id)

    # -- the check (DriftStore port) -----------------------------------------------------------
    def begin_check(self, account_id: str, user_id: str, lease_id: str, until: datetime) -> CheckState | None:
        ref, pending = self.drift_ref(account_id, user_id), self.pending_ref(account_id, user_id)
        now = utcnow()

        def run(txn: firestore.Transaction) -> CheckState | None:
            snaps = {s.reference.path: s for s in txn.get_all([ref, pending])}
            snap, marker = snaps.get(ref.path), snaps.get(pending.path)
            if snap is None or not snap.exists:
                # Never resurrect a forgotten one; and a ping that passed just before a disconnect
                # forgot it may have marked a check pending since: that goes too.
                if marker is not None and marker.exists:
                    txn.delete(pending)
                return CheckState(lease_id, None, None, enrolled=False)
            doc = snap.to_dict() or {}
            held = doc.get("check_lease_until")
            if doc.get("check_lease_id") and isinstance(held, datetime) and held > now:
                return None
            txn.update(ref, {"check_lease_id": lease_id, "check_lease_until": until})
            pending_at = (marker.to_dict() or {}).get("at") if marker is not None and marker.exists else None
            started = doc.get("check_started_at")
            return CheckState(lease_id, doc.get("sync_token"), doc.get("sync_calendar_id"),
                              pending_at if isinstance(pending_at, datetime) else None,
                              last_started_at=started if isinstance(started, datetime) else None)

        return self.transaction(run)

    def listing_started(self, account_id: str, user_id: str, lease_id: str, at: datetime) -> None:
        ref = self.drift_ref(account_id, user_id)
        self.clear_pending(account_id, user_id)

        def run(txn: firestore.Transaction) -> None:
            snap = next(iter(txn.get_all([ref])), None)
            if snap is not None and snap.exists and (snap.to_dict() or {}).get("check_lease_id") == lease_id:
                txn.update(ref, {"check_started_at": at})

        self.transaction(run)

    def end_check(self, account_id: str, user_id: str, lease_id: str, sync_token: str | None,
                  calendar_id: str, keep_token: bool) -> None:
        fields: dict[str, Any] = {"last_check_at": firestore.SERVER_TIMESTAMP,
                                  "next_scan_at": utcnow() + self.scan_period}
        if not keep_token:
            fields.update(sync_token=sync_token, sync_calendar_id=calendar_id)
        self._leave_check(account_id, user_id, lease_id, fields)

    def release_check(self, account_id: str, user_id: str, lease_id: str) -> None:
        self._leave_check(account_id, user_id, lease_id, {})

    def _leave_check(self, account_id: str, user_id: str, lease_id: str, fields: dict[str, Any]) -> None:
        ref = self.drift_ref(account_id, user_id)

        def run(txn: firestore.Transaction) -> None:
            snap = next(iter(txn.get_all([ref])), None)
            if snap is None or not snap.exists or (snap.to_dict() or {}).get("check_lease_id") != lease_id:
                return  # disconnected meanwhile, or our lease ran out and another check took over
            txn.update(ref, {**fields, "check_lease_id": None, "check_lease_until": None})

        self.transaction(run)

    # -- coalescing pings -----------------------------------------------------------------------
    def mark_pending(self, account_id: str, user_id: str, window: timedelta) -> bool:
        """True for the one caller that should schedule a check: none is pending, or the pending
        one is older than ``window`` (its job was lost)."""
        ref = self.pending_ref(account_id, user_id)
        now = utcnow()
        for _ in range(2):
            try:
                ref.create({"at": now})
                return True
            except gexc.AlreadyExists:
                pass
            snap = ref.get()
            if not snap.exists:
                continue  # the check just started and cleared it: try again
            at = (snap.to_dict() or {}).get("at")
            if isinstance(at, datetime) and now - at < window:
                return False
            try:
                ref.update({"at": now}, option=self.db.write_option(last_update_time=snap.update_time))
                return True
            except (gexc.FailedPrecondition, gexc.NotFound):
                return False  # another ping took it over
        return False

    def clear_pending(self, account_id: str, user_id: str) -> None:
        self.pending_ref(account_id, user_id).delete(retry=WRITE_RETRY)

    # -- channels ------------------------------------------------------------------------------
    def channel(self, channel_id: str) -> dict[str, Any] | None:
        snap = self.channel_ref(channel_id).get()
        return snap.to_dict() if snap.exists else None

    def accept_message(self, channel_id: str, number: int) -> bool:
        """True once per message: ``number`` is above the highest the channel has sent us. Recorded by
        a write conditional on the document being as read (no transaction: a channel's pings come in
        bursts, and locks would queue them), so of two concurrent deliveries of one number only one
        passes, and a lower number that loses the race to a higher one is refused."""
        ref = self.channel_ref(channel_id)
        for _ in range(ACCEPT_ATTEMPTS):
            snap = ref.get()
            if not snap.exists or number <= int((snap.to_dict() or {}).get("last_message_number") or 0):
                return False
            try:
                ref.update({"last_message_number": number},
                           option=self.db.write_option(last_update_time=snap.update_time))
                return True
            except gexc.FailedPrecondition:
                continue  # another ping was recorded meanwhile: compare with it
            except gexc.NotFound:
                return False
            except TRANSIENT as exc:
                raise Retryable(f"firestore: {type(exc).__name__}") from exc
        raise Retryable("firestore: ping contention")

    def drift_doc(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        snap = self.drift_ref(account_id, user_id).get()
        return snap.to_dict() if snap.exists else None

    def current_channel(self, account_id: str, user_id: str) -> ChannelRecord | None:
        return _channel_of(self.drift_doc(account_id, user_id) or {})

    def set_channel(self, account_id: str, user_id: str, channel: ChannelRecord, token_sha256: str,
                    renew_at: datetime) -> ChannelRecord | None:
        """Make ``channel`` the connection's current one; return the one it replaces."""
        ref = self.drift_ref(account_id, user_id)

        def run(txn: firestore.Transaction) -> ChannelRecord | None:
            snap = next(iter(txn.get_all([ref])), None)
            doc = (snap.to_dict() or {}) if snap is not None and snap.exists else {}
            previous = _channel_of(doc)
            fields: dict[str, Any] = {
                "account_id": account_id, "user_id": user_id, "channel_id": channel.id,
                "channel_resource_id": channel.resource_id, "channel_calendar_id": channel.calendar_id,
                "channel_expires_at": channel.expires_at, "channel_renew_at": renew_at}
            if not doc.get("next_scan_at"):
                fields["next_scan_at"] = utcnow() + self.scan_period
            txn.set(ref, fields, merge=True)
            txn.set(self.channel_ref(channel.id), {
                "account_id": account_id, "user_id": user_id, "token_sha256": token_sha256,
                "calendar_id": channel.calendar_id, "expires_at": channel.expires_at})
            if previous is not None and previous.id != channel.id:
                txn.delete(self.channel_ref(previous.id))
            return previous

        return self.transaction(run)

    def channel_failed(self, account_id: str, user_id: str, retry_at: datetime) -> None:
        """No channel could be opened: the maintenance job tries again from ``retry_at``."""
        self.drift_ref(account_id, user_id).set({
            "account_id": account_id, "user_id": user_id, "channel_renew_at": retry_at,
            "next_scan_at": utcnow() + self.scan_period}, merge=True, retry=WRITE_RETRY)

    def clear_channel(self, account_id: str, user_id: str, channel_id: str) -> None:
        ref = self.drift_ref(account_id, user_id)

        def run(txn: firestore.Transaction) -> None:
            snap = next(iter(txn.get_all([ref])), None)
            if snap is not None and snap.exists and (snap.to_dict() or {}).get("channel_id") == channel_id:
                txn.update(ref, {"channel_id": None, "channel_resource_id": None, "channel_calendar_id": None,
                                 "channel_expires_at": None, "channel_renew_at": None})
            txn.delete(self.channel_ref(channel_id))

        self.transaction(run)

    def forget_in(self, txn: firestore.Transaction, account_id: str, user_id: str,
                  doc: dict[str, Any] | None) -> ChannelRecord | None:
        """Stage, in the caller's transaction, the deletes that forget the connection's drift state
        (``doc``: its drift document as that transaction read it); the channel to stop, if any."""
        if doc and doc.get("channel_id"):
            txn.delete(self.channel_ref(str(doc["channel_id"])))
        txn.delete(self.drift_ref(account_id, user_id))
        txn.delete(self.pending_ref(account_id, user_id))
        return _channel_of(doc or {})

    def enroll(self, account_id: str, user_id: str, next_scan_at: datetime) -> None:
        """A connection the maintenance job did not know yet: a channel and scans from now on."""
        try:
            self.drift_ref(account_id, user_id).create({
                "account_id": account_id, "user_id": user_id, "channel_renew_at": utcnow(),
                "next_scan_at": next_scan_at})
        except gexc.AlreadyExists:
            pass

    # -- the maintenance job's queries ---------------------------------------------------------
    def due(self, field: str, now: datetime, limit: int) -> list[tuple[str, str]]:
        query = self.db.collection(DRIFT).where(filter=firestore.FieldFilter(field, "<=", now)).limit(limit)
        return [(d["account_id"], d["user_id"]) for s in query.stream() if (d := s.to_dict() or {}).get("user_id")]

    def postpone_scan(self, account_id: str, user_id: str, at: datetime) -> None:
        self.drift_ref(account_id, user_id).update({"next_scan_at": at}, retry=WRITE_RETRY)

    def active_connections(self) -> list[tuple[str, str]]:
        query = self.db.collection(CONNECTIONS).where(filter=firestore.FieldFilter("status", "==", "active"))
        return [(d["account_id"], d["user_id"]) for s in query.select(["account_id", "user_id"]).stream()
                if (d := s.to_dict() or {}).get("user_id")]

    def enrolled(self) -> set[str]:
        return {s.id for s in self.db.collection(DRIFT).select([]).stream()}

    def sweep_due(self, period: timedelta) -> bool:
        """True once per ``period`` (across instances): time to enrol connections we missed."""
        ref = self.db.collection(META).document("sweep")
        now = utcnow()

        def run(txn: firestore.Transaction) -> bool:
            snap = next(iter(txn.get_all([ref])), None)
            at = (snap.to_dict() or {}).get("next_at") if snap is not None and snap.exists else None
            if isinstance(at, datetime) and at > now:
                return False
            txn.set(ref, {"next_at": now + period})
            return True

        return self.transaction(run)


def _channel_of(doc: dict[str, Any]) -> ChannelRecord | None:
    if not doc.get("channel_id"):
        return None
    return ChannelRecord(str(doc["channel_id"]), str(doc.get("channel_resource_id") or ""),
                         str(doc.get("channel_calendar_id") or ""), doc.get("channel_expires_at") or utcnow())
