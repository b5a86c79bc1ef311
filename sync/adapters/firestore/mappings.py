"""The MappingStore port on Firestore: connections and their event mappings, one transaction per
unit of work (sync/adapters/firestore/base.py has the layout and the codecs)."""

from __future__ import annotations

from collections.abc import Sequence

from google.cloud import firestore

from sync.adapters.firestore.base import (
    TRANSIENT,
    FirestoreBase,
    connection_from_doc,
    mapping_from_doc,
    mapping_to_doc,
    status_fields,
)
from sync.adapters.firestore.outbox import FirestoreOutbox
from sync.kernel.errors import Retryable
from sync.kernel.model import Connection, Mapping, StatusChange
from sync.kernel.notification import Notification
from sync.kernel.ports import EventWork, R


class FirestoreMappings(FirestoreBase):
    def __init__(self, client: firestore.Client, outbox: FirestoreOutbox | None = None) -> None:
        super().__init__(client, outbox)
        self.staged = outbox  # flushed per connection when a redelivery meets a made transition

    def get_connection(self, account_id: str, user_id: str) -> Connection | None:
        snap = self.connection_ref(account_id, user_id).get()
        return connection_from_doc(snap.to_dict() or {}) if snap.exists else None

    def update_event(self, account_id: str, user_id: str, event_id: str, work: EventWork[R]) -> R:
        conn_ref = self.connection_ref(account_id, user_id)
        map_ref = self.mapping_ref(account_id, user_id, event_id)
        staged: list[Notification] = []

        def run(txn: firestore.Transaction) -> R:
            snaps = {s.reference.path: s for s in txn.get_all([conn_ref, map_ref])}
            conn_snap, map_snap = snaps.get(conn_ref.path), snaps.get(map_ref.path)
            connection = connection_from_doc(conn_snap.to_dict() or {}) if conn_snap and conn_snap.exists else None
            mapping = mapping_from_doc(map_snap.to_dict() or {}) if map_snap and map_snap.exists else None
            result, new_mapping, status, *rest = work(connection, mapping)
            new_status = StatusChange.of(status)
            if new_mapping is not None:
                txn.set(map_ref, mapping_to_doc(new_mapping))
            if (new_status is not None and connection is not None and connection.status is not new_status.status
                    and not connection.gone):  # a disconnect is final: a change in flight never revives it
                txn.update(conn_ref, status_fields(new_status))
            # Notifications of this transition (a 4th element, docs/notifications.md#body) commit with it.
            self.stage(txn, rest[0] if rest else (), staged)
            return result

        result = self.transaction(run)
        self.published(staged, hand_back=True)  # a redelivery of the message flushes what failed
        return result

    def get_mappings(self, account_id: str, user_id: str, event_ids: Sequence[str]) -> dict[str, Mapping]:
        refs = [self.mapping_ref(account_id, user_id, e) for e in event_ids]
        out: dict[str, Mapping] = {}
        try:
            for snap in self.db.get_all(refs):
                if snap.exists:
                    mapping = mapping_from_doc(snap.to_dict() or {})
                    out[mapping.event_id] = mapping
        except TRANSIENT as exc:
            raise Retryable(f"firestore: {type(exc).__name__}") from exc
        return out

    def parked(self, account_id: str, user_id: str) -> list[Mapping]:
        query = self.events_ref(account_id, user_id).where(filter=firestore.FieldFilter("has_parked", "==", True))
        return [mapping_from_doc(s.to_dict() or {}) for s in query.stream()]

    def flush_notifications(self, account_id: str, user_id: str) -> int:
        """Publish whatever a crash left in one connection's outbox (a redelivery met a transition
        that is already durable); returns how many. Raises Retryable if a publish failed."""
        return self.staged.flush_pending(account_id, user_id) if self.staged is not None else 0
