"""Snapshot pages on the Firestore emulator (docs/snapshots.md#sending-one): a PUT answered with anything but 202
leaves no trace, and what a page recorded is all that is ever applied of it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from sync.adapters.firestore.snapshots import FirestoreSnapshots as SnapshotStore
from sync.kernel.errors import PageRefused
from sync.snapshots import model as m

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(emulator_hosts):
    return firestore.Client(project="local-project")


def new_snapshot(store: SnapshotStore) -> str:
    now = datetime.now(timezone.utc)
    sid = m.new_snapshot_id()
    tag = uuid.uuid4().hex[:8]
    store.create(sid, {"account_id": f"acct-{tag}", "user_id": f"u-{tag}", "as_of": "2026-11-20T13:00:00.000000000Z",
                       "covers_from": None, "allow_mass_delete": False, "repair": False, "state": m.RECEIVING,
                       "created_at": now, "expires_at": now + m.EXPIRES_AFTER, "purge_at": now + m.PURGE_AFTER,
                       "events": 0, "pages_received": [], "started_at": None, "finished_at": None})
    return sid


def rows(n: int, prefix: str) -> list[tuple[str, dict, str]]:
    return [(f"{prefix}-{i}", {"id": f"{prefix}-{i}", "title": f"{prefix} {i}"}, "2026-11-20T13:00:00.000000000Z")
            for i in range(n)]


def stored_ids(db, sid: str) -> list[str]:
    events = db.collection("snapshots").document(sid).collection("snapshot_events").stream()
    return sorted((d.to_dict() or {})["event_id"] for d in events)


def test_a_page_refused_after_its_events_were_written_leaves_none_of_them(db):
    """`complete` wins the race while the PUT writes its events: the PUT is refused, and not one
    of its events stays stored where the page's expansion could read it."""
    store = SnapshotStore(db)
    sid = new_snapshot(store)
    now = datetime.now(timezone.utc)
    store.put_page(sid, 0, rows(150, "kept"), now + timedelta(days=8), now)
    commit, raced = store.commit_in_batches, []

    def commit_then_complete(add, items):  # the PUT's events are written; `complete` commits meanwhile
        commit(add, items)
        if not raced:
            raced.append(store.transition(sid, (m.RECEIVING,), {"state": m.APPLYING}))

    store.commit_in_batches = commit_then_complete  # type: ignore[method-assign]
    with pytest.raises(PageRefused) as refused:
        store.put_page(sid, 0, rows(1000, "refused"), now + timedelta(days=8), now)
    assert refused.value.error == "not_receiving" and raced
    assert stored_ids(db, sid) == sorted(f"kept-{i}" for i in range(150))


def test_the_event_limit_holds_in_storage(db, monkeypatch):
    store = SnapshotStore(db)
    sid = new_snapshot(store)
    now = datetime.now(timezone.utc)
    monkeypatch.setattr("sync.adapters.firestore.snapshots.MAX_EVENTS", 120)
    store.put_page(sid, 0, rows(100, "a"), now + timedelta(days=8), now)
    with pytest.raises(PageRefused) as refused:
        store.put_page(sid, 1, rows(40, "b"), now + timedelta(days=8), now)
    assert refused.value.error == "too_many_events"
    assert stored_ids(db, sid) == sorted(f"a-{i}" for i in range(100))
