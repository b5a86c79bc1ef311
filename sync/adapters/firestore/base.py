"""What every Firestore store shares: the client, retries, transactions, the documents ⇄ domain
codecs of connections and mappings, and the outbox their transitions stage notifications in.

Layout of the documents every capability reads::

    connections/{account:user}                      one per connected user
    connections/{account:user}/events/{e:event}     one mapping per platform event

Each capability's own collections are described in its store's module (``mappings``,
``connections``, ``flow_sessions``, ``snapshots``, ``moves``, ``drift``, ``disconnects``,
``outbox``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import firestore

from sync.kernel.errors import Retryable
from sync.kernel.model import (
    Connection,
    ConnectionStatus,
    Lease,
    Mapping,
    StatusChange,
    Version,
    connection_key,
    event_key,
)
from sync.kernel.notification import Notification

R = TypeVar("R")
CONNECTIONS = "connections"
EVENTS = "events"
BATCH = 400  # writes per batch (Firestore takes 500)

TRANSIENT = (
    gexc.Aborted,
    gexc.DeadlineExceeded,
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
)
# Plain writes to a document that transactions are reading can be aborted under contention
# ("Transaction lock timeout"); they are retried briefly, as the transactions themselves are.
WRITE_RETRY = gretry.Retry(predicate=gretry.if_exception_type(*TRANSIENT), initial=0.1, maximum=2.0,
                           multiplier=2.0, timeout=30.0)


def new_client(project: str) -> firestore.Client:
    """One client per instance (it keeps its gRPC channel), shared by every store."""
    return firestore.Client(project=project)


def retryable(call: Callable[[], R]) -> R:
    """Run a Firestore call (a transaction, usually): transient failures, and contention that
    outlasted the transaction's own attempts, become Retryable (the message is redelivered)."""
    try:
        return call()
    except TRANSIENT as exc:
        raise Retryable(f"firestore: {type(exc).__name__}") from exc
    except ValueError as exc:
        # The transaction helper says so when contention outlasts its attempts.
        if str(exc).startswith("Failed to commit transaction"):
            raise Retryable("firestore: contention") from exc
        raise


def batch_committer(batch: Any) -> Callable[[], Any]:
    return lambda: batch.commit(retry=WRITE_RETRY)


class Outbox(Protocol):
    """What a store needs of the outbox (sync/adapters/firestore/outbox.py)."""

    def stage(self, writer: Any, notification: Notification) -> bool: ...

    def publish(self, notifications: Iterable[Notification]) -> list[str]: ...


class FirestoreBase:
    """A store on one client, with the outbox its transitions stage their notifications in
    (none: notifications are off, nothing is staged)."""

    def __init__(self, client: firestore.Client, outbox: Outbox | None = None) -> None:
        self.db = client
        self.outbox = outbox

    # -- references ------------------------------------------------------------------------
    def connection_ref(self, account_id: str, user_id: str) -> firestore.DocumentReference:
        return self.db.collection(CONNECTIONS).document(connection_key(account_id, user_id))

    def events_ref(self, account_id: str, user_id: str) -> firestore.CollectionReference:
        return self.connection_ref(account_id, user_id).collection(EVENTS)

    def mapping_ref(self, account_id: str, user_id: str, event_id: str) -> firestore.DocumentReference:
        return self.events_ref(account_id, user_id).document(event_key(event_id))

    # -- transactions and batches ----------------------------------------------------------------
    def transaction(self, run: Callable[[firestore.Transaction], R]) -> R:
        """``run`` in one transaction (retried on contention by the client; Retryable past that)."""
        return retryable(lambda: firestore.transactional(run)(self.db.transaction()))

    def commit_in_batches(self, add: Callable[[Any, Any], None], items: Sequence[Any]) -> None:
        """``add(batch, item)`` for every item, committed BATCH at a time."""
        for start in range(0, len(items), BATCH):
            batch = self.db.batch()
            for item in items[start:start + BATCH]:
                add(batch, item)
            retryable(batch_committer(batch))

    def stage(self, writer: Any, notifications: Sequence[Notification], into: list[Notification]) -> None:
        """Stage ``notifications`` through ``writer`` (the transaction making their transition
        durable), collecting in ``into`` (cleared first: a retried transaction stages afresh) what
        is to be published once it commits."""
        into[:] = [n for n in notifications if self.outbox is not None and self.outbox.stage(writer, n)]

    def published(self, staged: Sequence[Notification], hand_back: bool = False) -> None:
        """After the commit: publish what was staged (sync/adapters/firestore/outbox.py). One that
        fails stays in the outbox for the next flush; ``hand_back`` raises Retryable then, so the
        message that made the transition comes back and flushes it (the worker's apply does so)."""
        if self.outbox is not None and self.outbox.publish(staged) and hand_back:
            raise Retryable("notification outbox: publish failed")


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
        activation=activation_stamp(doc.get("activated_at")),
        retry_at=_aware(doc.get(USAGE_RETRY_AT)),
        retry_step=int(doc.get(USAGE_RETRY_STEP) or 0),
        can_host_meet=doc.get("can_host_meet"),
    )


# A usage_limited connection's retry (sync/limits): when it is due, how many tries failed, and the
# lease of the maintenance run trying it. Present only while usage_limited (the due query's field).
USAGE_RETRY_AT = "usage_retry_at"
USAGE_RETRY_STEP = "usage_retry_step"
USAGE_RETRY_LEASE = "usage_retry_lease"
USAGE_RETRY_LEASE_UNTIL = "usage_retry_lease_until"
USAGE_RESUMING = "usage_resuming"  # active again, its parked changes not yet all handed back to the queue
USAGE_FIELDS = (USAGE_RETRY_AT, USAGE_RETRY_STEP, USAGE_RETRY_LEASE, USAGE_RETRY_LEASE_UNTIL, USAGE_RESUMING)


def cleared_usage_fields() -> dict[str, Any]:
    """The update that drops a connection's usage-limit retry (it is active again, reconnected,
    disconnected, or another status took over)."""
    return dict.fromkeys(USAGE_FIELDS, firestore.DELETE_FIELD)


def status_fields(change: StatusChange) -> dict[str, Any]:
    """The connection document's update for a writer's status change: the status, and the retry
    of a ``usage_limited`` calendar set with it (dropped with any other status)."""
    fields: dict[str, Any] = {"status": change.status.value, "status_changed_at": firestore.SERVER_TIMESTAMP}
    if change.status is ConnectionStatus.USAGE_LIMITED and change.retry_at is not None:
        return {**fields, USAGE_RETRY_AT: change.retry_at, USAGE_RETRY_STEP: 0,
                USAGE_RETRY_LEASE: firestore.DELETE_FIELD, USAGE_RETRY_LEASE_UNTIL: firestore.DELETE_FIELD,
                USAGE_RESUMING: firestore.DELETE_FIELD}
    return {**fields, **cleared_usage_fields()}


def activation_stamp(value: Any) -> str | None:
    """The connection's ``activated_at`` (the commit time of its last activation, unique per
    activation) as the Connection's ``activation``."""
    if value is None:
        return None
    rfc3339 = getattr(value, "rfc3339", None)
    return str(rfc3339()) if callable(rfc3339) else value.isoformat() if isinstance(value, datetime) else str(value)


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
        attempted=_version(doc.get("attempted")),
        calendar_id=doc.get("calendar_id"),
        last_error=doc.get("last_error"),
        error_at=_aware(doc.get("error_at")),
        synced_at=_aware(doc.get("synced_at")),
        lease=lease,
        parked=doc.get("parked"),
        parked_version=_version(doc.get("parked_version")),
        etag=doc.get("etag"),
        applied=doc.get("applied"),
        notify=doc.get("notify"),
        ends_at=doc.get("ends_at"),
        open_ended=bool(doc.get("open_ended", False)),
        conference_version=_version(doc.get("conference_version")),
        conference_state=doc.get("conference_state"),
        conference_id=doc.get("conference_id"),
        conference_checks=int(doc.get("conference_checks") or 0),
        conference_chain=doc.get("conference_chain"),
    )


def mapping_to_doc(m: Mapping) -> dict[str, Any]:
    return {
        "event_id": m.event_id,
        "google_event_id": m.google_event_id,
        "version": m.version.key if m.version else None,
        "deleted": m.deleted,
        "google_exists": m.google_exists,
        "google_uncertain": m.google_uncertain,
        "attempted": m.attempted.key if m.attempted else None,
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
        "notify": m.notify,
        "ends_at": m.ends_at,
        "open_ended": m.open_ended,
        "conference_version": m.conference_version.key if m.conference_version else None,
        "conference_state": m.conference_state,
        "conference_id": m.conference_id,
        "conference_checks": m.conference_checks,
        "conference_chain": m.conference_chain,
    }


def _aware(value: Any) -> Any:
    """Firestore returns aware datetimes (DatetimeWithNanoseconds); keep None as None."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime in Firestore document")
    return value
