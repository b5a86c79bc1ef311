"""Calendar's usage limits on the fakes (CONTRACT §10.4, docs/errors-and-limits.md#usage-limits):
403 quotaExceeded parks the change and makes the connection usage_limited once, every later change
is parked without a Calendar call, the maintenance task tries the calendar again after growing
pauses, and a write that goes through makes it active with its parked changes resumed."""

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from sync.apply.parked import resume_parked
from sync.apply.service import SyncService
from sync.connections.status import StatusReport
from sync.kernel import notification as notes
from sync.kernel.errors import AuthRevoked, RateLimited, Retryable
from sync.kernel.jobs import Maintenance
from sync.kernel.model import ConnectionStatus, google_event_id
from sync.kernel.payload import parse_change
from sync.kernel.usage import MAX_PAUSE_SECONDS, pause
from sync.limits.retry import UsageRetry
from tests.fakes import (
    FakeCalendar,
    FakeConnections,
    FakeDisconnectStore,
    FakeDriftStore,
    FakeMoveStore,
    FakePublisher,
    FakeSnapshotStore,
    FakeStore,
    FakeUsageLimits,
    active_connection,
)
from tests.helpers import payload

A, U, CAL = "acme-consulting", "u-42", "user@example.com"
FIRST = 900.0


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 20, 13, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


class World:
    def __init__(self):
        self.clock = Clock()
        self.store, self.calendar, self.live = FakeStore(), FakeCalendar(), FakePublisher()
        self.store.save_connection(active_connection(calendar_id=CAL))
        self.service = SyncService(self.store, self.calendar, lease_seconds=60, clock=self.clock,
                                   usage_first_pause=FIRST)
        self.limits = FakeUsageLimits(self.store)
        self.retry = UsageRetry(self.limits, self.store, lambda: self.service, self.live, first_pause=FIRST,
                                clock=self.clock)
        self.connections = FakeConnections(self.store)

    def apply(self, kind="event.created", updated=1, event_id="ev-1", **fields):
        return self.service.apply(parse_change(payload(kind, event_id=event_id, updated=updated, **fields),
                                               f"wh-{event_id}-{updated}"))

    def conn(self):
        return self.store.get_connection(A, U)

    def usage_notes(self):
        return [n for n in self.store.notifications if n.type == notes.USAGE_LIMITED]

    def deliver_resumed(self):
        """What the live lane carries after a resume, applied as the worker would; outcomes."""
        out = []
        for data, _, _ in list(self.live.messages):
            message = json.loads(data)
            out.append(self.service.apply(parse_change(message, message["webhook_id"])).name)
        self.live.messages.clear()
        return out


def gid(event_id):
    return google_event_id(A, U, event_id)


@pytest.fixture
def world():
    return World()


def test_pauses_double_from_the_first_and_never_pass_two_hours():
    assert [pause(900, n).total_seconds() for n in range(5)] == [900, 1800, 3600, 7200, 7200]
    assert pause(900, 10**6).total_seconds() == MAX_PAUSE_SECONDS
    assert pause(10_000, 0).total_seconds() == MAX_PAUSE_SECONDS
    with pytest.raises(ValueError):
        pause(0, 0)


def test_quota_exceeded_parks_the_change_and_limits_the_connection_once(world):
    world.calendar.usage_limited = True
    outcome = world.apply(updated=1)
    assert (outcome.name, outcome.acknowledge) == ("parked_usage_limited", True)
    conn = world.conn()
    assert conn.status is ConnectionStatus.USAGE_LIMITED
    assert conn.retry_at == world.clock.now + timedelta(seconds=FIRST)
    [note] = world.usage_notes()
    assert note.to_body()["data"]["retry_at"] == notes.rfc3339(conn.retry_at)
    # Every later change is parked on arrival, newest version per event, without a Calendar call.
    calls = len(world.calendar.calls)
    assert world.apply("event.updated", 2, title="v2").name == "park"
    assert world.apply("event.created", 1, event_id="ev-2").name == "park"
    assert world.apply("event.updated", 1).name == "stale"
    assert len(world.calendar.calls) == calls
    assert len(world.usage_notes()) == 1  # one notification per transition
    parked = {m.event_id: m.parked_version.rfc3339 for m in world.store.parked(A, U)}
    assert parked == {"ev-1": payload(updated=2)["event"]["updated_at"],
                      "ev-2": payload(updated=1)["event"]["updated_at"]}


def test_many_changes_meeting_the_limit_at_once_make_one_transition(world):
    world.calendar.usage_limited = True
    threads = [threading.Thread(target=world.apply, kwargs={"event_id": f"ev-{i}"}) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(world.usage_notes()) == 1
    assert len(world.store.parked(A, U)) == 8


def test_rate_limits_keep_their_meaning_no_state_change(world):
    world.calendar.faults.append(RateLimited("calendar 403 rateLimitExceeded", retry_after=3))
    with pytest.raises(RateLimited):
        world.apply()
    assert world.conn().status is ConnectionStatus.ACTIVE and world.conn().retry_at is None
    assert world.store.parked(A, U) == [] and world.usage_notes() == []


def test_nothing_is_tried_before_the_retry_is_due(world):
    world.calendar.usage_limited = True
    world.apply()
    world.clock.advance(FIRST - 1)
    calls = len(world.calendar.calls)
    assert world.retry.retry_due() == {"usage_retried": 0, "usage_resumed": 0, "usage_still_limited": 0}
    assert len(world.calendar.calls) == calls


def test_a_retry_still_limited_moves_out_with_growing_pauses_and_no_new_notification(world):
    world.calendar.usage_limited = True
    world.apply()
    pauses = []
    for _ in range(5):
        world.clock.now = world.conn().retry_at
        before = world.clock.now
        assert world.retry.retry_due()["usage_still_limited"] == 1
        pauses.append((world.conn().retry_at - before).total_seconds())
    assert pauses == [1800, 3600, 7200, 7200, 7200]
    assert world.conn().status is ConnectionStatus.USAGE_LIMITED and world.conn().retry_step == 5
    assert len(world.usage_notes()) == 1
    assert len(world.store.parked(A, U)) == 1  # kept, never dropped or dead-lettered


def test_a_retry_that_writes_resumes_the_connection_and_its_parked_changes_in_version_order(world):
    world.calendar.usage_limited = True
    world.apply("event.created", 1, event_id="ev-1", title="one")
    world.apply("event.created", 3, event_id="ev-2", title="two")
    world.apply("event.updated", 2, event_id="ev-1", title="one v2")
    world.apply("event.created", 5, event_id="ev-3")
    world.apply("event.deleted", 6, event_id="ev-3")
    world.calendar.usage_limited = False
    world.clock.now = world.conn().retry_at
    calls = len(world.calendar.calls)
    assert world.retry.retry_due() == {"usage_retried": 1, "usage_resumed": 1, "usage_still_limited": 0}
    # The try wrote the oldest parked version (ev-1 at v2): one Calendar call.
    assert world.calendar.calls[calls:] == ["insert"]
    assert world.calendar.live(CAL)[gid("ev-1")]["summary"] == "one v2"
    conn = world.conn()
    assert conn.status is ConnectionStatus.ACTIVE and conn.retry_at is None
    [resumed] = [n for n in world.limits.notifications if n.type == notes.RESUMED]
    assert resumed.to_body()["data"] == {"account_id": A, "user_id": U, "calendar_id": CAL}
    # The rest went back through the live lane, oldest version first, each under its own key.
    keys = [key for _, key, _ in world.live.messages]
    assert keys == [f"{A}/{U}/ev-2", f"{A}/{U}/ev-3"]
    assert world.deliver_resumed() == ["created", "tombstone"]
    assert set(world.calendar.live(CAL)) == {gid("ev-1"), gid("ev-2")}
    assert world.store.parked(A, U) == []


def test_two_maintenance_runs_at_once_try_the_calendar_once(world):
    world.calendar.usage_limited = True
    world.apply()
    world.clock.now = world.conn().retry_at
    second = UsageRetry(world.limits, world.store, lambda: world.service, world.live, first_pause=FIRST,
                        clock=world.clock)
    lease_id = "another-run"
    assert world.limits.begin_try(A, U, lease_id, world.clock.now, world.clock.now + timedelta(seconds=60))
    calls = len(world.calendar.calls)
    assert world.retry.try_calendar(A, U) is None and second.try_calendar(A, U) is None
    assert len(world.calendar.calls) == calls
    # A run that died mid-try: its lease runs out and the next run tries.
    world.clock.advance(61)
    assert world.retry.try_calendar(A, U) == "limited"


def test_a_reconnect_while_usage_limited_wins_over_a_retry_in_flight(world):
    world.calendar.usage_limited = True
    world.apply(event_id="ev-1")
    world.apply(event_id="ev-2", updated=2)
    world.calendar.usage_limited = False
    world.clock.now = world.conn().retry_at
    lease_id = "run"
    assert world.limits.begin_try(A, U, lease_id, world.clock.now, world.clock.now + timedelta(seconds=60))
    # The user reconnects meanwhile: active, its activation resumes the parked changes itself.
    world.connections.activate(A, U, CAL, "local_tokens/y", "user@example.com")
    assert world.conn().retry_at is None
    assert not world.limits.resume(A, U, lease_id, notes.resumed(A, U, CAL, (lease_id,)))
    assert world.limits.notifications == []
    assert world.retry.retry_due()["usage_retried"] == 0  # nothing due any more


def test_a_disconnect_while_usage_limited_drops_the_retry(world):
    world.calendar.usage_limited = True
    world.apply()
    connections = FakeConnections(world.store)
    disconnects = FakeDisconnectStore(connections, FakeDriftStore(), FakeSnapshotStore(world.store),
                                      FakeMoveStore(world.store))
    disconnects.begin(A, U, False, world.clock.now)
    world.clock.now += timedelta(seconds=FIRST)
    calls = len(world.calendar.calls)
    assert world.retry.retry_due()["usage_retried"] == 0
    assert len(world.calendar.calls) == calls
    assert world.conn().status is ConnectionStatus.DISCONNECTING


def test_a_try_with_no_verdict_stays_due_and_a_revoked_grant_takes_over(world):
    world.calendar.usage_limited = True
    world.apply()
    world.calendar.usage_limited = False
    world.clock.now = world.conn().retry_at
    world.calendar.faults.append(Retryable("calendar 503"))
    assert world.retry.try_calendar(A, U) == "later"
    assert world.conn().status is ConnectionStatus.USAGE_LIMITED and world.conn().retry_at <= world.clock.now
    world.calendar.faults.append(AuthRevoked("invalid_grant"))
    assert world.retry.try_calendar(A, U) == "other"
    assert world.conn().status is ConnectionStatus.NEEDS_REAUTH and world.conn().retry_at is None
    assert len(world.store.parked(A, U)) == 1


def test_the_maintenance_job_runs_the_retry_and_the_status_route_says_when(world):
    world.calendar.usage_limited = True
    world.apply()
    report = StatusReport(world.connections, {}, removing=lambda a, u: None).status(A, U)
    assert report["status"] == "usage_limited"
    assert report["retry_at"] == notes.rfc3339(world.conn().retry_at)
    assert report["last_error"]["reason"] == "calendar_usage_limits_exceeded"
    world.calendar.usage_limited = False
    world.clock.now = world.conn().retry_at
    outcome = Maintenance([("usage_limits", lambda: world.retry.retry_due)]).run({"kind": "maintenance"})
    assert (outcome.name, outcome.fields["usage_resumed"]) == ("maintenance_done", 1)
    report = StatusReport(world.connections, {}, removing=lambda a, u: None).status(A, U)
    assert (report["status"], report["retry_at"]) == ("active", None)


def test_an_activation_after_a_usage_limit_resumes_like_a_reconnect(world):
    world.calendar.usage_limited = True
    world.apply()
    world.calendar.usage_limited = False
    world.connections.activate(A, U, CAL, "local_tokens/z", "user@example.com")
    assert world.conn().retry_at is None
    assert resume_parked(world.store, world.live, A, U) == 1
    assert world.deliver_resumed() == ["created"]
    assert world.conn().status is ConnectionStatus.ACTIVE


@pytest.mark.parametrize("lang,when", [("pt-BR", "20/11/2026 às 13:15"), ("en", "2026-11-20 at 13:15")])
def test_the_calendar_page_says_it_in_plain_words_with_the_retry_time(lang, when):
    from sync.web import pages

    at = datetime(2026, 11, 20, 10, 15, tzinfo=timezone(timedelta(hours=-3)))
    page, _ = pages.calendars(lang, CAL, [{"id": CAL, "primary": True}], CAL, "csrf", usage_limited_until=at)
    assert f"{when} (UTC)" in page and 'id="usage-limited"' in page
    page, _ = pages.calendars(lang, CAL, [{"id": CAL, "primary": True}], CAL, "csrf")
    assert 'id="usage-limited"' not in page


def test_a_run_that_dies_before_handing_the_parked_changes_back_is_followed_by_one_that_does(world):
    world.calendar.usage_limited = True
    world.apply(event_id="ev-1", updated=1)
    world.apply(event_id="ev-2", updated=2)
    world.calendar.usage_limited = False
    world.clock.now = world.conn().retry_at
    world.live.fail = True  # the queue does not take the parked changes
    assert world.retry.retry_due()["usage_resumed"] == 0
    assert world.conn().status is ConnectionStatus.ACTIVE  # active (and announced) already
    assert [n.type for n in world.limits.notifications] == [notes.RESUMED]
    assert world.store.parked(A, U) and world.live.messages == []
    world.live.fail = False
    assert world.retry.retry_due()["usage_retried"] == 0  # the first run's lease still holds it
    world.clock.advance(121)
    assert world.retry.retry_due() == {"usage_retried": 1, "usage_resumed": 1, "usage_still_limited": 0}
    assert world.deliver_resumed() == ["created"]
    assert world.conn().retry_at is None and world.store.parked(A, U) == []
    assert len(world.limits.notifications) == 1  # announced once
    assert world.retry.retry_due()["usage_retried"] == 0


def test_the_first_pause_is_configured_and_bounded_by_two_hours():
    from sync.bootstrap import Container
    from sync.config import Settings
    from sync.kernel.errors import ConfigError

    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"}).usage_limit_retry_seconds == 900.0
    settings = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", "USAGE_LIMIT_RETRY_SECONDS": "60"})
    assert settings.usage_limit_retry_seconds == 60.0
    container = Container(settings)
    container.override(mappings=FakeStore(), calendars=FakeCalendar(), usage_limits=FakeUsageLimits(FakeStore()),
                       publisher=FakePublisher())
    assert container.sync_service.usage_first_pause == 60.0 and container.usage_retry.first_pause == 60.0
    assert "usage_limits" in [name for name, _ in container.maintenance.tasks]
    for bad in ("0", "-5", "7201", "soon"):
        with pytest.raises(ConfigError):
            Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", "USAGE_LIMIT_RETRY_SECONDS": bad})
