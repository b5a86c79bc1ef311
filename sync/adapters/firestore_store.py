"""The Store port on Firestore (native mode).

Layout::

    connections/{account:user}                      one per connected user
    connections/{account:user}/events/{e:event}     one mapping per platform event
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import firestore

from sync.kernel.errors import DisconnectInProgress, Retryable
from sync.kernel.model import (
    Connection,
    ConnectionStatus,
    Lease,
    Mapping,
    Version,
    connection_key,
    event_key,
)
from sync.kernel.notification import Notification, activated
from sync.kernel.ports import EventWork, Publisher, R

CONNECTIONS = "connections"
EVENTS = "events"

_TRANSIENT = (
    gexc.Aborted,
    gexc.DeadlineExceeded,
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
)
# Plain writes to a document that transactions are reading can be aborted under contention
# ("Transaction lock timeout"); they are retried briefly, as the transactions themselves are.
WRITE_RETRY = gretry.Retry(predicate=gretry.if_exception_type(*_TRANSIENT), initial=0.1, maximum=2.0,
                           multiplier=2.0, timeout=30.0)


def retryable(call: Callable[[], R]) -> R:
    """Run a Firestore call (a transaction, usually): transient failures, and contention that
    outlasted the transaction's own attempts, become Retryable (the message is redelivered)."""
    try:
        return call()
    except _TRANSIENT as exc:
        raise Retryable(f"firestore: {type(exc).__name__}") from exc
    except ValueError as exc:
        # The transaction helper says so when contention outlasts its attempts.
        if str(exc).startswith("Failed to commit transaction"):
            raise Retryable("firestore: contention") from exc
        raise


def new_client(project: str) -> firestore.Client:
    """One client per instance (it keeps its gRPC channel), shared by every store."""
    return firestore.Client(project=project)


class FirestoreStore:
    def __init__(self, client: firestore.Client, notifications: Callable[[], Publisher] | None = None) -> None:
        self.db = client
        # The notifications topic's publisher (CONTRACT §8), built on first use; None: none are sent.
        self.notifications = notifications

    # -- references ------------------------------------------------------------------------
    def connection_ref(self, account_id: str, user_id: str) -> firestore.DocumentReference:
        return self.db.collection(CONNECTIONS).document(connection_key(account_id, user_id))

    def mapping_ref(self, account_id: str, user_id: str, event_id: str) -> firestore.DocumentReference:
        return self.connection_ref(account_id, user_id).collection(EVENTS).document(event_key(event_id))

    # -- connections -----------------------------------------------------------------------
    def get_connection(self, account_id: str, user_id: str) -> Connection | None:
        snap = self.connection_ref(account_id, user_id).get()
        return connection_from_doc(snap.to_dict() or {}) if snap.exists else None

    def save_connection(self, connection: Connection) -> None:
        c = connection
        ref = self.connection_ref(c.account_id, c.user_id)
        fields = {"account_id": c.account_id, "user_id": c.user_id, "status": c.status.value,
                  "calendar_id": c.calendar_id, "token_ref": c.token_ref, "google_email": c.google_email,
                  "updated_at": firestore.SERVER_TIMESTAMP}
        if c.status is not ConnectionStatus.ACTIVE or not c.calendar_id:
            ref.set(fields, merge=True, retry=WRITE_RETRY)
            return
        # Made active with a calendar (import-connection): connection.activated, with the write.
        self.transition(c.account_id, c.user_id, fields, lambda before, identity: [activated(
            c.account_id, c.user_id, c.google_email, str(c.calendar_id), (before or {}).get("calendar_id"),
            identity)], refuse_gone=True)

    def transition(self, account_id: str, user_id: str, fields: dict[str, Any],
                   notes: Callable[[dict[str, Any] | None, tuple[str, ...]], Sequence[Notification]],
                   refuse_gone: bool = False) -> None:
        """Merge ``fields`` into the connection and stage ``notes(doc before, identity)`` in the same
        transaction, then publish them. ``identity`` names this transition (the document's update
        time it was made on), for deterministic webhook-ids. A failed publish is left to the outbox
        sweep: the transition itself has happened. ``refuse_gone``: raise DisconnectInProgress,
        changing nothing, while a disconnect is under way (an activation waits for it to finish)."""
        from sync.notifications import outbox

        ref = self.connection_ref(account_id, user_id)
        staged: list[Notification] = []

        @firestore.transactional
        def run(txn: firestore.Transaction) -> None:
            snap = next(iter(txn.get_all([ref])), None)
            before = (snap.to_dict() or {}) if snap is not None and snap.exists else None
            stamp = getattr(snap, "update_time", None) if before is not None else None
            identity = (stamp.rfc3339() if hasattr(stamp, "rfc3339") else str(stamp),)  # type: ignore[union-attr]
            if refuse_gone and (before or {}).get("status") == ConnectionStatus.DISCONNECTING.value:
                raise DisconnectInProgress("a disconnect of this connection is still removing its events: "
                                           "connect again once it is done")
            txn.set(ref, fields, merge=True)
            staged[:] = [n for n in notes(before, identity) if outbox.stage(txn, self.db, n)]

        retryable(lambda: run(self.db.transaction()))
        try:
            self._flush_notifications(staged)
        except Retryable:
            pass  # logged by the flush; the maintenance sweep publishes it

    # -- events ----------------------------------------------------------------------------
    def update_event(self, account_id: str, user_id: str, event_id: str, work: EventWork[R]) -> R:
        conn_ref = self.connection_ref(account_id, user_id)
        map_ref = self.mapping_ref(account_id, user_id, event_id)

        staged: list[Notification] = []

        @firestore.transactional
        def run(txn: firestore.Transaction) -> R:
            from sync.notifications import outbox

            snaps = {s.reference.path: s for s in txn.get_all([conn_ref, map_ref])}
            conn_snap, map_snap = snaps.get(conn_ref.path), snaps.get(map_ref.path)
            connection = connection_from_doc(conn_snap.to_dict() or {}) if conn_snap and conn_snap.exists else None
            mapping = mapping_from_doc(map_snap.to_dict() or {}) if map_snap and map_snap.exists else None
            result, new_mapping, new_status, *rest = work(connection, mapping)
            if new_mapping is not None:
                txn.set(map_ref, mapping_to_doc(new_mapping))
            if (new_status is not None and connection is not None and connection.status is not new_status
                    and not connection.gone):  # a disconnect is final: a change in flight never revives it
                txn.update(conn_ref, {"status": new_status.value, "status_changed_at": firestore.SERVER_TIMESTAMP})
            # Notifications of this transition (a 4th element, CONTRACT §8) commit with it.
            staged[:] = [n for n in (rest[0] if rest else ()) if outbox.stage(txn, self.db, n)]
            return result

        result: R = retryable(lambda: run(self.db.transaction()))
        self._flush_notifications(staged)
        return result

    # -- notifications (CONTRACT §8) ---------------------------------------------------------
    def _flush_notifications(self, staged: Sequence[Notification]) -> None:
        """Publish what the committed transaction staged. A failed publish leaves the outbox
        document and hands the message back (Retryable): its redelivery flushes the outbox."""
        if not staged or self.notifications is None:
            return
        from sync.notifications import outbox

        if outbox.flush(self.db, self.notifications(), staged):
            raise Retryable("notification outbox: publish failed")

    def flush_notifications(self, account_id: str, user_id: str) -> int:
        """Publish whatever a crash left in one connection's outbox (a redelivery met a transition
        that is already durable); returns how many. Raises Retryable if a publish failed."""
        if self.notifications is None:
            return 0
        from sync.notifications import outbox

        return outbox.flush_pending(self.db, self.notifications(), account_id, user_id)

    def get_mappings(self, account_id: str, user_id: str, event_ids: Sequence[str]) -> dict[str, Mapping]:
        refs = [self.mapping_ref(account_id, user_id, e) for e in event_ids]
        out: dict[str, Mapping] = {}
        try:
            for snap in self.db.get_all(refs):
                if snap.exists:
                    mapping = mapping_from_doc(snap.to_dict() or {})
                    out[mapping.event_id] = mapping
        except _TRANSIENT as exc:
            raise Retryable(f"firestore: {type(exc).__name__}") from exc
        return out

    def parked(self, account_id: str, user_id: str) -> list[Mapping]:
        query = self.connection_ref(account_id, user_id).collection(EVENTS).where(
            filter=firestore.FieldFilter("has_parked", "==", True)
        )
        return [mapping_from_doc(s.to_dict() or {}) for s in query.stream()]

    def get_mapping(self, account_id: str, user_id: str, event_id: str) -> Mapping | None:
        snap = self.mapping_ref(account_id, user_id, event_id).get()
        return mapping_from_doc(snap.to_dict() or {}) if snap.exists else None


# -- documents ⇄ domain --------------------------------------------------------------------
def connection_from_doc(doc: dict[str, Any] | None) -> Connection:
    doc = doc or {}
    return Connection(
        account_id=doc["account_id"],
        user_id=doc["user_id"],
        status=ConnectionStatus(doc.get("status", ConnectionStatus.DISCONNECTED.value)),
        calendar_id=doc.get("calendar_id"),
        token_ref=doc.get("token_ref"),
        google_email=doc.get("google_email"),
    )


def _version(text: str | None) -> Version | None:
    return Version(text) if text else None


def mapping_from_doc(doc: dict[str, Any]) -> Mapping:
    lease = None
    if doc.get("lease_id"):
        lease = Lease(doc["lease_id"], Version(doc["lease_version"]), _aware(doc["lease_until"]))
    return Mapping(
        event_id=doc["event_id"],
        google_event_id=doc["google_event_id"],
        version=_version(doc.get("version")),
        deleted=bool(doc.get("deleted", False)),
        google_exists=bool(doc.get("google_exists", False)),
        google_uncertain=bool(doc.get("google_uncertain", False)),
        calendar_id=doc.get("calendar_id"),
        last_error=doc.get("last_error"),
        error_at=_aware(doc.get("error_at")),
        synced_at=_aware(doc.get("synced_at")),
        lease=lease,
        parked=doc.get("parked"),
        parked_version=_version(doc.get("parked_version")),
        etag=doc.get("etag"),
        applied=doc.get("applied"),
        ends_at=doc.get("ends_at"),
        open_ended=bool(doc.get("open_ended", False)),
    )


def mapping_to_doc(m: Mapping) -> dict[str, Any]:
    return {
        "event_id": m.event_id,
        "google_event_id": m.google_event_id,
        "version": m.version.key if m.version else None,
        "deleted": m.deleted,
        "google_exists": m.google_exists,
        "google_uncertain": m.google_uncertain,
        "calendar_id": m.calendar_id,
        "last_error": m.last_error,
        "error_at": m.error_at,
        "synced_at": m.synced_at,
        "lease_id": m.lease.id if m.lease else None,
        "lease_version": m.lease.version.key if m.lease else None,
        "lease_until": m.lease.until if m.lease else None,
        "parked": m.parked,
        "parked_version": m.parked_version.key if m.parked_version else None,
        "has_parked": m.parked is not None,
        "etag": m.etag,
        "applied": m.applied,
        "ends_at": m.ends_at,
        "open_ended": m.open_ended,
    }


def _aware(value: Any) -> Any:
    """Firestore returns aware datetimes (DatetimeWithNanoseconds); keep None as None."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime in Firestore document")
    return value
