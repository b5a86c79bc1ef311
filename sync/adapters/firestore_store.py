"""The Store port on Firestore (native mode).

Layout::

    connections/{account:user}                      one per connected user
    connections/{account:user}/events/{e:event}     one mapping per platform event
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import firestore

from sync.errors import Retryable
from sync.model import (
    Connection,
    ConnectionStatus,
    Lease,
    Mapping,
    Version,
    connection_key,
    event_key,
)
from sync.ports import EventWork, R

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


class FirestoreStore:
    def __init__(self, client: firestore.Client) -> None:
        self.db = client

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
        ref = self.connection_ref(connection.account_id, connection.user_id)
        ref.set(
            {
                "account_id": connection.account_id,
                "user_id": connection.user_id,
                "status": connection.status.value,
                "calendar_id": connection.calendar_id,
                "token_ref": connection.token_ref,
                "google_email": connection.google_email,
                "updated_at": firestore.SERVER_TIMESTAMP,
            },
            merge=True,
            retry=WRITE_RETRY,
        )

    # -- events ----------------------------------------------------------------------------
    def update_event(self, account_id: str, user_id: str, event_id: str, work: EventWork[R]) -> R:
        conn_ref = self.connection_ref(account_id, user_id)
        map_ref = self.mapping_ref(account_id, user_id, event_id)

        @firestore.transactional
        def run(txn: firestore.Transaction) -> R:
            snaps = {s.reference.path: s for s in txn.get_all([conn_ref, map_ref])}
            conn_snap, map_snap = snaps.get(conn_ref.path), snaps.get(map_ref.path)
            connection = connection_from_doc(conn_snap.to_dict() or {}) if conn_snap and conn_snap.exists else None
            mapping = mapping_from_doc(map_snap.to_dict() or {}) if map_snap and map_snap.exists else None
            result, new_mapping, new_status = work(connection, mapping)
            if new_mapping is not None:
                txn.set(map_ref, mapping_to_doc(new_mapping))
            if new_status is not None and connection is not None and connection.status is not new_status:
                txn.update(conn_ref, {"status": new_status.value, "status_changed_at": firestore.SERVER_TIMESTAMP})
            return result

        try:
            return run(self.db.transaction())
        except _TRANSIENT as exc:
            raise Retryable(f"firestore: {type(exc).__name__}") from exc
        except ValueError as exc:
            # The transaction helper says so when contention outlasts its attempts.
            if str(exc).startswith("Failed to commit transaction"):
                raise Retryable("firestore: contention") from exc
            raise

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
