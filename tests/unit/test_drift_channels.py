"""Drift repair's scheduling on fakes (sync/drift/channels.py, schedule.py, scan.py): channels
opened, replaced, renewed and stopped; pings and scans coalesced into one check per connection."""

import hashlib
import json
from datetime import datetime, timedelta, timezone

from sync.drift.channels import ADDRESS_PATH, Channels
from sync.drift.scan import Scan
from sync.drift.schedule import PENDING_WINDOW, Scheduler
from sync.kernel.errors import CalendarUnavailable
from sync.kernel.model import connection_key
from tests.fakes import FakeCalendar, FakeDriftStore, FakePublisher, FakeStore, active_connection

A, U, CAL = "acme-consulting", "u-42", "user@example.com"
BASE = "https://sync.example.com"


def world(policy="restore", base=BASE):
    drift, mappings, calendar = FakeDriftStore(), FakeStore(), FakeCalendar()
    mappings.save_connection(active_connection(A, U, CAL))
    return drift, mappings, calendar, Channels(drift, mappings, calendar, policy=policy, public_base_url=base,
                                               ttl_seconds=3600)


def test_activation_opens_a_channel_at_our_address_and_keeps_only_its_tokens_digest():
    drift, _, calendar, channels = world()
    channels.activated(A, U)
    [(channel_id, opened)] = calendar.channels.items()
    assert opened["calendar_id"] == CAL and opened["address"] == BASE + ADDRESS_PATH
    record = drift.current_channel(A, U)
    assert record is not None and record.id == channel_id and record.calendar_id == CAL
    stored = drift.channel(channel_id)
    assert stored["token_sha256"] == hashlib.sha256(opened["token"].encode()).hexdigest()
    assert opened["token"] not in json.dumps(stored, default=str)
    renew_at = drift.drift_doc(A, U)["channel_renew_at"]
    assert record.expires_at - timedelta(minutes=31) < renew_at < record.expires_at  # before it expires


def test_a_new_channel_replaces_and_stops_the_previous_one():
    drift, _, calendar, channels = world()
    channels.open(A, U)
    first = drift.current_channel(A, U)
    channels.open(A, U)
    second = drift.current_channel(A, U)
    assert second.id != first.id and list(calendar.channels) == [second.id]
    assert drift.channel(first.id) is None  # its pings are refused from now on


def test_no_address_or_a_refusing_calendar_leaves_it_to_the_scan_and_a_retry():
    drift, _, calendar, channels = world(base="")
    assert channels.open(A, U) == "no_address" and calendar.channels == {}
    drift, _, calendar, channels = world()
    calendar.faults.append(CalendarUnavailable("gone"))
    channels.activated(A, U)  # best effort: never raises
    assert calendar.channels == {} and drift.current_channel(A, U) is None
    assert drift.drift_doc(A, U)["channel_renew_at"] <= datetime.now(timezone.utc) + timedelta(minutes=16)


def test_renew_due_reopens_channels_about_to_expire_and_off_stops_them():
    drift, _, calendar, channels = world()
    channels.open(A, U)
    drift.docs[(A, U)]["channel_renew_at"] = datetime.now(timezone.utc) - timedelta(seconds=1)
    old = drift.current_channel(A, U)
    assert channels.renew_due() == {"drift_channels_opened": 1}
    assert drift.current_channel(A, U).id != old.id
    off = Channels(drift, channels.mappings, calendar, policy="off", public_base_url=BASE)
    assert off.renew_due() == {"drift_channels_stopped": 1}
    assert calendar.channels == {} and drift.current_channel(A, U) is None


def test_a_forgotten_channel_is_stopped_with_the_grant_it_was_opened_with():
    drift, _, calendar, channels = world()
    channels.open(A, U)
    record = drift.current_channel(A, U)
    channels.stop_forgotten(A, U, "local_tokens/x", record)
    assert calendar.channels == {}


def test_a_burst_of_pings_schedules_one_check_until_it_starts():
    drift, bulk = FakeDriftStore(), FakePublisher()
    scheduler = Scheduler(drift, bulk)
    assert [scheduler.schedule(A, U, "ping") for _ in range(50)] == [True] + [False] * 49
    [(data, key, attributes)] = bulk.messages
    assert json.loads(data) == {"schema": 1, "kind": "drift_check", "account_id": A, "user_id": U, "reason": "ping"}
    assert key == f"{A}/{U}/~drift" and attributes["kind"] == "drift_check"
    drift.pending[(A, U)] -= PENDING_WINDOW  # its job was lost: the next ping schedules again
    assert scheduler.schedule(A, U, "ping")


def test_a_failed_publish_leaves_no_marker_behind():
    drift, bulk = FakeDriftStore(), FakePublisher()
    bulk.fail = True
    try:
        Scheduler(drift, bulk).schedule(A, U, "ping")
    except Exception:
        pass
    assert (A, U) not in drift.pending


def test_the_scan_enrols_connections_it_did_not_know_and_checks_those_due():
    drift, bulk = FakeDriftStore(), FakePublisher()
    drift.active = [(A, U), ("other", "u-1")]
    drift.enroll("other", "u-1", datetime.now(timezone.utc) - timedelta(minutes=1))  # due now
    scan = Scan(drift, Scheduler(drift, bulk), scan_minutes=60)
    assert scan.scan_due() == {"drift_scans_started": 1, "drift_enrolled": 1}
    assert connection_key(A, U) in drift.enrolled()
    assert [json.loads(d)["user_id"] for d, _, _ in bulk.messages] == ["u-1"]
    assert drift.docs[("other", "u-1")]["next_scan_at"] > datetime.now(timezone.utc) + timedelta(minutes=59)
    assert Scan(drift, Scheduler(drift, bulk), policy="off").scan_due() == {}
