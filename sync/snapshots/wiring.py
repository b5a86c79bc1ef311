"""Builds the snapshot engine once per instance, from bootstrap's clients (lazily)."""

from __future__ import annotations

import threading

from sync import bootstrap
from sync.snapshots.apply import Snapshots, completed
from sync.snapshots.store import SnapshotStore

_lock = threading.Lock()
_engine: list[Snapshots] = []


def engine() -> Snapshots:
    with _lock:
        if not _engine or _engine[0].store.db is not bootstrap.firestore_client():
            store = SnapshotStore(bootstrap.firestore_client(), notifications=bootstrap.notifications_publisher)
            _engine[:] = [Snapshots(store, bootstrap.bulk_publisher(), on_completed=completed,
                                    service=bootstrap.sync_service)]
        return _engine[0]
