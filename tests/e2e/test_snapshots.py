"""Snapshots (CONTRACT §7) end to end: backfill, version rules against webhooks, reconcile in the
window, the mass-delete guard, pages, expiry, parking, bad input."""

from __future__ import annotations

import pytest

from tests.e2e.snapshots_client import SnapshotApi, event, events, version
from tests.helpers import payload, wait_for


@pytest.fixture
def snap(stack, user) -> SnapshotApi:
    return SnapshotApi(stack.url("integrations"), stack.env, user)


def live(platform, user) -> dict[str, dict]:
    """source_event_id → the live Google event (asserting there is one copy of each)."""
    out: dict[str, dict] = {}
    for e in platform.events(user["email"], include_cancelled=False).values():
        source = e["extendedProperties"]["private"]["source_event_id"]
        assert source not in out, f"two copies of {source}"
        out[source] = e
    return out


def ids(user, **kw):
    return payload(account_id=user["account_id"], user_id=user["user_id"], **kw)


def test_backfill_creates_every_event_once_and_counts_them(snap, platform, user, stack):
    sid, r = snap.send(events(30), as_of=version(100), page_size=12)
    assert r.status_code == 202 and r.json() == {"state": "applying", "upserts": 30, "deletes": 0}, r.text
    view = snap.wait_done(sid)
    assert view["counts"] == {"created": 30, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 0, "parked": 0}
    assert view["events"] == 30 and view["pending"] == 0 and view["finished_at"] and view["started_at"]
    assert sorted(live(platform, user)) == sorted(f"ev-{i}" for i in range(30))
    status = wait_for(lambda: (s := _status(stack, user))["snapshot"] and s, what="status")
    assert status["snapshot"]["snapshot_id"] == sid and status["snapshot"]["state"] == "done"

    # The same snapshot again: every event unchanged, no Calendar call.
    before = sum(n for k, n in stack.standin.state.calls.items() if k.startswith("events."))
    again, _ = snap.send(events(30), as_of=version(100))
    assert snap.wait_done(again)["counts"]["unchanged"] == 30
    assert sum(n for k, n in stack.standin.state.calls.items() if k.startswith("events.")) == before


def _status(stack, user):
    import requests

    from tests.e2e.conftest import api_token

    r = requests.get(f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}",
                     headers={"Authorization": "Bearer " + api_token(stack, user["account_id"], user["user_id"])},
                     timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_webhooks_and_snapshot_events_follow_the_version_rules(snap, platform, user):
    # Newer webhook already applied beats an older snapshot event; a newer snapshot event beats an
    # older webhook; a tombstone newer than the snapshot's event stays.
    platform.wait_outcome(platform.accepted(ids(user, event_id="newer-hook", updated=50, title="webhook v50")),
                          "created")
    platform.wait_outcome(platform.accepted(ids(user, event_id="older-hook", updated=5, title="webhook v5")),
                          "created")
    platform.wait_outcome(platform.accepted(ids(user, kind="event.deleted", event_id="deleted", updated=50)),
                          "tombstone")
    sid, r = snap.send([event("newer-hook", updated=10, title="snapshot v10"),
                        event("older-hook", updated=10, title="snapshot v10"),
                        event("deleted", updated=10, title="snapshot v10")], as_of=version(20))
    assert r.status_code == 202, r.text
    counts = snap.wait_done(sid)["counts"]
    assert counts["updated"] == 1 and counts["unchanged"] == 2, counts
    got = live(platform, user)
    assert got["newer-hook"]["summary"] == "webhook v50"
    assert got["older-hook"]["summary"] == "snapshot v10"
    assert "deleted" not in got
    # A webhook older than what the snapshot applied is ignored; a newer one wins.
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", event_id="older-hook", updated=7,
                                                title="late v7")), "stale")
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", event_id="older-hook", updated=11,
                                                title="webhook v11")), "updated")
    assert live(platform, user)["older-hook"]["summary"] == "webhook v11"
