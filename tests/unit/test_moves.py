"""Calendar moves on the fakes (sync/moves/service.py): a switch's events moved by chunked jobs,
each under the event's lease, progress counted once, superseded switches doing nothing."""

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from sync.apply.service import SyncService
from sync.kernel.model import ConnectionStatus, Lease, google_event_id
from sync.kernel.payload import parse_change
from sync.moves.service import MOVE_CHUNK, Moves
from tests.fakes import FakeCalendar, FakeMoveStore, FakePublisher, FakeStore, active_connection
from tests.helpers import payload

A, U, OLD, NEW = "acme-consulting", "u-42", "old@example.com", "new@example.com"


class World:
    def __init__(self, events=3):
        self.mappings, self.calendar, self.bulk = FakeStore(), FakeCalendar(), FakePublisher()
        self.mappings.save_connection(active_connection(A, U, OLD))
        self.service = SyncService(self.mappings, self.calendar)
        for i in range(events):
            self.service.apply(parse_change(payload(account_id=A, user_id=U, event_id=f"ev-{i}"), f"wh-{i}"))
        self.store = FakeMoveStore(self.mappings)
        self.moves = Moves(self.store, self.bulk, self.service)

    def switch(self):
        self.mappings.save_connection(active_connection(A, U, NEW))  # the connection points at NEW first
        return self.moves.start(A, U, OLD, NEW)

    def jobs(self):
        out = [json.loads(d) for d, _, _ in self.bulk.messages]
        self.bulk.messages.clear()
        return out


def test_a_switch_moves_every_synced_event_in_chunks_and_counts_them_once():
    world = World(events=MOVE_CHUNK + 5)
    assert world.switch() == MOVE_CHUNK + 5
    jobs = world.jobs()
    assert [len(j["event_ids"]) for j in jobs] == [MOVE_CHUNK, 5] and {j["kind"] for j in jobs} == {"calendar_move"}
    assert world.moves.status(A, U) == {"total": 30, "done": 0, "calendar_id": NEW, "state": "moving"}
    for job in jobs:
        assert world.moves.run(job).name == "moved"
    world.moves.run(jobs[0])  # redelivered: nothing counts twice
    assert world.moves.status(A, U) == {"total": 30, "done": 30, "calendar_id": NEW, "state": "done"}
    assert len(world.calendar.live(NEW)) == 30 and world.calendar.live(OLD) == {}
    mapping = world.mappings.mappings[(A, U, "ev-0")]
    assert mapping.calendar_id == NEW and mapping.lease is None and world.calendar.calls.count("move") == 30


def test_an_event_being_written_is_handed_back_and_moved_on_the_next_delivery():
    world = World(events=2)
    world.switch()
    [job] = world.jobs()
    key = (A, U, "ev-1")
    mapping = world.mappings.mappings[key]
    world.mappings.mappings[key] = replace(mapping, lease=Lease("writer", mapping.version,
                                                                datetime.now(timezone.utc) + timedelta(minutes=1)))
    busy = world.moves.run(job)
    assert (busy.name, busy.acknowledge, busy.fields["count"]) == ("move_busy", False, 1)
    assert world.mappings.mappings[key].lease.id == "writer"  # the writer's lease untouched
    world.mappings.mappings[key] = mapping
    assert world.moves.run(job).name == "moved" and world.moves.status(A, U)["done"] == 2


def test_an_event_a_change_already_moved_is_skipped():
    world = World(events=1)
    world.switch()
    [job] = world.jobs()
    world.service.apply(parse_change(payload("event.updated", account_id=A, user_id=U, event_id="ev-0", updated=1),
                                     "wh-later"))  # the planner moves it first
    world.calendar.calls.clear()
    outcome = world.moves.run(job)
    assert outcome.name == "moved" and outcome.fields["calendar_calls"] == 0 and world.calendar.calls == []


def test_a_later_switch_supersedes_the_jobs_of_the_earlier_one():
    world = World(events=1)
    world.switch()
    [old_job] = world.jobs()
    world.moves.start(A, U, OLD, NEW)  # switched again meanwhile
    assert world.moves.run(old_job).name == "move_superseded"
    assert world.calendar.calls.count("move") == 0


def test_a_revoked_grant_stops_the_chunk_and_flips_the_connection():
    world = World(events=2)
    world.switch()
    [job] = world.jobs()
    world.calendar.revoked = True
    outcome = world.moves.run(job)
    assert outcome.name == "move_parked_needs_reauth"
    assert world.mappings.connections[(A, U)].status is ConnectionStatus.NEEDS_REAUTH
    assert all(m.lease is None for m in world.mappings.mappings.values())
    assert world.moves.status(A, U)["done"] == 0


def test_a_copy_already_in_the_destination_is_kept_and_the_one_left_behind_dropped():
    world = World(events=1)
    gid = google_event_id(A, U, "ev-0")
    world.calendar.events[(NEW, gid)] = {**world.calendar.events[(OLD, gid)]}
    world.switch()
    [job] = world.jobs()
    assert world.moves.run(job).name == "moved"
    assert set(world.calendar.live(NEW)) == {gid} and world.calendar.live(OLD) == {}


def test_a_move_meeting_the_usage_limits_is_acknowledged_not_retried_and_the_event_follows_its_next_change():
    world = World(events=1)
    world.switch()
    [job] = world.jobs()
    world.calendar.usage_limited = True
    limited = world.moves.run(job)
    assert (limited.name, limited.acknowledge) == ("move_usage_limited", True)  # never dead-lettered for it
    mapping = world.mappings.mappings[(A, U, "ev-0")]
    assert mapping.lease is None and not mapping.google_uncertain and mapping.calendar_id == OLD
    world.calendar.usage_limited = False
    outcome = world.service.apply(parse_change(payload("event.updated", account_id=A, user_id=U, event_id="ev-0",
                                                       updated=1), "wh-next"))
    assert outcome.name == "updated" and set(world.calendar.live(NEW)) == {google_event_id(A, U, "ev-0")}
    assert world.calendar.live(OLD) == {}
