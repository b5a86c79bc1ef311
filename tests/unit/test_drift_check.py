"""The drift check (sync/drift/check.py) on fakes: what counts as drift, what restore and report
do, and that our own writes and writes in flight never cause a rewrite."""

import copy
from collections import namedtuple
from datetime import datetime, timedelta, timezone

import pytest

from sync.apply.service import SyncService
from sync.drift.check import DriftCheck
from sync.drift.compare import same_content
from sync.kernel.model import Lease, Version, google_event_id
from sync.kernel.payload import parse_change
from sync.kernel.ports import CheckState
from tests.fakes import FakeCalendar, FakeDriftStore, FakeStore, active_connection
from tests.helpers import payload

A, U, CAL = "acme-consulting", "u-42", "user@example.com"


class Calendar(FakeCalendar):
    """FakeCalendar (events.list with sync tokens) and a person's hand in Google Calendar."""

    def by_hand(self, event_id, **fields):
        gid = google_event_id(A, U, event_id)
        with self.lock:
            self.events[(CAL, gid)].update(fields, etag=self._etag())
            self._bump((CAL, gid))

    def event(self, event_id):
        return self.events[(CAL, google_event_id(A, U, event_id))]


Notice = namedtuple("Notice", "event_id kind restored")


class Store(FakeStore, FakeDriftStore):
    """The mappings and the drift state of one connection in one fake (both ports)."""

    def __init__(self):
        FakeStore.__init__(self)
        FakeDriftStore.__init__(self)
        self.docs[(A, U)] = {"account_id": A, "user_id": U}  # enrolled

    @property
    def token(self):
        return self.docs[(A, U)].get("sync_token")

    @token.setter
    def token(self, value):
        self.docs[(A, U)]["sync_token"] = value
        self.docs[(A, U)]["sync_calendar_id"] = CAL if value else None

    @property
    def check_lease(self):
        return self.docs[(A, U)].get("check_lease_id")

    @check_lease.setter
    def check_lease(self, value):
        self.docs[(A, U)].update(check_lease_id=value,
                                 check_lease_until=datetime.now(timezone.utc) + timedelta(minutes=1))

    @property
    def notices(self):
        """The event.drift_repaired notifications staged, in order."""
        return [Notice(n.data["event_id"], n.data["kind"], n.data["restored"]) for n in self.notifications
                if n.type == "event.drift_repaired"]

    @property
    def mappings_(self):
        return {e: m for (a, u, e), m in self.mappings.items() if (a, u) == (A, U)}


@pytest.fixture
def world():
    store, calendar = Store(), Calendar()
    store.save_connection(active_connection(A, U, CAL))
    service = SyncService(store, calendar, lease_seconds=60)
    return store, calendar, service


def apply(service, kind="event.created", event_id="ev-1", updated=0, **fields):
    outcome = service.apply(parse_change(payload(kind, account_id=A, user_id=U, event_id=event_id, updated=updated,
                                                 **fields), "wh"))
    assert outcome.acknowledge, outcome
    return outcome


def check(store, calendar, policy="restore"):
    return DriftCheck(store, store, calendar, policy=policy).run(A, U)


def writes(calendar):
    return [c for c in calendar.calls if c != "list"]


def test_our_own_writes_are_recognised_and_cost_one_listing(world):
    store, calendar, service = world
    for i in range(5):
        apply(service, event_id=f"ev-{i}")
    apply(service, "event.updated", event_id="ev-1", updated=1, title="Novo")
    apply(service, "event.deleted", event_id="ev-2", updated=1)
    calendar.calls.clear()
    result = check(store, calendar)
    assert calendar.calls == ["list"] and result.calendar_calls == 1
    assert result.counts["ours"] == 4 and result.counts["not_live"] == 1 and not store.notices
    assert check(store, calendar).counts["ours"] == 0  # the sync token: nothing changed since


@pytest.mark.parametrize("edit", [{"summary": "Mudado à mão"},
                                  {"start": {"dateTime": "2026-11-25T18:00:00Z"}},
                                  {"status": "cancelled"}])
def test_a_hand_edit_or_delete_is_restored_with_one_call_and_a_notice(world, edit):
    store, calendar, service = world
    apply(service)
    written = copy.deepcopy(calendar.event("ev-1"))
    calendar.by_hand("ev-1", **edit)
    calendar.calls.clear()
    result = check(store, calendar)
    assert writes(calendar) == ["update"] and result.counts["restored"] == 1
    restored = calendar.event("ev-1")
    assert same_content(restored, written) and restored["status"] == "confirmed"
    [notice] = store.notices
    assert (notice.event_id, notice.kind, notice.restored) == ("ev-1", "deleted" if "status" in edit else "edited",
                                                              True)
    assert store.mappings_["ev-1"].etag == restored["etag"] and store.mappings_["ev-1"].lease is None
    calendar.calls.clear()
    assert check(store, calendar).counts["ours"] == 1 and writes(calendar) == []  # the restore's own ping


def test_report_only_notifies_once_and_writes_nothing(world):
    store, calendar, service = world
    apply(service)
    calendar.by_hand("ev-1", summary="Mudado")
    calendar.calls.clear()
    assert check(store, calendar, "report").counts["reported"] == 1
    assert writes(calendar) == [] and calendar.event("ev-1")["summary"] == "Mudado"
    assert [(n.kind, n.restored) for n in store.notices] == [("edited", False)]
    store.token = None  # a full listing sees the edited event again: not reported twice
    assert check(store, calendar, "report").counts["ours"] == 1 and len(store.notices) == 1
    apply(service, "event.updated", updated=1, title="Da plataforma")  # the platform still wins
    assert calendar.event("ev-1")["summary"] == "Da plataforma"


def test_off_does_nothing(world):
    store, calendar, service = world
    apply(service)
    calendar.by_hand("ev-1", summary="Mudado")
    calendar.calls.clear()
    assert check(store, calendar, "off").name == "drift_off" and calendar.calls == []


def test_an_event_being_written_is_left_to_the_worker_and_looked_at_again(world):
    store, calendar, service = world
    apply(service)
    calendar.by_hand("ev-1", summary="Mudado")
    key = (A, U, "ev-1")
    held = store.mappings[key]
    store.mappings[key] = held.__class__(**{**held.__dict__, "lease": Lease(
        "worker", Version.parse("2026-11-20T13:00:05Z"), datetime.now(timezone.utc) + timedelta(seconds=30))})
    first = check(store, calendar)
    assert first.counts["busy"] == 1 and writes(calendar) == ["insert"] and store.token is None  # token kept
    store.mappings[key] = held
    assert check(store, calendar).counts["restored"] == 1  # the same change listed again


def test_a_write_not_yet_recorded_is_not_drift(world):
    store, calendar, service = world
    apply(service)
    mapping = store.mappings[(A, U, "ev-1")]
    apply(service, "event.updated", updated=1, title="Mais novo")
    store.mappings[(A, U, "ev-1")] = mapping  # as if the worker wrote v1 but died before recording it
    calendar.calls.clear()
    assert check(store, calendar).counts["busy"] == 1 and writes(calendar) == []


def test_a_changed_etag_with_the_same_content_is_adopted_without_a_call(world):
    store, calendar, service = world
    apply(service)
    calendar.by_hand("ev-1")  # e.g. moved between calendars, or an attendee answered
    calendar.calls.clear()
    assert check(store, calendar).counts["adopted"] == 1 and writes(calendar) == [] and not store.notices
    assert store.mappings_["ev-1"].etag == calendar.event("ev-1")["etag"]


def test_hand_edit_then_platform_change_ends_with_the_platform_version(world):
    store, calendar, service = world
    apply(service)
    calendar.by_hand("ev-1", summary="Mudado")
    apply(service, "event.updated", updated=1, title="Da plataforma")  # lands before the check runs
    calendar.calls.clear()
    result = check(store, calendar)
    assert result.counts["restored"] == 0 and writes(calendar) == []
    assert calendar.event("ev-1")["summary"] == "Da plataforma"


def test_a_restore_holds_the_event_so_a_platform_change_waits_and_then_wins(world):
    store, calendar, service = world
    apply(service)
    calendar.by_hand("ev-1", summary="Mudado")
    seen = []
    original = calendar.update

    def update_during_restore(cal, eid, body, if_match=None, **kw):  # the platform's change arrives mid-restore
        seen.append(service.apply(parse_change(payload("event.updated", account_id=A, user_id=U, event_id="ev-1",
                                                       updated=1, title="Da plataforma"), "wh2")).name)
        return original(cal, eid, body, if_match, **kw)

    calendar.update = update_during_restore
    check(store, calendar)
    calendar.update = original
    assert seen == ["busy"]  # handed back to Pub/Sub…
    apply(service, "event.updated", updated=1, title="Da plataforma")  # …and redelivered
    assert calendar.event("ev-1")["summary"] == "Da plataforma"


def test_an_expired_sync_token_lists_everything_again(world):
    store, calendar, service = world
    apply(service)
    check(store, calendar)
    calendar.by_hand("ev-1", summary="Mudado")
    calendar.expired = True
    result = check(store, calendar)
    assert result.counts["full_listing"] == 1 and result.counts["restored"] == 1 and result.calendar_calls == 3


def test_a_check_already_running_hands_this_one_back(world):
    store, calendar, service = world
    store.check_lease = "other"
    result = check(store, calendar)
    assert not result.acknowledge and result.name == "drift_busy"


def test_times_compare_as_instants_and_foreign_events_do_not_count():
    ours = {"start": {"dateTime": "2026-11-25T14:00:00", "timeZone": "America/Sao_Paulo"}}
    google = {"start": {"dateTime": "2026-11-25T14:00:00-03:00", "timeZone": "America/Sao_Paulo"}}
    assert same_content(google, ours)
    assert not same_content({"start": {"dateTime": "2026-11-25T15:00:00-03:00",
                                       "timeZone": "America/Sao_Paulo"}}, ours)
    from sync.kernel.planner import source_event_id

    copied = {"id": "abcdefghij", "extendedProperties": {"private": {
        "sync_source": "evolutto", "source_account_id": A, "source_user_id": U, "source_event_id": "ev-1"}}}
    assert source_event_id(copied, A, U) is None
    assert source_event_id({**copied, "id": google_event_id(A, U, "ev-1")}, A, U) == "ev-1"
    assert source_event_id({**copied, "id": google_event_id(A, U, "ev-1")}, A, "other") is None


def test_drift_settings_default_and_refuse_bad_values():
    from sync.config import Settings
    from sync.kernel.errors import ConfigError

    s = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"})
    assert (s.drift_policy, s.drift_scan_minutes) == ("restore", 360.0)
    s = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", "DRIFT_POLICY": "report", "DRIFT_SCAN_MINUTES": "30"})
    assert (s.drift_policy, s.drift_scan_minutes) == ("report", 30.0)
    for bad in ({"DRIFT_POLICY": "fix"}, {"DRIFT_SCAN_MINUTES": "0"}, {"DRIFT_SCAN_MINUTES": "often"}):
        with pytest.raises(ConfigError):
            Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", **bad})


def test_a_burst_settles_before_the_check_lists(world):
    store, calendar, service = world
    slept = []
    now = datetime.now(timezone.utc)
    original = store.begin_check

    def begin(a, u, lease, until):
        state = original(a, u, lease, until)
        return CheckState(lease, state.sync_token, state.calendar_id, pending_at=now)

    store.begin_check = begin
    DriftCheck(store, store, calendar, clock=lambda: now, sleep=slept.append, debounce=2.0).run(A, U)
    assert slept == [2.0]


def test_checks_start_at_least_a_debounce_window_apart(world):
    """However the pings come (one now, one a moment later), a connection's checks start at
    least one debounce window apart."""
    store, calendar, service = world
    apply(service)
    t, slept = [datetime(2026, 11, 20, 13, tzinfo=timezone.utc)], []

    def sleep(seconds):
        slept.append(seconds)
        t[0] += timedelta(seconds=seconds)

    drift = DriftCheck(store, store, calendar, clock=lambda: t[0], sleep=sleep, debounce=2.0)
    drift.run(A, U)
    assert slept == []  # nothing pending, no check before: at once
    t[0] += timedelta(seconds=0.5)
    drift.run(A, U)
    assert slept == [1.5]  # the window of the first is not over yet


def test_drift_checks_are_paced_on_the_bulk_budget_behind_live_changes(world):
    from sync.kernel.errors import Retryable
    from sync.kernel.throttle import UserThrottle

    store, calendar, service = world
    apply(service)
    throttle = UserThrottle(per_minute=60, burst=4, clock=lambda: 0.0)  # 2 tokens kept for live changes
    key = active_connection(A, U, CAL).key
    throttle.reserve(key)
    throttle.reserve(key)  # live changes took two: the two left are theirs
    calendar.calls.clear()
    drift = DriftCheck(store, store, calendar, throttle=throttle, max_wait=1.0, sleep=lambda s: None)
    with pytest.raises(Retryable, match="throttled"):
        drift.run(A, U)
    assert calendar.calls == [] and store.check_lease is None
    assert throttle.reserve(key) == 0  # a live change still goes at once


def test_a_restore_meeting_the_usage_limits_is_not_retried_and_is_made_once_writes_go_through(world):
    store, calendar, service = world
    apply(service)
    calendar.by_hand("ev-1", summary="Mudado à mão")
    calendar.usage_limited = True
    result = check(store, calendar)  # no exception: the job is not handed back for it
    assert result.counts["failed"] == 1 and not store.notices and store.mappings_["ev-1"].lease is None
    calendar.usage_limited = False
    calendar.by_hand("ev-1", summary="Mudado de novo")  # still drifted: a later check finds it
    assert check(store, calendar).counts["restored"] == 1
