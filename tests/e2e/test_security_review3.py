"""Findings of the third outside review, end to end on the local stack: a snapshot page answered 409
that was applied anyway.
(The disconnect findings are in tests/e2e/test_disconnect.py.)"""

from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.snapshots_client import SnapshotApi, event, events, version
from tests.e2e.test_notifications import data, wait_received

pytestmark = pytest.mark.e2e


@pytest.fixture
def snap(stack, user) -> SnapshotApi:
    return SnapshotApi(stack.url("integrations"), stack.env, user)


def live_ids(platform, user) -> set[str]:
    return {e["extendedProperties"]["private"]["source_event_id"]
            for e in platform.events(user["email"], include_cancelled=False).values()}


def test_a_page_answered_409_is_never_applied(snap, platform, user, stack):
    """The review's sequence: page 0 with 150 events, then page 0 again with 1,000 others and
    `complete` 0.2 s later. Whatever the PUT answers, what lands is exactly what a 202 recorded."""
    sid = snap.create(as_of=version(100))
    assert snap.put(sid, 0, events(150, prefix="kept")).status_code == 202
    others = events(1000, prefix="refused", description="d" * 2000)
    answer: dict[str, object] = {}
    sender = threading.Thread(target=lambda: answer.update(r=snap.put(sid, 0, others)))
    sender.start()
    time.sleep(0.2)
    completed = snap.complete(sid, 1)
    sender.join(timeout=120)
    put = answer["r"]
    assert completed.status_code == 202, completed.text
    assert put.status_code in (202, 409), put.text[:300]
    expected = {f"kept-{i}" for i in range(150)} if put.status_code == 409 else {f"refused-{i}" for i in range(1000)}
    assert completed.json()["upserts"] == len(expected), (put.status_code, completed.text)
    view = snap.wait_done(sid, timeout=300)
    assert view["counts"]["created"] == len(expected), view
    [note] = wait_received(stack, user, "snapshot.completed")
    assert data(note)["counts"]["created"] == len(expected)
    assert live_ids(platform, user) == expected  # none of a refused page's events, ever


def test_a_refused_page_leaves_nothing_stored(snap, stack, user):
    """A PUT after `complete` (409) stores none of its events, not even for a moment's expansion."""
    from google.cloud import firestore

    sid = snap.create(as_of=version(100))
    assert snap.put(sid, 0, [event("only")]).status_code == 202
    assert snap.complete(sid, 1).status_code == 202
    r = snap.put(sid, 0, events(300, prefix="late"))
    assert r.status_code == 409 and r.json()["error"] == "not_receiving", r.text
    stored = firestore.Client(project="local-project").collection("snapshots").document(sid) \
        .collection("snapshot_events").stream()
    assert sorted((d.to_dict() or {})["event_id"] for d in stored) == ["only"]
