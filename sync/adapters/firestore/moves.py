"""The MoveStore port on Firestore. Layout::

    calendar_moves/{account:user}    the connection's latest calendar switch: its id, source and
                                     destination, how many events, the chunks done (TTL purge_at)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore

from sync.adapters.firestore.base import WRITE_RETRY, FirestoreBase
from sync.kernel.model import connection_key

MOVES = "calendar_moves"
MOVABLE_FIELDS = ["event_id", "deleted", "calendar_id", "google_exists", "google_uncertain", "lease_id"]


class FirestoreMoves(FirestoreBase):
    def ref(self, account_id: str, user_id: str) -> firestore.DocumentReference:
        return self.db.collection(MOVES).document(connection_key(account_id, user_id))

    def movable(self, account_id: str, user_id: str, destination: str) -> list[str]:
        docs = (d.to_dict() or {} for d in self.events_ref(account_id, user_id).select(MOVABLE_FIELDS).stream())
        return sorted(d["event_id"] for d in docs
                      if not d.get("deleted") and d.get("calendar_id") != destination
                      and (d.get("google_exists") or d.get("google_uncertain") or d.get("lease_id")))

    def start(self, account_id: str, user_id: str, record: dict[str, Any]) -> None:
        self.ref(account_id, user_id).set(record, retry=WRITE_RETRY)

    def get(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        snap = self.ref(account_id, user_id).get()
        return (snap.to_dict() or {}) if snap.exists else None

    def chunk_done(self, account_id: str, user_id: str, move_id: str, chunk: int, size: int, now: datetime) -> None:
        ref = self.ref(account_id, user_id)

        def run(txn: firestore.Transaction) -> None:
            snap = next(iter(txn.get_all([ref])), None)
            doc = (snap.to_dict() or {}) if snap is not None and snap.exists else {}
            if doc.get("move_id") != move_id or chunk in doc.get("chunks_done", []):
                return
            done = int(doc.get("done", 0)) + size
            txn.update(ref, {"chunks_done": firestore.ArrayUnion([chunk]), "done": done,
                             **({"finished_at": now} if done >= int(doc.get("total", 0)) else {})})

        self.transaction(run)
