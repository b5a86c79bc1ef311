"""Findings of the third outside review, end to end on the local stack: a snapshot page answered 409
that was applied anyway, page documents that outgrew Firestore's 1 MiB, replayable drift pings.
(The disconnect findings are in tests/e2e/test_disconnect.py.)"""

from __future__ import annotations

import threading
import time

import pytest

from sync.adapters.firestore.base import mapping_to_doc
from sync.adapters.firestore.mappings import FirestoreMappings
from sync.kernel.model import Mapping, Version, google_event_id
from tests.e2e.snapshots_client import SnapshotApi, event, events, version
from tests.e2e.test_notifications import data, wait_received
from tests.helpers import wait_for

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


# Ids as long as the webhook takes for this user: account/user/event within Pub/Sub's 1,024 bytes.
def long_id(user: dict[str, str], i: int) -> str:
    room = 1024 - len(user["account_id"]) - len(user["user_id"]) - 2
    return f"{i:04d}" + "\U0001f600" * ((room - 4) // 4)


def test_a_page_whose_ids_cannot_be_stored_is_a_400_at_the_put(snap, user):
    sid = snap.create(as_of=version(100))
    r = snap.put(sid, 0, [event(long_id(user, i)) for i in range(1000)])
    assert r.status_code == 400, r.text[:300]
    [problem] = r.json()["detail"]
    assert problem["loc"] == "events" and "smaller pages" in problem["msg"]
    half = [event(long_id(user, i)) for i in range(500)]  # the same events in two pages are stored
    assert snap.put(sid, 0, half).status_code == 202
    assert snap.put(sid, 1, [event(long_id(user, i)) for i in range(500, 1000)]).status_code == 202
    assert snap.get(sid)["events"] == 1000


def test_complete_never_grows_a_page_past_the_limit(snap, user, stack):
    """530 tombstoned ~1 KB ids sent again at an older version: every one is unchanged, and
    `complete` records that without growing the page document (it answered 500, twice, and the
    snapshot stayed `receiving`)."""
    from google.cloud import firestore

    store = FirestoreMappings(firestore.Client(project="local-project"))
    ids = [long_id(user, i) for i in range(530)]
    newer = Version.parse(version(500))
    batch = store.db.batch()
    for n, event_id in enumerate(ids):
        batch.set(store.mapping_ref(user["account_id"], user["user_id"], event_id), mapping_to_doc(Mapping(
            event_id, google_event_id(user["account_id"], user["user_id"], event_id), version=newer, deleted=True)))
        if n % 200 == 199:
            batch.commit()
            batch = store.db.batch()
    batch.commit()
    sid = snap.create(as_of=version(600))
    r = snap.put(sid, 0, [event(i, updated=10) for i in ids])
    assert r.status_code == 202, r.text[:300]
    done = snap.complete(sid, 1)
    assert done.status_code == 202 and done.json()["upserts"] == 530, done.text[:300]
    view = wait_for(lambda: (v := snap.get(sid))["state"] == "done" and v, timeout=60, what="the snapshot done")
    assert view["counts"]["unchanged"] == 530


def test_a_replayed_ping_does_nothing_and_checks_are_one_per_debounce_window(stack, platform, user):
    """One genuine ping's headers replayed 200 times (the review: 25 checks, 25 events.list in 55 s)."""
    import requests

    from sync.drift.schedule import DEBOUNCE_SECONDS
    from tests.e2e.test_drift import calls, drift_lines, live_channel, synced

    synced(platform, user)  # our write pings: a genuine ping, and its check
    [listed] = live_channel(stack, user["email"])
    channel = stack.standin.state.channels[listed["id"]]
    wait_for(lambda: drift_lines(platform, user, "drift_checked"), what="the genuine ping's check")
    time.sleep(DEBOUNCE_SECONDS + 1)
    headers = {"X-Goog-Channel-ID": channel.id, "X-Goog-Channel-Token": channel.token,
               "X-Goog-Resource-ID": channel.resource_id, "X-Goog-Resource-State": "exists",
               "X-Goog-Message-Number": str(channel.messages), "X-Goog-Resource-URI": "https://www.googleapis.com/x"}
    url = stack.url("integrations") + "google/notifications"
    checks, lists = len(drift_lines(platform, user)), calls(stack, "events.list", user)
    answers = []
    for _ in range(200):
        answers.append(requests.post(url, headers=headers, timeout=10).status_code)
        time.sleep(0.02)
    time.sleep(DEBOUNCE_SECONDS + 2)
    assert set(answers) == {200}
    assert len(drift_lines(platform, user)) == checks and calls(stack, "events.list", user) == lists  # nothing at all

    # Fresh pings (numbers above the highest), one every 0.2 s for 6 s: checks stay one per window.
    started = time.monotonic()
    for n in range(30):
        requests.post(url, headers={**headers, "X-Goog-Message-Number": str(channel.messages + 1000 + n)}, timeout=10)
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    time.sleep(DEBOUNCE_SECONDS * 2 + 1)
    lines = [line for line in drift_lines(platform, user)[checks:] if line.get("outcome") == "drift_checked"]
    assert 1 <= len(lines) <= elapsed / DEBOUNCE_SECONDS + 2
    assert calls(stack, "events.list", user) - lists == len(lines)
