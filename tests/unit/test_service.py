import json
from datetime import datetime, timedelta, timezone

import pytest

from sync.apply.parked import resume_parked
from sync.apply.service import SyncService
from sync.kernel.errors import AuthRevoked, CalendarUnavailable, NoAnswer, Permanent, Retryable
from sync.kernel.model import ConnectionStatus, google_event_id
from sync.kernel.payload import parse_change
from tests.fakes import FakeCalendar, FakePublisher, FakeStore, active_connection
from tests.helpers import payload

CAL = "user@example.com"
GID = google_event_id("acme-consulting", "u-42", "ev-1001")


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 20, 13, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def world():
    store, calendar, clock = FakeStore(), FakeCalendar(), Clock()
    store.save_connection(active_connection(calendar_id=CAL))
    return store, calendar, SyncService(store, calendar, lease_seconds=60, clock=clock), clock


def change(kind="event.created", updated=1, **fields):
    return parse_change(payload(kind, updated=updated, **fields), f"msg-{kind}-{updated}")


def test_create_update_delete_one_call_each(world):
    store, calendar, service, _ = world
    assert service.apply(change()).name == "created"
    assert service.apply(change("event.updated", 2, title="Novo")).name == "updated"
    assert calendar.live(CAL)[GID]["summary"] == "Novo"
    assert service.apply(change("event.deleted", 3)).name == "deleted"
    assert calendar.live(CAL) == {}
    assert calendar.calls == ["insert", "update", "delete"]


def test_duplicates_and_stale_changes_cost_no_calendar_call(world):
    _, calendar, service, _ = world
    service.apply(change(updated=5))
    assert service.apply(change(updated=5)).name == "duplicate"
    assert service.apply(change("event.updated", 4, title="Old")).name == "stale"
    assert calendar.calls == ["insert"]
    assert calendar.live(CAL)[GID]["summary"] == "Diagnóstico — Cliente X"


def test_delete_before_create_keeps_a_tombstone(world):
    _, calendar, service, _ = world
    assert service.apply(change("event.deleted", 5)).name == "tombstone"
    assert service.apply(change("event.created", 4)).name == "stale"
    assert calendar.calls == [] and calendar.live(CAL) == {}
    assert service.apply(change("event.created", 6)).name == "created"  # newer than the delete: back
    assert GID in calendar.live(CAL)


def test_recreate_after_delete_restores_the_cancelled_event(world):
    _, calendar, service, _ = world
    service.apply(change(updated=1))
    service.apply(change("event.deleted", 2))
    assert service.apply(change("event.created", 3)).name == "restored"
    # The id is taken by the cancelled event: read for its etag, then an update over it.
    assert calendar.calls == ["insert", "delete", "insert", "get", "update"]
    assert calendar.live(CAL)[GID]["status"] == "confirmed"


def test_event_deleted_by_hand_is_restored_by_the_next_update(world):
    _, calendar, service, _ = world
    service.apply(change(updated=1))
    calendar.events[(CAL, GID)]["status"] = "cancelled"  # the user deleted it in Google Calendar
    assert service.apply(change("event.updated", 2, title="Ainda aqui")).name == "updated"
    assert calendar.live(CAL)[GID]["summary"] == "Ainda aqui"


def test_event_purged_in_google_is_recreated(world):
    _, calendar, service, _ = world
    service.apply(change(updated=1))
    del calendar.events[(CAL, GID)]
    assert service.apply(change("event.updated", 2)).name == "recreated"
    assert calendar.calls == ["insert", "update", "insert"]


def test_delete_of_already_gone_event_is_done(world):
    _, calendar, service, _ = world
    service.apply(change(updated=1))
    del calendar.events[(CAL, GID)]
    assert service.apply(change("event.deleted", 2)).name == "deleted_already"


def test_redelivery_after_a_lost_ack_does_not_duplicate(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    # The Google write happened but the result was never recorded (crash before commit):
    key = ("acme-consulting", "u-42", "ev-1001")
    from dataclasses import replace
    store.mappings[key] = replace(store.mappings[key], version=None, google_exists=False)
    calendar.calls.clear()
    # The insert finds the id taken, the read finds this very version there: nothing written again.
    assert service.apply(change(updated=1)).name == "already_applied"
    assert calendar.calls == ["insert", "get"] and len(calendar.live(CAL)) == 1


def test_transient_failure_releases_the_lease_and_asks_for_retry(world):
    store, calendar, service, _ = world
    calendar.faults.append(Retryable("calendar 503"))
    with pytest.raises(Retryable):
        service.apply(change(updated=1))
    mapping = store.mappings[("acme-consulting", "u-42", "ev-1001")]
    assert mapping.lease is None and mapping.version is None
    assert service.apply(change(updated=1)).name == "created"


def test_a_crashed_delivery_blocks_until_its_lease_expires(world):
    store, calendar, service, clock = world
    calendar.faults.append(KeyboardInterrupt())  # stands for a process killed mid-call
    with pytest.raises(KeyboardInterrupt):
        service.apply(change(updated=1))
    # _release ran in the finally; simulate a real SIGKILL by putting a live lease back:
    from dataclasses import replace

    from sync.kernel.model import Lease, Version
    key = ("acme-consulting", "u-42", "ev-1001")
    store.mappings[key] = replace(store.mappings[key], lease=Lease("dead", Version.parse("2026-11-20T13:00:01.123Z"),
                                                                   clock.now + timedelta(seconds=60)))
    outcome = service.apply(change(updated=1))
    assert (outcome.name, outcome.acknowledge) == ("busy", False)
    clock.now += timedelta(seconds=61)
    assert service.apply(change(updated=1)).name == "created"


def test_permanent_failure_is_recorded_and_acknowledged(world):
    store, calendar, service, _ = world
    calendar.faults.append(Permanent("calendar 400 invalid"))
    outcome = service.apply(change(updated=1))
    assert outcome.acknowledge and outcome.name == "failed_permanent"
    mapping = store.mappings[("acme-consulting", "u-42", "ev-1001")]
    assert mapping.last_error == "calendar 400 invalid" and mapping.lease is None and not mapping.google_exists
    assert service.apply(change(updated=1)).name == "duplicate"  # the same version will not succeed either
    assert service.apply(change("event.updated", 2)).name == "created"


def test_revoked_grant_parks_changes_and_reconnect_replays_the_newest(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    calendar.faults.append(AuthRevoked("invalid_grant"))
    assert service.apply(change("event.updated", 2, title="v2")).name == "parked_needs_reauth"
    assert store.get_connection("acme-consulting", "u-42").status is ConnectionStatus.NEEDS_REAUTH
    # While revoked, newer changes are parked without calling Calendar; older ones are stale.
    assert service.apply(change("event.updated", 3, title="v3")).name == "park"
    assert service.apply(change("event.updated", 2, title="v2")).name == "stale"
    assert service.apply(change("event.created", 1, event_id="ev-2")).name == "park"
    assert calendar.calls == ["insert", "update"]
    # Reconnect: active again, parked changes go back through the queue.
    conn = store.get_connection("acme-consulting", "u-42")
    store.save_connection(active_connection(calendar_id=CAL))
    publisher = FakePublisher()
    assert resume_parked(store, publisher, conn.account_id, conn.user_id) == 2
    for data, key, _ in publisher.messages:
        replay = parse_change(json.loads(data), "replay")
        assert key == replay.ordering_key
        assert service.apply(replay).name in ("updated", "created")
    assert calendar.live(CAL)[GID]["summary"] == "v3"
    assert store.parked("acme-consulting", "u-42") == []


def test_calendar_gone_parks_with_its_own_status(world):
    store, calendar, service, _ = world
    calendar.faults.append(CalendarUnavailable("calendar not found"))
    assert service.apply(change(updated=1)).name == "parked_calendar_unavailable"
    assert store.get_connection("acme-consulting", "u-42").status is ConnectionStatus.CALENDAR_UNAVAILABLE
    assert len(store.parked("acme-consulting", "u-42")) == 1


def test_no_connection_is_acknowledged_without_writes(world):
    store, calendar, service, _ = world
    outcome = service.apply(parse_change(payload(user_id="nobody"), "m"))
    assert (outcome.name, outcome.acknowledge) == ("no_connection", True)
    assert calendar.calls == [] and ("acme-consulting", "nobody", "ev-1001") not in store.mappings


def test_steady_state_costs_two_short_transactions(world):
    store, _, service, _ = world
    service.apply(change(updated=1))
    assert store.transactions == 2  # claim, then record
    service.apply(change(updated=1))
    assert store.transactions == 3  # a duplicate: the claim alone


def test_throttled_changes_wait_briefly_or_go_back_to_the_queue():
    from sync.kernel.errors import RateLimited
    from sync.kernel.throttle import UserThrottle

    store, calendar, clock = FakeStore(), FakeCalendar(), Clock()
    store.save_connection(active_connection(calendar_id=CAL))
    slept = []
    throttle = UserThrottle(per_minute=60, burst=2, clock=lambda: 0.0)
    service = SyncService(store, calendar, clock=clock, throttle=throttle, max_wait=1.5, sleep=slept.append)
    for i in range(3):
        assert service.apply(change(updated=1, event_id=f"e{i}")).name == "created"
    assert slept == [pytest.approx(1.0)]  # the third waited its turn
    with pytest.raises(Retryable, match="throttled") as info:
        service.apply(change(updated=1, event_id="e3"))  # would wait 2 s: back to Pub/Sub instead
    assert info.value.retry_after == pytest.approx(2.0)
    assert store.mappings[("acme-consulting", "u-42", "e3")].lease is None  # nothing held meanwhile
    assert calendar.calls == ["insert"] * 3

    calendar.faults.append(RateLimited("calendar 429", retry_after=30))
    throttle2 = UserThrottle(per_minute=6000, burst=100, clock=lambda: 0.0)
    service2 = SyncService(store, calendar, clock=clock, throttle=throttle2, max_wait=1.5, sleep=slept.append)
    with pytest.raises(RateLimited):
        service2.apply(change(updated=1, event_id="e9"))
    with pytest.raises(Retryable, match="throttled"):  # Retry-After honoured: no call for 30 s
        service2.apply(change(updated=1, event_id="e10"))
    assert calendar.calls.count("insert") == 4


def test_a_delete_after_a_write_that_timed_out_still_deletes(world):
    """The insert reached Calendar but its answer timed out: the mapping cannot know the event
    exists, so the later delete must call Calendar instead of only writing a tombstone."""
    store, calendar, service, _ = world
    calendar.faults_after.append(Retryable("calendar transport: TimeoutError"))
    with pytest.raises(Retryable):
        service.apply(change(updated=1))
    assert GID in calendar.live(CAL)
    assert store.mappings[("acme-consulting", "u-42", "ev-1001")].google_uncertain
    assert service.apply(change("event.deleted", 2)).name == "deleted"
    assert calendar.live(CAL) == {}


def test_a_delete_after_a_worker_killed_mid_write_still_deletes(world):
    """SIGKILL between the Calendar write and recording it: the lease is left behind."""
    store, calendar, service, clock = world
    calendar.faults_after.append(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        service.apply(change(updated=1))
    from dataclasses import replace

    from sync.kernel.model import Lease, Version

    key = ("acme-consulting", "u-42", "ev-1001")  # a killed process runs no cleanup: lease stays, flag unset
    store.mappings[key] = replace(store.mappings[key], google_uncertain=False,
                                  lease=Lease("dead", Version.parse("2026-11-20T13:00:01.123Z"),
                                              clock.now + timedelta(seconds=60)))
    clock.now += timedelta(seconds=61)
    assert service.apply(change("event.deleted", 2)).name == "deleted"
    assert calendar.live(CAL) == {}


def test_a_delete_of_an_event_never_written_stays_free(world):
    store, calendar, service, _ = world
    calendar.faults.append(Retryable("calendar 503"))  # refused: nothing was written
    with pytest.raises(Retryable):
        service.apply(change(updated=1))
    # Calendar was called, so its outcome counts as unknown: one read (no etag of ours to delete
    # over), answered 404, is done.
    assert service.apply(change("event.deleted", 2)).name == "deleted_already"
    assert calendar.calls == ["insert", "get"]


# -- writes abandoned after a timeout that Calendar applies anyway, later ------------------------------
def held_for_its_answer(service, clock):
    """A request without an answer keeps the event leased until it can no longer land: every write
    of the event meanwhile is busy (redelivered later), then it goes on."""
    assert service.apply(change("event.updated", 9, title="meanwhile")).name == "busy"
    clock.now += service.no_answer_hold + timedelta(seconds=1)

def test_an_abandoned_update_landing_after_a_newer_one_changes_nothing(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.abandon.append("update")  # v2's answer never comes; Calendar has it, and applies it later
    with pytest.raises(Retryable):
        service.apply(change("event.updated", 2, title="v2"))
    held_for_its_answer(service, clock)
    assert service.apply(change("event.updated", 3, title="v3")).name == "updated"
    assert calendar.land_abandoned() == ["EtagMismatch"]  # conditioned on an etag v3 replaced: refused
    assert calendar.live(CAL)[GID]["summary"] == "v3"


def test_an_abandoned_update_landing_after_the_delete_does_not_bring_the_event_back(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.abandon.append("update")
    with pytest.raises(Retryable):
        service.apply(change("event.updated", 2, title="v2"))
    held_for_its_answer(service, clock)
    assert service.apply(change("event.deleted", 3)).name == "deleted"
    assert calendar.land_abandoned() == ["EtagMismatch"]
    assert calendar.live(CAL) == {}


def test_an_abandoned_delete_landing_after_the_event_came_back_changes_nothing(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.abandon.append("delete")
    with pytest.raises(Retryable):
        service.apply(change("event.deleted", 2))
    held_for_its_answer(service, clock)
    assert service.apply(change("event.created", 3, title="De volta")).name == "updated"
    assert calendar.land_abandoned() == ["EtagMismatch"]
    assert calendar.live(CAL)[GID]["summary"] == "De volta"


def test_an_abandoned_update_that_landed_first_is_written_over_after_a_read(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.abandon.append("update")
    with pytest.raises(Retryable):
        service.apply(change("event.updated", 2, title="v2"))
    held_for_its_answer(service, clock)
    assert calendar.land_abandoned() == ["landed"]  # before the next write: the etag is not ours
    calendar.calls.clear()
    outcome = service.apply(change("event.updated", 3, title="v3"))
    assert (outcome.name, outcome.calendar_calls) == ("updated", 3)
    assert calendar.calls == ["update", "get", "update"]  # refused over our etag, read, written over
    assert calendar.live(CAL)[GID]["summary"] == "v3"
    assert store.mappings[("acme-consulting", "u-42", "ev-1001")].etag == calendar.live(CAL)[GID]["etag"]


def test_an_abandoned_insert_landing_after_the_delete_leaves_no_copy(world):
    # An insert cannot be conditional: had the delete been made while it could still land, it
    # would find nothing, and the insert would then leave a copy of a deleted event behind.
    store, calendar, service, clock = world
    calendar.abandon.append("insert")
    with pytest.raises(NoAnswer):
        service.apply(change(updated=1))
    assert service.apply(change("event.deleted", 2)).name == "busy"  # it could still land
    assert calendar.land_abandoned() == ["landed"]
    clock.now += service.no_answer_hold + timedelta(seconds=1)
    assert service.apply(change("event.deleted", 2)).name == "deleted"
    assert calendar.live(CAL) == {}


def test_a_refused_write_with_an_answer_holds_nothing(world):
    store, calendar, service, clock = world
    calendar.faults.append(Retryable("calendar 503 backendError"))  # an answer: nothing can land later
    with pytest.raises(Retryable):
        service.apply(change(updated=1))
    assert service.apply(change(updated=1)).name == "created"


def test_a_write_whose_event_keeps_changing_goes_back_to_the_queue(world):
    from sync.kernel.errors import EtagMismatch

    store, calendar, service, _ = world
    service.apply(change(updated=1))
    calendar.events[(CAL, GID)]["etag"] = '"edited"'  # not our write's etag any more
    original = calendar.get

    def get_then_changed(calendar_id, event_id):  # and edited again between our read and our write
        event = original(calendar_id, event_id)
        calendar.events[(calendar_id, event_id)]["etag"] = '"edited-again"'
        return event

    calendar.get = get_then_changed
    calendar.calls.clear()
    with pytest.raises(EtagMismatch):  # retryable: the message comes back
        service.apply(change("event.updated", 2, title="v2"))
    assert calendar.calls == ["update", "get", "update"]  # bounded: two conditional writes
    calendar.get = original
    mapping = store.mappings[("acme-consulting", "u-42", "ev-1001")]
    assert mapping.lease is None and mapping.google_uncertain
    assert service.apply(change("event.updated", 2, title="v2")).name == "updated"
    assert calendar.live(CAL)[GID]["summary"] == "v2"


# -- a 412's read and rewrite only while the event's lease is still ours ------------------------------
def _first_write_outlives_the_lease(calendar, clock, method, meanwhile):
    """The next ``method`` call takes longer than the lease (the clock moves past it), another
    delivery takes the event over meanwhile (``meanwhile``), then the call answers 412."""
    from sync.kernel.errors import EtagMismatch

    original = getattr(calendar, method)

    def slow_then_refused(*args, **kwargs):
        setattr(calendar, method, original)
        clock.now += timedelta(seconds=61)  # the lease was 60 s
        meanwhile()
        raise EtagMismatch("calendar 412 precondition failed")

    setattr(calendar, method, slow_then_refused)


def test_a_412_after_the_lease_ran_out_does_not_write_an_older_version_over_a_newer_one(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.events[(CAL, GID)]["etag"] = '"edited"'  # edited by hand: our recorded etag is stale
    _first_write_outlives_the_lease(calendar, clock, "update", lambda: service.apply(
        change("event.updated", 3, title="v3")))
    with pytest.raises(Retryable):  # the event is another writer's now: back to the queue
        service.apply(change("event.updated", 2, title="v2"))
    assert calendar.live(CAL)[GID]["summary"] == "v3"
    assert service.apply(change("event.updated", 2, title="v2")).name == "stale"


def test_a_412_after_the_lease_ran_out_does_not_delete_the_event_a_newer_change_wrote(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.events[(CAL, GID)]["etag"] = '"edited"'
    _first_write_outlives_the_lease(calendar, clock, "delete", lambda: service.apply(
        change("event.updated", 3, title="v3")))
    with pytest.raises(Retryable):
        service.apply(change("event.deleted", 2))
    assert calendar.live(CAL)[GID]["summary"] == "v3"


def test_a_412_while_the_lease_holds_renews_it_for_the_read_and_the_rewrite(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.events[(CAL, GID)]["etag"] = '"edited"'
    assert service.apply(change("event.updated", 2, title="v2")).name == "updated"
    assert calendar.calls[-3:] == ["update", "get", "update"]
    assert calendar.live(CAL)[GID]["summary"] == "v2"
