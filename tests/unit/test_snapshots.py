"""Snapshots on the fakes (sync/snapshots/service.py over FakeSnapshotStore, the worker's apply on
FakeStore and FakeCalendar): pages, complete's plan and guard, the bulk lane's fan-out, the
reconcile deletes at ``as_of``, results counted once, and the done transition's notification."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from sync.apply.service import SyncService
from sync.kernel.model import google_event_id
from sync.kernel.payload import parse_change
from sync.snapshots import model as m
from sync.snapshots.service import Refused, Snapshots
from tests.fakes import FakeCalendar, FakePublisher, FakeSnapshotStore, FakeStore, active_connection
from tests.helpers import event, payload, version

A, U, CAL = "acme-consulting", "u-42", "user@example.com"
NOW = datetime(2026, 11, 20, 14, tzinfo=timezone.utc)


class World:
    def __init__(self):
        self.mappings, self.calendar, self.bulk = FakeStore(), FakeCalendar(), FakePublisher()
        self.mappings.save_connection(active_connection(A, U, CAL))
        self.store = FakeSnapshotStore(self.mappings)
        self.service = SyncService(self.mappings, self.calendar, clock=lambda: NOW)
        self.snapshots = Snapshots(self.store, self.bulk, service=lambda: self.service, clock=lambda: NOW)

    def webhook(self, event_id, updated=0, kind="event.created", **fields):
        outcome = self.service.apply(parse_change(payload(kind, account_id=A, user_id=U, event_id=event_id,
                                                          updated=updated, **fields), f"wh-{event_id}"))
        assert outcome.acknowledge, outcome

    def create(self, as_of=version(100), **body):
        return self.snapshots.create(A, U, m.parse_create({"as_of": as_of, **body}, NOW))

    def put(self, sid, n, events):
        doc = self.snapshots.find(A, U, sid)
        changes = m.parse_page({"events": events}, A, U, sid, NOW)
        return self.snapshots.put_page(doc, sid, n, changes)

    def complete(self, sid, pages):
        return self.snapshots.complete(self.snapshots.find(A, U, sid), sid, pages)

    def drain(self):
        """Deliver everything on the bulk lane, as the bulk subscription would, until it is empty."""
        handled = []
        while self.bulk.messages:
            data, _, _ = self.bulk.messages.pop(0)
            job = json.loads(data)
            run = self.snapshots.apply_change if job["kind"] == "snapshot_change" else self.snapshots.expand
            handled.append((job["kind"], run(job).name))
        return handled

    def live(self):
        return {e["extendedProperties"]["private"]["source_event_id"] for e in self.calendar.live(CAL).values()}

    def view(self, sid):
        return self.snapshots.view(self.snapshots.find(A, U, sid), sid)


def test_a_snapshot_needs_a_connection():
    world = World()
    world.mappings.connections.clear()
    with pytest.raises(Refused) as refused:
        world.create()
    assert (refused.value.status, refused.value.body) == (409, {"error": "not_connected"})


def test_a_backfill_creates_every_event_once_and_finishes_with_its_counts():
    world = World()
    sid = world.create()
    assert world.put(sid, 0, [event(f"ev-{i}", updated=1) for i in range(150)]) == 150
    assert world.put(sid, 1, [event("ev-x", updated=1)]) == 1
    assert world.complete(sid, 2) == {"state": "applying", "upserts": 151, "deletes": 0}
    assert world.view(sid)["pending"] == 151
    handled = world.drain()
    assert [k for k, _ in handled].count("snapshot_page") == 3  # page 0 in slices of 100, page 1
    assert world.live() == {f"ev-{i}" for i in range(150)} | {"ev-x"}
    assert world.calendar.calls.count("insert") == 151
    view = world.view(sid)
    assert view["state"] == "done" and view["pending"] == 0 and view["counts"]["created"] == 151
    [note] = world.store.notifications
    assert note.type == "snapshot.completed" and note.data["snapshot_id"] == sid
    assert note.data["counts"]["created"] == 151


def test_reconcile_deletes_what_the_snapshot_no_longer_holds_at_as_of_and_a_newer_webhook_wins():
    world = World()
    for event_id in ("keep", "gone", "newer"):
        world.webhook(event_id)
    world.webhook("newer", updated=200, kind="event.updated")  # after the snapshot's as_of
    sid = world.create(as_of=version(100))
    world.put(sid, 0, [event("keep", updated=1)])
    assert world.complete(sid, 1) == {"state": "applying", "upserts": 1, "deletes": 1}
    world.drain()
    assert world.live() == {"keep", "newer"}
    assert world.mappings.mappings[(A, U, "gone")].version.rfc3339 == version(100).replace("+00:00", "Z")
    assert world.view(sid)["counts"]["deleted"] == 1


def test_the_window_keeps_what_ended_before_covers_from():
    world = World()
    world.webhook("old", start={"date_time": "2026-01-10T10:00:00", "time_zone": "America/Sao_Paulo"},
                  end={"date_time": "2026-01-10T11:00:00", "time_zone": "America/Sao_Paulo"})
    world.webhook("recent")
    sid = world.create(covers={"from": "2026-06-01T00:00:00Z"})
    world.put(sid, 0, [])
    assert world.complete(sid, 1)["deletes"] == 1  # "recent" is in the window and absent; "old" ended before
    world.drain()
    assert world.live() == {"old"}


def test_a_snapshot_that_would_empty_the_window_is_refused_unless_allowed():
    world = World()
    for i in range(12):
        world.webhook(f"ev-{i}")
    sid = world.create()
    world.put(sid, 0, [event("ev-0", updated=1)])
    with pytest.raises(Refused) as refused:
        world.complete(sid, 1)
    assert refused.value.body == {"error": "mass_delete_refused", "deletes": 11, "live": 12}
    assert world.view(sid)["state"] == "refused" and world.bulk.messages == []
    allowed = world.create(allow_mass_delete=True)
    world.put(allowed, 0, [event("ev-0", updated=1)])
    assert world.complete(allowed, 1)["deletes"] == 11
    world.drain()
    assert world.live() == {"ev-0"}


def test_the_same_snapshot_again_publishes_nothing_and_costs_no_calendar_call():
    world = World()
    sid = world.create()
    world.put(sid, 0, [event(f"ev-{i}", updated=1) for i in range(5)])
    world.complete(sid, 1)
    world.drain()
    world.calendar.calls.clear()
    again = world.create()
    world.put(again, 0, [event(f"ev-{i}", updated=1) for i in range(5)])
    world.complete(again, 1)
    assert world.bulk.messages == [] and world.calendar.calls == []
    view = world.view(again)
    assert view["state"] == "done" and view["counts"]["unchanged"] == 5


def test_repair_rewrites_unchanged_events_once_each():
    world = World()
    world.webhook("ev-1", updated=1)
    gid = google_event_id(A, U, "ev-1")
    world.calendar.events[(CAL, gid)]["summary"] = "edited by hand"
    world.calendar.calls.clear()
    sid = world.create(repair=True)
    world.put(sid, 0, [event("ev-1", updated=1)])
    world.complete(sid, 1)
    world.drain()
    assert world.calendar.calls == ["update"] and world.calendar.events[(CAL, gid)]["summary"] != "edited by hand"


def test_complete_names_the_missing_pages_and_pages_after_complete_are_refused():
    world = World()
    sid = world.create()
    world.put(sid, 0, [event("a")])
    world.put(sid, 2, [event("c")])
    with pytest.raises(Refused) as refused:
        world.complete(sid, 4)
    assert refused.value.body == {"error": "missing_pages", "missing": [1, 3]}
    world.put(sid, 1, [event("b")])
    world.put(sid, 3, [event("d")])
    world.complete(sid, 4)
    with pytest.raises(Refused) as refused:
        world.put(sid, 4, [event("e")])
    assert refused.value.status == 409 and refused.value.body["error"] == "not_receiving"


def test_a_page_sent_again_replaces_what_it_held():
    world = World()
    sid = world.create()
    world.put(sid, 0, [event("first")])
    world.put(sid, 0, [event("second")])
    world.complete(sid, 1)
    world.drain()
    assert world.live() == {"second"} and world.view(sid)["events"] == 1


def test_an_incomplete_snapshot_expires_and_takes_no_more_pages():
    world = World()
    sid = world.create()
    world.store.docs[sid]["expires_at"] = NOW - timedelta(seconds=1)
    assert world.view(sid)["state"] == "expired"
    with pytest.raises(Refused) as refused:
        world.put(sid, 0, [event("x")])
    assert refused.value.body["error"] == "snapshot_expired"
    assert world.snapshots.expire_abandoned() == {"snapshots_expired": 1}


def test_a_redelivered_change_is_counted_once():
    world = World()
    sid = world.create()
    world.put(sid, 0, [event("ev-1", updated=1), event("ev-2", updated=1)])
    world.complete(sid, 1)
    [(data, _, _)] = world.bulk.messages
    world.snapshots.expand(json.loads(data))
    world.bulk.messages.pop(0)
    first, second = (json.loads(d) for d, _, _ in world.bulk.messages)
    world.snapshots.apply_change(first)
    world.snapshots.apply_change(first)  # redelivered
    assert world.view(sid)["counts"]["created"] == 1 and world.view(sid)["state"] == "applying"
    world.snapshots.apply_change(second)
    assert world.view(sid)["state"] == "done" and len(world.store.notifications) == 1


def test_the_status_route_shows_the_latest_snapshot():
    world = World()
    assert world.snapshots.status(A, U) is None
    sid = world.create()
    status = world.snapshots.status(A, U)
    assert status["snapshot_id"] == sid and status["state"] == "receiving"
