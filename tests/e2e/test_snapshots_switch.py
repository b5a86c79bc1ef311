"""A calendar switch moves events through the bulk lane (docs/snapshots.md): the page answers at once,
the status route shows progress, and changes during the move land once, in the new calendar."""

from __future__ import annotations

import time

from tests.e2e.conftest import Browser
from tests.e2e.snapshots_client import SnapshotApi, events, version
from tests.e2e.test_integrations_flow import status
from tests.helpers import payload, wait_for

N = 200


def by_source(platform, calendar_id):
    out: dict[str, list] = {}
    for e in platform.events(calendar_id, include_cancelled=False).values():
        out.setdefault(e["extendedProperties"]["private"]["source_event_id"], []).append(e)
    return out


def test_switching_calendars_with_hundreds_of_events_moves_them_through_the_queue(stack, platform, google_user):
    user = google_user
    browser = Browser(stack)
    browser.connect(user, calendar_id=user["team"])
    snap = SnapshotApi(stack.url("integrations"), stack.env, user)
    sid, r = snap.send(events(N, prefix="sw"), as_of=version(10), page_size=150)  # slices of 100 + 50
    assert r.status_code == 202
    snap.wait_done(sid, timeout=180)
    assert len(by_source(platform, user["team"])) == N

    started = time.monotonic()
    browser.connect(user, calendar_id=user["email"])  # the whole flow, the POST included
    assert time.monotonic() - started < 10  # answered at once: the moves are queued
    moving = status(stack, user)["moving"]
    assert moving["total"] == N and moving["calendar_id"] == user["email"]
    # Changes while the move runs: each lands once, in the new calendar.
    for i in range(0, N, 20):
        platform.accepted(payload("event.updated", account_id=user["account_id"], user_id=user["user_id"],
                                  event_id=f"sw-{i}", updated=20, title=f"during the move {i}"))
    platform.accepted(payload("event.deleted", account_id=user["account_id"], user_id=user["user_id"],
                              event_id="sw-1", updated=20))
    wait_for(lambda: (s := status(stack, user)["moving"]) and s["done"] == s["total"], timeout=180, interval=1,
             what="the move")
    wait_for(lambda: by_source(platform, user["email"]).get("sw-20", [{}])[0].get("summary") == "during the move 20",
             timeout=60, what="the updates")
    wait_for(lambda: "sw-1" not in by_source(platform, user["email"]), timeout=60, what="the delete")
    moved = by_source(platform, user["email"])
    assert by_source(platform, user["team"]) == {}  # nothing left behind
    assert sorted(moved) == sorted(f"sw-{i}" for i in range(N) if i != 1)
    assert all(len(copies) == 1 for copies in moved.values())
    assert all(moved[f"sw-{i}"][0]["summary"] == f"during the move {i}" for i in range(0, N, 20))
