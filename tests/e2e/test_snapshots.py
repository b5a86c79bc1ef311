"""Snapshots (docs/snapshots.md) end to end: backfill, version rules against webhooks, reconcile in the
window, the mass-delete guard, pages, expiry, parking, bad input."""

from __future__ import annotations

import pytest

from tests.e2e.snapshots_client import SnapshotApi, event, events, version
from tests.e2e.test_notifications import data, wait_received
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
    [done] = wait_received(stack, user, "snapshot.completed")  # docs/notifications.md, signed and verified
    assert data(done) == {"snapshot_id": sid, "counts": view["counts"]}
    assert sorted(live(platform, user)) == sorted(f"ev-{i}" for i in range(30))
    status = wait_for(lambda: (s := _status(stack, user))["snapshot"] and s, what="status")
    assert status["snapshot"]["snapshot_id"] == sid and status["snapshot"]["state"] == "done"

    # The same snapshot again: every event unchanged, no Calendar call (of this user's: other
    # tests' work may still be running; and once the drift checks the first one's pings
    # scheduled are over, as they list the calendar).
    from tests.e2e.test_drift import wait_drift_quiet

    wait_drift_quiet(stack, platform, user)

    def event_calls() -> int:
        return sum(n for k, n in stack.standin.state.stats(user=user["email"]).items() if k.startswith("events."))

    before = event_calls()
    again, _ = snap.send(events(30), as_of=version(100))
    assert snap.wait_done(again)["counts"]["unchanged"] == 30
    assert event_calls() == before


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


def _mapping_doc(user, event_id):
    from google.cloud import firestore

    from sync.kernel.model import connection_key, event_key

    db = firestore.Client(project="local-project")
    return db.collection("connections").document(connection_key(user["account_id"], user["user_id"])) \
        .collection("events").document(event_key(event_id))


def test_reconcile_deletes_absent_events_inside_the_window_only(snap, platform, user):
    sp = "America/Sao_Paulo"
    specs = {
        "past": {"start": {"date_time": "2026-11-09T14:00:00", "time_zone": sp},
                 "end": {"date_time": "2026-11-09T15:00:00", "time_zone": sp}},
        "kept": {}, "absent": {}, "touched-later": {}, "legacy": {},
        "open-series": {"start": {"date_time": "2026-10-01T14:00:00", "time_zone": sp},
                        "end": {"date_time": "2026-10-01T15:00:00", "time_zone": sp},
                        "recurrence": ["RRULE:FREQ=WEEKLY"]},
        "ended-series": {"start": {"date_time": "2026-10-01T14:00:00", "time_zone": sp},
                         "end": {"date_time": "2026-10-01T15:00:00", "time_zone": sp},
                         "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"]},
    }
    for event_id, fields in specs.items():
        platform.wait_outcome(platform.accepted(ids(user, event_id=event_id, updated=1, **fields)), "created")
    _mapping_doc(user, "legacy").update({"ends_at": None})  # written before mappings knew their end
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", event_id="touched-later", updated=300,
                                                title="newer than as_of")), "updated")
    sid, r = snap.send([event("kept", updated=1)], as_of=version(100), covers_from="2026-11-20T00:00:00Z")
    assert r.status_code == 202 and r.json()["deletes"] == 2, r.text  # absent + open-series
    view = snap.wait_done(sid)
    assert view["counts"]["deleted"] == 2 and view["counts"]["unchanged"] == 1, view
    assert sorted(live(platform, user)) == ["ended-series", "kept", "legacy", "past", "touched-later"]
    deleted = platform.event(user, "absent")
    assert deleted["status"] == "cancelled"
    # The delete carried version as_of: an older webhook cannot bring it back, a newer one can.
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", event_id="absent", updated=50)), "stale")
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", event_id="absent", updated=101)),
                          "restored")


def test_a_mass_delete_is_refused_unless_allowed(snap, platform, user, stack):
    sid, _ = snap.send(events(12), as_of=version(10))
    snap.wait_done(sid)
    empty, r = snap.send([], as_of=version(20))
    assert r.status_code == 409 and r.json() == {"error": "mass_delete_refused", "deletes": 12, "live": 12}, r.text
    assert snap.get(empty)["state"] == "refused"
    assert len(live(platform, user)) == 12  # nothing applied
    assert snap.complete(empty, 0).status_code == 409  # refused is final
    forced, r = snap.send([], as_of=version(20), allow_mass_delete=True)
    assert r.status_code == 202 and r.json()["deletes"] == 12, r.text
    assert snap.wait_done(forced)["counts"]["deleted"] == 12
    assert live(platform, user) == {}


def test_a_page_sent_again_replaces_it(snap, platform, user):
    sid = snap.create(version(10))
    assert snap.put(sid, 0, [event("a"), event("b", title="first")]).status_code == 202
    r = snap.put(sid, 0, [event("b", title="second"), event("c")])
    assert r.status_code == 202 and r.json() == {"accepted": 2}
    assert snap.get(sid)["events"] == 2
    assert snap.complete(sid, 1).json()["upserts"] == 2
    snap.wait_done(sid)
    got = live(platform, user)
    assert sorted(got) == ["b", "c"] and got["b"]["summary"] == "second"
    assert snap.complete(sid, 1).status_code == 409  # done: not receiving any more


def test_a_snapshot_racing_a_reconnect_parks_and_then_lands_whole(snap, platform, user, stack):
    stack.standin.state.revoke_user(user["email"])
    sid, r = snap.send(events(20, prefix="race"), as_of=version(10))
    assert r.status_code == 202
    wait_for(lambda: snap.get(sid)["counts"]["parked"] >= 3, timeout=60, what="some events parked")
    stack.connect(user["account_id"], user["user_id"], user["email"])  # reconnect, mid-apply
    view = snap.wait_done(sid)
    assert view["counts"]["parked"] + view["counts"]["created"] == 20, view
    wait_for(lambda: len(live(platform, user)) == 20, timeout=90, what="every event after the reconnect")
    assert sorted(live(platform, user)) == sorted(f"race-{i}" for i in range(20))


def test_an_incomplete_snapshot_expires(snap, stack, user):
    from datetime import datetime, timedelta, timezone

    from google.cloud import firestore

    from sync import bootstrap

    sid = snap.create(version(10))
    assert snap.put(sid, 0, [event("x")]).status_code == 202
    firestore.Client(project="local-project").collection("snapshots").document(sid).update(
        {"expires_at": datetime.now(timezone.utc) - timedelta(seconds=1)})
    assert snap.get(sid)["state"] == "expired"
    r = snap.put(sid, 1, [event("y")])
    assert r.status_code == 409 and r.json()["error"] == "snapshot_expired"
    assert snap.complete(sid, 1).json()["error"] == "snapshot_expired"
    bootstrap.reset()
    assert bootstrap.container().snapshots.expire_abandoned()["snapshots_expired"] >= 1  # the maintenance task
    assert firestore.Client(project="local-project").collection("snapshots").document(sid).get() \
        .get("state") == "expired"


def test_bad_requests(snap, stack, user, google_user):
    from tests.e2e.snapshots_client import token

    r = snap.call("POST", "", {"covers": "soon"})
    assert r.status_code == 400 and [d["loc"] for d in r.json()["detail"]] == ["as_of", "covers"]
    sid = snap.create(version(10))
    r = snap.put(sid, 0, [event("a"), {"id": "b"}, 7, event("c", start={"date": "2026-11-25"})])
    assert r.status_code == 400
    locs = [d["loc"] for d in r.json()["detail"]]
    assert "events[1].title" in locs and "events[2]" in locs and "events[3].end" in locs and not any(
        loc.startswith("events[0]") for loc in locs)
    assert snap.call("PUT", f"/{sid}/pages/0", {"events": {"id": "a"}}).status_code == 400
    # A lone surrogate (sent as a \u escape) could never be stored or written: a 400, not a 5xx.
    r = snap.put(sid, 0, [event("a", title="x\ud800")])
    assert r.status_code == 400 and [d["loc"] for d in r.json()["detail"]] == ["body"]
    r = snap.put(sid, 0, events(1001))
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == "events"
    assert snap.put(sid, 1, [event("a")]).status_code == 202
    r = snap.complete(sid, 2)
    assert r.status_code == 409 and r.json() == {"error": "missing_pages", "missing": [0]}
    assert snap.call("POST", f"/{sid}/complete", {"pages": "2"}).status_code == 400
    # auth: none / forged → 401, another user's token → 403
    assert snap.call("GET", f"/{sid}", bearer="nope").status_code == 401
    assert snap.call("GET", f"/{sid}", bearer=token(stack.env, google_user["account_id"],
                                                    google_user["user_id"])).status_code == 403
    # unknown snapshot, or another user's snapshot under your path → 404
    assert snap.call("GET", "/snp_" + "A" * 24).status_code == 404
    other = SnapshotApi(stack.url("integrations"), stack.env, google_user)
    assert other.call("GET", f"/{sid}".replace(sid, sid)).status_code == 404
    assert other.call("POST", "", {"as_of": version(1)}).json() == {"error": "not_connected"}
    assert other.call("POST", "", {"as_of": version(1)}).status_code == 409
