"""The UsageLimitStore port on Firestore: the retries of connections Calendar's usage limits made
read-only (sync/limits, docs/errors-and-limits.md#usage-limits).

Layout (fields of the connection document, present only while it is ``usage_limited``)::

    connections/{account:user}    usage_retry_at            when the calendar is tried again
                                  usage_retry_step          how many tries met the limit again
                                  usage_retry_lease         the maintenance run trying it now…
                                  usage_retry_lease_until   …until then
                                  usage_resuming            active again, its parked changes not yet
                                                            all handed back to the queue (a run that
                                                            died in between: the next one does it)

The due query is a single-field range on ``usage_retry_at`` (Firestore's automatic index, on the
emulator and in the cloud alike); the status is checked in each try's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore

from sync.adapters.firestore.base import (
    CONNECTIONS,
    USAGE_RESUMING,
    USAGE_RETRY_AT,
    USAGE_RETRY_LEASE,
    USAGE_RETRY_LEASE_UNTIL,
    USAGE_RETRY_STEP,
    FirestoreBase,
    cleared_usage_fields,
    connection_from_doc,
    retryable,
)
from sync.kernel.model import Connection, ConnectionStatus
from sync.kernel.notification import Notification


class FirestoreUsageLimits(FirestoreBase):
    def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        query = (self.db.collection(CONNECTIONS).where(filter=firestore.FieldFilter(USAGE_RETRY_AT, "<=", now))
                 .order_by(USAGE_RETRY_AT).limit(limit).select(["account_id", "user_id"]))
        return retryable(lambda: [(d["account_id"], d["user_id"]) for s in query.stream()
                                  if (d := s.to_dict() or {}).get("user_id")])

    def _read(self, txn: firestore.Transaction, ref: firestore.DocumentReference) -> dict[str, Any] | None:
        snap = next(iter(txn.get_all([ref])), None)
        return (snap.to_dict() or {}) if snap is not None and snap.exists else None

    def begin_try(self, account_id: str, user_id: str, lease_id: str, now: datetime,
                  until: datetime) -> Connection | None:
        ref = self.connection_ref(account_id, user_id)

        def run(txn: firestore.Transaction) -> Connection | None:
            doc = self._read(txn, ref)
            if doc is None:
                return None
            resuming = doc.get("status") == ConnectionStatus.ACTIVE.value and bool(doc.get(USAGE_RESUMING))
            if doc.get("status") != ConnectionStatus.USAGE_LIMITED.value and not resuming:
                if any(f in doc for f in (USAGE_RETRY_AT, USAGE_RETRY_LEASE)):
                    txn.update(ref, cleared_usage_fields())  # a retry left behind: due for ever else
                return None
            due_at, held_until = doc.get(USAGE_RETRY_AT), doc.get(USAGE_RETRY_LEASE_UNTIL)
            if due_at is None or due_at > now or (held_until is not None and held_until > now):
                return None
            txn.update(ref, {USAGE_RETRY_LEASE: lease_id, USAGE_RETRY_LEASE_UNTIL: until})
            return connection_from_doc({"account_id": account_id, "user_id": user_id, **doc})

        return self.transaction(run)

    def _while_ours(self, account_id: str, user_id: str, lease_id: str, fields: dict[str, Any],
                    notification: Notification | None = None,
                    status: ConnectionStatus = ConnectionStatus.USAGE_LIMITED) -> bool:
        ref = self.connection_ref(account_id, user_id)
        staged: list[Notification] = []

        def run(txn: firestore.Transaction) -> bool:
            doc = self._read(txn, ref)
            if doc is None or doc.get("status") != status.value or doc.get(USAGE_RETRY_LEASE) != lease_id:
                self.stage(txn, (), staged)
                return False
            txn.update(ref, fields)
            self.stage(txn, [notification] if notification is not None else [], staged)
            return True

        ours = self.transaction(run)
        self.published(staged)  # a failed publish stays in the outbox: its sweep sends it
        return ours

    def postpone(self, account_id: str, user_id: str, lease_id: str, retry_at: datetime, failed: int) -> bool:
        return self._while_ours(account_id, user_id, lease_id, {
            USAGE_RETRY_AT: retry_at, USAGE_RETRY_STEP: failed,
            USAGE_RETRY_LEASE: firestore.DELETE_FIELD, USAGE_RETRY_LEASE_UNTIL: firestore.DELETE_FIELD})

    def release_try(self, account_id: str, user_id: str, lease_id: str) -> None:
        self._while_ours(account_id, user_id, lease_id, {
            USAGE_RETRY_LEASE: firestore.DELETE_FIELD, USAGE_RETRY_LEASE_UNTIL: firestore.DELETE_FIELD})

    def resume(self, account_id: str, user_id: str, lease_id: str, notification: Notification) -> bool:
        # The retry stays due (and leased) until the hand-back is done: finish_resume drops it.
        return self._while_ours(account_id, user_id, lease_id, {
            "status": ConnectionStatus.ACTIVE.value, "status_changed_at": firestore.SERVER_TIMESTAMP,
            USAGE_RETRY_STEP: firestore.DELETE_FIELD, USAGE_RESUMING: True}, notification)

    def finish_resume(self, account_id: str, user_id: str, lease_id: str) -> None:
        self._while_ours(account_id, user_id, lease_id, cleared_usage_fields(), status=ConnectionStatus.ACTIVE)
