"""Snapshots' pure parts: event ends for the window, request validation, the guard, repair and
the move-through-change in the planner and service, bulk pacing."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sync.apply.service import SyncService
from sync.kernel.errors import InvalidPayload
from sync.kernel.model import Version
from sync.kernel.payload import parse_change
from sync.kernel.planner import Action, decide
from sync.kernel.span import event_span
from sync.kernel.throttle import UserThrottle
from sync.snapshots import model as m
from tests.fakes import FakeCalendar, FakeStore, active_connection
from tests.helpers import event, payload, version

NOW = datetime(2026, 11, 20, 13, tzinfo=timezone.utc)


def span(**fields):
    return event_span(parse_change(payload(**fields), "m").event)


def test_an_event_ends_at_its_end_and_a_series_at_its_last_occurrence():
    assert span().ends_at == "2026-11-25T18:30:00.000000000Z"  # 15:30 in São Paulo
    weekly = span(recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    assert (weekly.ends_at, weekly.open_ended) == ("2026-12-16T18:30:00.000000000Z", False)
    assert span(recurrence=["RRULE:FREQ=DAILY;UNTIL=20261130T000000Z"]).ends_at == "2026-11-29T18:30:00.000000000Z"
    extra = span(recurrence=["RRULE:FREQ=DAILY;COUNT=2", "RDATE;TZID=America/Sao_Paulo:20270105T140000"])
    assert extra.ends_at == "2027-01-05T18:30:00.000000000Z"
    assert span(recurrence=["RRULE:FREQ=WEEKLY"]).open_ended


def test_an_all_day_end_is_taken_at_its_earliest_instant():
    # the exclusive end date 2026-11-26 begins at 2026-11-25T10:00Z in UTC+14
    assert span(start={"date": "2026-11-25"}, end={"date": "2026-11-26"}).ends_at == "2026-11-25T10:00:00.000000000Z"


def test_the_window_holds_ends_at_or_after_from_open_series_and_unknown_ends_only_without_covers():
    assert m.in_window("2026-11-25T00:00:00.000000000Z", "2026-11-25T00:00:00.000000000Z", False)
    assert not m.in_window("2026-11-25T00:00:00.000000000Z", "2026-11-24T23:59:59.000000000Z", False)
    assert m.in_window("2026-11-25T00:00:00.000000000Z", None, True)
    assert not m.in_window("2026-11-25T00:00:00.000000000Z", None, False)
    assert m.in_window(None, None, False)


def test_the_mass_delete_guard_needs_more_than_ten_and_more_than_half():
    assert not m.mass_delete_refused(10, 12)
    assert m.mass_delete_refused(11, 21)
    assert not m.mass_delete_refused(11, 22)


def test_create_validation_lists_every_problem():
    with pytest.raises(InvalidPayload) as exc:
        m.parse_create({"as_of": "yesterday", "covers": {"from": 3}, "repair": "yes"}, NOW)
    assert [d["loc"] for d in exc.value.detail] == ["as_of", "covers.from", "repair"]
    with pytest.raises(InvalidPayload):
        m.parse_create({"as_of": "2026-11-22T13:00:01Z"}, NOW)  # more than 24 h ahead
    req = m.parse_create({"as_of": "2026-11-20T10:00:00-03:00", "covers": {"from": "2026-11-01T00:00:00Z"}}, NOW)
    assert req.as_of == Version.parse("2026-11-20T13:00:00Z") and req.covers_from.startswith("2026-11-01T00")


def test_page_validation_reports_each_problem_with_its_index():
    good = event("a")
    with pytest.raises(InvalidPayload) as exc:
        m.parse_page({"events": [good, {"id": "b", "updated_at": version(1), "title": "", "start": {},
                                       "end": {"date": "x"}}, "text", event("a")]}, "acct", "u", "snp_x")
    locs = [d["loc"] for d in exc.value.detail]
    assert locs == ["events[1].title", "events[1].start", "events[1].end.date", "events[2]", "events[3].id"]
    with pytest.raises(InvalidPayload) as exc:
        m.parse_page({"events": [good] * 1001}, "acct", "u", "snp_x")
    assert exc.value.detail[0]["loc"] == "events"
    assert [c.event_id for c in m.parse_page({"events": [good, event("b")]}, "acct", "u", "snp_x")] == ["a", "b"]


def test_a_page_event_from_the_far_future_is_refused_like_a_webhook():
    frozen = {**event("a"), "updated_at": "9999-12-31T00:00:00Z"}
    with pytest.raises(InvalidPayload) as exc:
        m.parse_page({"events": [event("b"), frozen]}, "acct", "u", "snp_x", NOW)
    assert [d["loc"] for d in exc.value.detail] == ["events[1].updated_at"]
    soon = {**event("c"), "updated_at": (NOW + timedelta(hours=2)).isoformat()}
    assert m.parse_page({"events": [soon]}, "acct", "u", "snp_x", NOW, timedelta(hours=3))
    with pytest.raises(InvalidPayload):
        m.parse_page({"events": [soon]}, "acct", "u", "snp_x", NOW, timedelta(hours=1))


def test_repair_rewrites_an_equal_version_but_never_a_tombstone():
    change = parse_change(payload("event.updated", updated=5), "m")
    mapping = m_mapping(5, google_exists=True, calendar_id="user@example.com")
    assert decide(active_connection(), mapping, change, NOW).action is Action.DUPLICATE
    assert decide(active_connection(), mapping, change, NOW, rewrite_equal=True).action is Action.UPDATE
    tomb = replace(mapping, deleted=True, google_exists=False)
    assert decide(active_connection(), tomb, change, NOW, rewrite_equal=True).action is Action.DUPLICATE


def m_mapping(updated, **fields):
    from sync.kernel.model import Mapping

    return Mapping(event_id="ev-1001", google_event_id="gid", version=Version.parse(version(updated)), **fields)


def test_a_change_to_an_event_still_in_the_old_calendar_moves_it_instead_of_copying_it():
    store, calendar = FakeStore(), FakeCalendar()
    store.save_connection(active_connection(calendar_id="old"))
    service = SyncService(store, calendar, clock=lambda: NOW)
    assert service.apply(parse_change(payload(updated=1), "m")).name == "created"
    store.save_connection(active_connection(calendar_id="new"))  # the user switched calendars
    outcome = service.apply(parse_change(payload("event.updated", updated=2, title="after"), "m2"))
    assert (outcome.name, outcome.calendar_calls) == ("updated", 2)
    assert calendar.live("old") == {} and [e["summary"] for e in calendar.live("new").values()] == ["after"]
    mapping = next(iter(store.mappings.values()))
    assert mapping.calendar_id == "new" and mapping.ends_at == "2026-11-25T18:30:00.000000000Z"


def test_bulk_takes_a_token_only_while_a_reserve_stays_for_live_changes():
    t = [0.0]
    throttle = UserThrottle(per_minute=60, burst=10, clock=lambda: t[0])
    keep = throttle.live_reserve
    taken = 0
    while throttle.try_take("u", keep) == 0:
        taken += 1
    assert taken == 10 - keep
    assert throttle.reserve("u") == 0  # a live change still goes at once
    assert throttle.try_take("u", keep, take=False) == pytest.approx(2.0)  # tokens keep - 1: two seconds
    t[0] += 10
    assert throttle.try_take("u", keep) == 0


def test_an_insert_that_may_have_landed_in_the_old_calendar_is_brought_over_after_a_switch():
    from sync.kernel.errors import Retryable

    store, calendar = FakeStore(), FakeCalendar()
    store.save_connection(active_connection(calendar_id="old"))
    service = SyncService(store, calendar, clock=lambda: NOW)
    calendar.faults_after.append(Retryable("timeout"))  # the insert lands, its answer is lost
    with pytest.raises(Retryable):
        service.apply(parse_change(payload(updated=1), "m"))
    store.save_connection(active_connection(calendar_id="new"))  # the user switched calendars
    # moved, 409, read: this very version is there, nothing written again
    assert service.apply(parse_change(payload(updated=1), "m")).name == "already_applied"
    assert calendar.live("old") == {} and len(calendar.live("new")) == 1
