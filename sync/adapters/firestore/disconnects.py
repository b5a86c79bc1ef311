"""The DisconnectStore port on Firestore. Layout (beside the connections and their mappings)::

    disconnects/{account:user}    the disconnect under way: its id, whether the events are removed, the
                                  grants to revoke (secret version references), the calendar and the
                                  channel to stop, the phase (forgetting → removing), counts, and the
                                  sequence number of its job chain. Deleted when it is finished.
    connections/{account:user}    ``status: disconnecting`` (+ ``disconnect_id``) until then

Nothing here holds an event's contents: while events are removed, their mappings keep only the
ids, calendar and lease their delete needs.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.field_path import FieldPath

from sync.adapters.firestore.base import FirestoreBase, Outbox, batch_committer, cleared_usage_fields, retryable
from sync.kernel import notification as notes
from sync.kernel.model import ConnectionStatus, connection_key
from sync.kernel.ports import Begun, Removable

DISCONNECTS = "disconnects"
FORGETTING, REMOVING = "forgetting", "removing"
_PAGE = 300
# What a mapping keeps while its Google event waits to be removed: the ids, the calendar, the lease
# of a write in flight. The rest (the applied and parked bodies, the event's end) goes at once.
REMOVAL_FIELDS = ["event_id", "google_event_id", "calendar_id", "google_exists", "google_uncertain", "lease_id",
                  "lease_until"]
_STRIPPED = {"applied": None, "parked": None, "parked_version": None, "has_parked": False, "ends_at": None,
             "open_ended": False, "last_error": None, "error_at": None, "conference_id": None}


def may_exist(mapping: dict[str, Any]) -> bool:
    """A Google event may exist for this mapping: written, or an attempt of unknown outcome."""
    return bool(mapping.get("google_exists") or mapping.get("google_uncertain") or mapping.get("lease_id"))


class FirestoreDisconnects(FirestoreBase):
    def __init__(self, client: firestore.Client, drift: Any, snapshots: Any, moves: Any,
                 outbox: Outbox | None = None) -> None:
        super().__init__(client, outbox)
        self.drift = drift  # sync/adapters/firestore/drift.py: forgets inside our transaction
        self.snapshots = snapshots  # sync/adapters/firestore/snapshots.py: the user's snapshots
        self.moves = moves  # sync/adapters/firestore/moves.py: the calendar move in progress

    def ref(self, account_id: str, user_id: str) -> firestore.DocumentReference:
        return self.db.collection(DISCONNECTS).document(connection_key(account_id, user_id))

    def _events(self, account_id: str, user_id: str) -> firestore.CollectionReference:
        return self.events_ref(account_id, user_id)

    def get(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        snap = self.ref(account_id, user_id).get()
        return snap.to_dict() if snap.exists else None

    # -- 1. the transition ---------------------------------------------------------------------
    def begin(self, account_id: str, user_id: str, remove_events: bool, now: datetime) -> Begun:
        """In one transaction: the connection refuses writes (``disconnecting``), its drift state
        and calendar move are forgotten, and the disconnect's record is created."""
        conn_ref, record_ref = self.connection_ref(account_id, user_id), self.ref(account_id, user_id)
        drift_ref = self.drift.drift_ref(account_id, user_id)
        move_ref = self.moves.ref(account_id, user_id)
        disconnect_id = "dc_" + secrets.token_urlsafe(12)

        @firestore.transactional
        def run(txn: firestore.Transaction) -> Begun:
            snaps = {s.reference.path: s for s in txn.get_all([conn_ref, record_ref, drift_ref])}
            conn, record, drift = ((snaps[r.path].to_dict() or {}) if r.path in snaps and snaps[r.path].exists
                                   else None for r in (conn_ref, record_ref, drift_ref))
            if conn is None:
                return Begun("never", {})
            status = conn.get("status", ConnectionStatus.DISCONNECTED.value)
            if status == ConnectionStatus.DISCONNECTING.value:
                return Begun("running", record or {})
            refs = [r for r in (conn.get("token_ref"), conn.get("pending_token_ref")) if r]
            if status == ConnectionStatus.DISCONNECTED.value and not refs:
                return Begun("disconnected", {})
            channel = self.drift.forget_in(txn, account_id, user_id, drift)
            record = {
                "disconnect_id": disconnect_id, "account_id": account_id, "user_id": user_id,
                "remove_events": remove_events and status != ConnectionStatus.DISCONNECTED.value,
                "announce": status != ConnectionStatus.DISCONNECTED.value,
                "token_refs": refs, "calendar_id": conn.get("calendar_id"),
                "channel": {"id": channel.id, "resource_id": channel.resource_id} if channel else None,
                "phase": FORGETTING, "total": None, "removed": 0, "failed": 0, "deleted_mappings": 0,
                "job_seq": 0, "requested_at": now, "updated_at": now}
            txn.set(record_ref, record)
            txn.update(conn_ref, {
                "status": ConnectionStatus.DISCONNECTING.value, "disconnect_id": disconnect_id,
                "calendar_id": None, "token_ref": None, "google_email": None, "can_host_meet": None,
                "pending_token_ref": firestore.DELETE_FIELD, "pending_google_email": firestore.DELETE_FIELD,
                "pending_at": firestore.DELETE_FIELD, "disconnect_requested_at": now,
                "updated_at": firestore.SERVER_TIMESTAMP, **cleared_usage_fields()})
            txn.delete(move_ref)
            return Begun("started", record, channel)

        result: Begun = retryable(lambda: run(self.db.transaction()))
        return result

    def update(self, account_id: str, user_id: str, disconnect_id: str, fields: dict[str, Any]) -> bool:
        """Merge ``fields`` into the record if it is still this disconnect's."""
        ref = self.ref(account_id, user_id)

        @firestore.transactional
        def run(txn: firestore.Transaction) -> bool:
            snap = next(iter(txn.get_all([ref])), None)
            if snap is None or not snap.exists or (snap.to_dict() or {}).get("disconnect_id") != disconnect_id:
                return False
            txn.update(ref, fields)
            return True

        done: bool = retryable(lambda: run(self.db.transaction()))
        return done

    def advance(self, account_id: str, user_id: str, disconnect_id: str, seq: int, to: int,
                now: datetime) -> bool:
        """Hand the job chain from ``seq`` on to ``to``: True for the one job that may continue it."""
        ref = self.ref(account_id, user_id)

        @firestore.transactional
        def run(txn: firestore.Transaction) -> bool:
            snap = next(iter(txn.get_all([ref])), None)
            doc = (snap.to_dict() or {}) if snap is not None and snap.exists else {}
            if doc.get("disconnect_id") != disconnect_id or int(doc.get("job_seq", 0)) != seq:
                return False
            txn.update(ref, {"job_seq": to, "updated_at": now})
            return True

        done: bool = retryable(lambda: run(self.db.transaction()))
        return done

    # -- 3. forget ------------------------------------------------------------------------------
    def forget(self, record: dict[str, Any], deadline: Callable[[], bool], now: datetime) -> bool:
        """Delete the mappings that need no removal and strip the others to their ids; delete the
        user's snapshots. False when ``deadline()`` came first (call again to go on)."""
        a, u = record["account_id"], record["user_id"]
        record_ref, remove = self.ref(a, u), bool(record.get("remove_events"))
        events = self._events(a, u)
        kept, after, doubt = 0, None, set()
        while True:
            if deadline():
                return False
            query = events.order_by(FieldPath.document_id()).limit(_PAGE)
            if after is not None:
                query = query.start_after(after)
            docs = list(query.select(REMOVAL_FIELDS).stream())
            if not docs:
                break
            batch, deleted = self.db.batch(), 0
            for snap in docs:
                mapping = snap.to_dict() or {}
                if remove and may_exist(mapping):
                    batch.update(snap.reference, _STRIPPED)
                    kept += 1
                    if mapping.get("lease_id") or mapping.get("google_uncertain"):
                        # A write of unknown outcome: it may still land (a timed-out call Google
                        # completes later), so the removal looks once more before the revoke.
                        doubt.add(mapping.get("calendar_id") or record.get("calendar_id") or "")
                else:
                    batch.delete(snap.reference)
                    deleted += 1
            batch.update(record_ref, {"deleted_mappings": firestore.Increment(deleted), "updated_at": now})
            retryable(batch_committer(batch))
            after = docs[-1]
        if not self.snapshots.forget_user(a, u, deadline):
            return False
        self.update(a, u, record["disconnect_id"], {"phase": REMOVING, "total": kept, "updated_at": now,
                                                    "sweep_calendars": sorted(c for c in doubt if c)})
        return True

    # -- 4. remove ------------------------------------------------------------------------------
    def to_remove(self, account_id: str, user_id: str, limit: int) -> list[Removable]:
        """Up to ``limit`` mappings whose Google event is still to be removed."""
        docs = self._events(account_id, user_id).select(REMOVAL_FIELDS).limit(limit).stream()
        rows = [(snap.id, snap.to_dict() or {}) for snap in docs]
        return [Removable(key, str(d.get("google_event_id") or ""), d.get("calendar_id"), may_exist(d),
                          d["lease_until"] if d.get("lease_id") and isinstance(d.get("lease_until"), datetime)
                          else None) for key, d in rows]

    def settle(self, record: dict[str, Any], removed: list[str], failed: list[str], now: datetime,
               dropped: list[str] | None = None) -> None:
        """Their events are gone (``removed``), refused for good (``failed``), or were never there
        (``dropped``): delete these mappings and count them, once (a mapping already deleted by
        another delivery counts nothing)."""
        if not removed and not failed and not dropped:
            return
        a, u = record["account_id"], record["user_id"]
        record_ref, events = self.ref(a, u), self._events(a, u)
        refs = {key: events.document(key) for key in removed + failed + (dropped or [])}

        @firestore.transactional
        def run(txn: firestore.Transaction) -> None:
            snaps = {s.reference.path: s for s in txn.get_all([record_ref, *refs.values()])}
            record_snap = snaps.get(record_ref.path)
            if record_snap is None or not record_snap.exists \
                    or (record_snap.to_dict() or {}).get("disconnect_id") != record["disconnect_id"]:
                return
            there = {key for key, ref in refs.items() if getattr(snaps.get(ref.path), "exists", False)}
            for key in there:
                txn.delete(refs[key])
            txn.update(record_ref, {"removed": firestore.Increment(len(there.intersection(removed))),
                                    "failed": firestore.Increment(len(there.intersection(failed))),
                                    "deleted_mappings": firestore.Increment(len(there)), "updated_at": now})

        retryable(lambda: run(self.db.transaction()))

    def drop_mappings(self, record: dict[str, Any], now: datetime) -> int:
        """Whatever mappings are left (their events could not be removed: access was lost): deleted,
        counted as failed."""
        a, u = record["account_id"], record["user_id"]
        total = 0
        while docs := list(self._events(a, u).select([]).limit(_PAGE).stream()):
            batch = self.db.batch()
            for snap in docs:
                batch.delete(snap.reference)
            batch.update(self.ref(a, u), {"failed": firestore.Increment(len(docs)),
                                          "deleted_mappings": firestore.Increment(len(docs)), "updated_at": now})
            retryable(batch_committer(batch))
            total += len(docs)
        return total

    def pending_grant(self, account_id: str, user_id: str) -> str | None:
        """A grant obtained by a connect flow begun during the disconnect (revoked with the rest)."""
        snap = self.connection_ref(account_id, user_id).get()
        return (snap.to_dict() or {}).get("pending_token_ref") if snap.exists else None

    # -- 5. finish ------------------------------------------------------------------------------
    def finish(self, record: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """``disconnecting`` → ``disconnected``, the record deleted and ``connection.disconnected``
        staged, in one transaction, exactly once; the final record (None if already finished)."""
        a, u = record["account_id"], record["user_id"]
        conn_ref, record_ref = self.connection_ref(a, u), self.ref(a, u)
        staged: list[notes.Notification] = []

        @firestore.transactional
        def run(txn: firestore.Transaction) -> dict[str, Any] | None:
            staged.clear()
            snaps = {s.reference.path: s for s in txn.get_all([conn_ref, record_ref])}
            current = snaps.get(record_ref.path)
            final = (current.to_dict() or {}) if current is not None and current.exists else {}
            if final.get("disconnect_id") != record["disconnect_id"]:
                return None
            txn.update(conn_ref, {
                "status": ConnectionStatus.DISCONNECTED.value, "calendar_id": None, "token_ref": None,
                "google_email": None, "can_host_meet": None, "disconnect_id": firestore.DELETE_FIELD,
                "pending_token_ref": firestore.DELETE_FIELD, "pending_google_email": firestore.DELETE_FIELD,
                "pending_at": firestore.DELETE_FIELD, "disconnected_at": firestore.SERVER_TIMESTAMP,
                "updated_at": firestore.SERVER_TIMESTAMP})
            txn.delete(record_ref)
            txn.delete(self.drift.pending_ref(a, u))  # a ping checked just before step 1 may have left one
            if final.get("announce"):
                note = notes.disconnected(a, u, int(final.get("removed", 0)), ("disconnect", record["disconnect_id"]),
                                          now)
                self.stage(txn, [note], staged)
            return final

        final: dict[str, Any] | None = retryable(lambda: run(self.db.transaction()))
        self.published(staged)  # a failure: the sweep sends it
        return final

    # -- the maintenance task -------------------------------------------------------------------
    def stalled(self, before: datetime, limit: int = 100) -> list[dict[str, Any]]:
        query = self.db.collection(DISCONNECTS).where(
            filter=firestore.FieldFilter("updated_at", "<", before)).limit(limit)
        return [snap.to_dict() or {} for snap in query.stream()]
