"""Disconnect (docs/connections.md#disconnect) end to end: the connection becomes a state that refuses
every write first, then the synced events are removed (within the request when few, paced on the bulk lane
when many), then the grant is revoked; nothing the service keeps for the user holds an event's contents after.
The review's findings: drift repair restored the service's own deletes (orphans), and snapshot copies
and the calendar move outlived the disconnect."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

import pytest
import requests

from local.standin import Fault
from tests.e2e.conftest import Browser, api_token
from tests.e2e.snapshots_client import SnapshotApi, event, events, version
from tests.e2e.test_drift import calls, live_channel
from tests.e2e.test_integrations_flow import disconnect, ids, status
from tests.e2e.test_notifications import data, received, wait_received
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
DELETE_LATENCY = 0.15  # Google's ordinary time per events.delete


def ours_live(platform, user, calendar=None) -> list[dict]:
    return [e for e in platform.events(calendar or user["email"], include_cancelled=False).values()
            if (e.get("extendedProperties") or {}).get("private", {}).get("sync_source") == "evolutto"]


@contextmanager
def slow_deletes(stack, user, seconds=DELETE_LATENCY):
    fault = Fault(0, "", methods=("events.delete",), rate=1.0, delay=seconds, users=(user["email"],))
    with stack.standin.state.lock:
        stack.standin.state.faults.append(fault)
    try:
        yield
    finally:
        with stack.standin.state.lock:
            stack.standin.state.faults.remove(fault)


def synced(platform, user, n, prefix="ev", title="Sessão"):
    hooks = [platform.accepted(ids(user, event_id=f"{prefix}-{i}", title=f"{title} {i}")) for i in range(n)]
    for hook in hooks:
        platform.wait_outcome(hook, "created", timeout=120)


def quiet_drift(stack, platform, user):
    """Let the checks our writes' pings scheduled run, so what follows starts from a settled calendar."""
    from tests.e2e.test_drift import drift_lines, wait_drift_quiet

    wait_for(lambda: drift_lines(platform, user, "drift_checked"), what="the writes' drift check")
    wait_drift_quiet(stack, platform, user)


def test_removing_40_events_with_drift_repair_on_leaves_none_and_restores_none(stack, platform, user):
    """The review: 40 events, ~150 ms per delete, DRIFT_POLICY=restore, the channel open. It answered
    200 removed_events: 40 with 29 events.update, 29 event.drift_repaired and 29 events still live."""
    synced(platform, user, 40)
    live_channel(stack, user["email"])
    quiet_drift(stack, platform, user)
    before = {name: calls(stack, name, user) for name in ("events.update", "events.delete", "pings.sent")}
    with slow_deletes(stack, user):
        started = time.monotonic()
        r = disconnect(stack, user, remove_events=True)
        took = time.monotonic() - started
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "disconnected" and r.json()["removed_events"] == 40
        assert ours_live(platform, user) == []  # gone when it answers
        from tests.e2e.test_drift import wait_drift_quiet

        wait_drift_quiet(stack, platform, user)  # any drift check a ping could have started has run
    assert ours_live(platform, user) == []
    delta = {name: calls(stack, name, user) - n for name, n in before.items()}
    print(f"\n40-event removal: {took:.1f} s, {delta}")
    assert delta["events.update"] == 0 and delta["events.delete"] == 40
    s = status(stack, user)
    assert s["status"] == "disconnected" and s["removing"] is None and s["counts"]["synced"] == 0
    [note] = wait_received(stack, user, "connection.disconnected")
    assert data(note) == {"events_removed": 40}
    assert received(stack, user, "event.drift_repaired", delivered_only=False) == []
    assert all(g.revoked for g in stack.standin.state.grants.values() if g.email == user["email"])


def test_a_large_removal_answers_at_once_and_finishes_paced_on_the_bulk_lane(stack, platform, user):
    """Too many events for one request: 202 at once, progress in the status route, changes arriving
    meanwhile (webhooks, a snapshot's events, pings) re-create nothing; connection.disconnected when
    the last one is gone."""
    n = 120
    synced(platform, user, n, prefix="big")
    live_channel(stack, user["email"])
    quiet_drift(stack, platform, user)
    snap = SnapshotApi(stack.url("integrations"), stack.env, user)
    receiving = snap.create(as_of=version(100))
    assert snap.put(receiving, 0, [event("from-a-page", title="página")]).status_code == 202
    in_flight, done = snap.send(events(30, prefix="snap", title="snapshot"), as_of=version(100), allow_mass_delete=True)
    assert done.status_code == 202, done.text  # its 30 changes are on the bulk lane as we disconnect
    before = {name: calls(stack, name, user) for name in ("events.update", "events.delete", "events.insert")}
    with slow_deletes(stack, user, 0.05):
        started = time.monotonic()
        r = disconnect(stack, user, remove_events=True)
        answered = time.monotonic() - started
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "disconnected" and body["removed_events"] is None
        assert body["removing"]["state"] == "removing" and body["removing"]["total"] >= n
        # Meanwhile: the platform keeps sending, and the snapshot's pages and complete come late.
        hooks = [platform.accepted(ids(user, event_id=f"new-{i}")) for i in range(5)]
        hooks += [platform.accepted(ids(user, kind="event.updated", event_id=f"big-{i}", updated=9, title="v9"))
                  for i in range(5)]
        assert snap.put(receiving, 1, [event("late")]).status_code == 404  # its copies are gone
        assert snap.call("POST", "", {"as_of": version(100)}).json() == {"error": "not_connected"}
        progress = status(stack, user)
        assert progress["status"] == "disconnected" and progress["calendar_id"] is None
        assert progress["removing"]["total"] == body["removing"]["total"]
        for hook in hooks:
            platform.wait_outcome(hook, "no_connection")
        finished = wait_for(lambda: (s := status(stack, user))["removing"] is None and s, timeout=240,
                            interval=0.5, what="the removal finished")
        took = time.monotonic() - started
    assert finished["status"] == "disconnected" and ours_live(platform, user) == []
    [note] = wait_received(stack, user, "connection.disconnected")
    assert data(note)["events_removed"] == body["removing"]["total"]
    delta = {name: calls(stack, name, user) - c for name, c in before.items()}
    print(f"\n{body['removing']['total']}-event removal: answered in {answered:.2f} s, finished in {took:.1f} s, "
          f"{delta}")
    assert delta["events.update"] == 0
    assert received(stack, user, "event.drift_repaired", delivered_only=False) == []
    time.sleep(3)
    assert ours_live(platform, user) == []


def test_a_removal_refused_for_lost_access_changes_nothing(stack, platform, user):
    synced(platform, user, 2, prefix="kept")
    stack.standin.state.revoke_user(user["email"])
    r = disconnect(stack, user, remove_events=True)
    assert r.status_code == 409 and r.json()["error"] == "cannot_remove_events", r.text
    assert status(stack, user)["status"] == "active"
    assert len(ours_live(platform, user)) == 2


def all_documents(db):
    """Every document in the database (a collection-group query over all collections)."""
    from google.cloud.firestore_v1.types import StructuredQuery

    query = StructuredQuery(from_=[StructuredQuery.CollectionSelector(all_descendants=True)])
    parent = f"{db._database_string}/documents"
    for response in db._firestore_api.run_query(request={"parent": parent, "structured_query": query}):
        if response.document and response.document.name:
            yield response.document


def test_after_a_disconnect_nothing_stored_holds_an_event_s_contents(stack, platform, google_user):
    """Mappings (applied and parked bodies), snapshot copies, the calendar move: all gone, so no
    document anywhere holds an event's title; the status route shows no move."""
    from google.cloud import firestore

    user = google_user
    title = "Sigilo " + uuid.uuid4().hex[:10]
    browser = Browser(stack)
    browser.connect(user, calendar_id=user["team"])
    synced(platform, user, 3, prefix="t", title=title)
    browser.connect(user, calendar_id=user["email"])  # a switch: calendar_moves
    wait_for(lambda: (m := status(stack, user)["moving"]) and m["done"] == m["total"] == 3, what="the move")
    snap = SnapshotApi(stack.url("integrations"), stack.env, user)
    sid, r = snap.send([event(f"t-{i}", updated=5, title=f"{title} v5") for i in range(3)]
                       + [event("s-1", updated=5, title=title)], as_of=version(10))
    assert r.status_code == 202
    snap.wait_done(sid)
    pending = snap.create(as_of=version(20))
    assert snap.put(pending, 0, [event("s-2", title=title)]).status_code == 202
    db = firestore.Client(project="local-project")
    assert any(title in str(doc) for doc in all_documents(db))  # the scan finds them before

    r = disconnect(stack, user, remove_events=True)
    assert r.status_code == 200, r.text
    holding = [doc.name for doc in all_documents(db) if title in str(doc)]
    assert holding == []
    s = status(stack, user)
    assert s["moving"] is None and s["snapshot"] is None and s["status"] == "disconnected"


def test_disconnect_without_removal_keeps_the_events_and_forgets_the_rest(stack, platform, user):
    from google.cloud import firestore

    title = "Guardado " + uuid.uuid4().hex[:10]
    synced(platform, user, 3, prefix="k", title=title)
    r = disconnect(stack, user)
    assert r.status_code == 200 and r.json() == {"status": "disconnected", "removed_events": 0,
                                                 "deleted_mappings": 3}, r.text
    assert len(ours_live(platform, user)) == 3
    db = firestore.Client(project="local-project")
    assert [doc.name for doc in all_documents(db) if title in str(doc)] == []
    again = disconnect(stack, user, remove_events=True)  # already disconnected: nothing to do
    assert again.status_code == 200 and again.json()["removed_events"] == 0
    token = api_token(stack, user["account_id"], user["user_id"])
    r = requests.get(f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}",
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.json()["status"] == "disconnected"
