"""Guests get exactly the mails a person would send (docs/guests.md#guest-mails-exactly-once), on fakes:
which writes mail, with which sendUpdates, and that no retry, duplicate or crash mails twice.

The fake Calendar records every write that took effect with its sendUpdates (``landed``); Google
mails the guests of each one sent with ``all`` / ``externalOnly`` (``mailing``)."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sync.apply.mail_policy import Mail, guest_view, version_policy
from sync.apply.service import SyncService
from sync.drift.check import DriftCheck
from sync.kernel.errors import Retryable
from sync.kernel.model import Mapping, google_event_id
from sync.kernel.payload import parse_change
from sync.kernel.planner import event_body
from tests.fakes import FakeCalendar, FakeDriftStore, FakeStore, active_connection
from tests.helpers import payload

A, U, CAL = "acme-consulting", "u-42", "user@example.com"
GID = google_event_id(A, U, "ev-1001")
GUESTS = [{"email": "cliente@example.com"}, {"email": "socia@example.org", "optional": True}]
KEY = (A, U, "ev-1001")
SAO_PAULO = "America/Sao_Paulo"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 20, 13, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


class Store(FakeStore, FakeDriftStore):
    def __init__(self):
        FakeStore.__init__(self)
        FakeDriftStore.__init__(self)
        self.docs[(A, U)] = {"account_id": A, "user_id": U}


@pytest.fixture
def world():
    store, calendar, clock = Store(), FakeCalendar(), Clock()
    store.save_connection(active_connection(A, U, CAL))
    return store, calendar, SyncService(store, calendar, lease_seconds=60, clock=clock, send_updates="none"), clock


def change(kind="event.updated", updated=1, **fields):
    fields.setdefault("attendees", GUESTS)
    fields.setdefault("notify_attendees", "all")
    if kind == "event.deleted":
        raw = payload(kind, updated=updated)
        if fields["notify_attendees"] is not None and "keep_policy" not in fields:
            raw["event"]["notify_attendees"] = fields["notify_attendees"]
        return parse_change(raw, f"wh-del-{updated}")
    fields.pop("keep_policy", None)
    return parse_change(payload(kind, updated=updated, **fields), f"wh-{kind}-{updated}")


def body_of(**fields):
    return event_body(change(**fields), GID)


# -- the pure decision --------------------------------------------------------------------------------
@pytest.mark.parametrize(("notify", "default", "expected"), [
    ("all", "none", "all"), ("external", "all", "externalOnly"), ("none", "all", "none"),
    (None, "externalOnly", "externalOnly"), (None, "none", "none")])
def test_a_versions_policy_is_its_notify_attendees_else_send_updates(notify, default, expected):
    assert version_policy(change(notify_attendees=notify), default) == expected


def test_a_delete_without_a_policy_follows_the_last_applied_versions_own():
    mapping = Mapping("ev-1001", GID, notify="all")
    assert version_policy(change("event.deleted", 2, notify_attendees=None), "none", mapping) == "all"
    assert version_policy(change("event.deleted", 2, notify_attendees="none"), "all", mapping) == "none"
    assert version_policy(change("event.deleted", 2, notify_attendees=None), "externalOnly",
                          Mapping("ev-1001", GID)) == "externalOnly"  # nothing kept: SEND_UPDATES


@pytest.mark.parametrize("edit", [{"reminders_minutes": [5]}, {"color": 3}, {"busy": False},
                                  {"visibility": "private"}, {"status": "tentative"},
                                  {"attendees": [{"email": "CLIENTE@example.com"}, GUESTS[1]]},
                                  {"start": {"date_time": "2026-11-25T14:00:00-03:00", "time_zone": SAO_PAULO},
                                   "end": {"date_time": "2026-11-25T18:30:00Z", "time_zone": SAO_PAULO}}])
def test_what_guests_do_not_see_is_written_with_none(edit):
    mail = Mail("all", body_of(updated=2, **edit), body_of())
    assert mail.blind == "none"


@pytest.mark.parametrize("edit", [{"title": "Remarcada"}, {"description": "Pauta"}, {"location": "Sala 2"},
                                  {"start": {"date_time": "2026-11-25T15:00:00", "time_zone": "America/Sao_Paulo"}},
                                  {"recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"]},
                                  {"attendees": GUESTS[:1]},
                                  {"attendees": [GUESTS[0], {**GUESTS[1], "optional": False}]}])
def test_what_guests_see_is_written_with_the_versions_policy(edit):
    assert Mail("externalOnly", body_of(updated=2, **edit), body_of()).blind == "externalOnly"
    assert Mail("none", body_of(updated=2, **edit), body_of()).blind == "none"  # none is none, ever


def test_the_conference_is_something_guests_see():
    plain = body_of()
    meet = {**plain, "conferenceData": {"createRequest": {"requestId": "r", "conferenceSolutionKey":
                                                          {"type": "hangoutsMeet"}}}}
    google = {**plain, "conferenceData": {"conferenceId": "abc-defg-hij",
                                          "conferenceSolution": {"key": {"type": "hangoutsMeet"}}}}
    assert Mail("all", meet, plain).blind == "all" and Mail("all", plain, google).blind == "all"
    assert guest_view(meet) == guest_view(google)  # created as asked: the same conference to its guests


def test_over_what_calendar_shows_already_applied_is_nothing_to_write():
    body = body_of(updated=2, title="Remarcada")
    mail = Mail("all", body, body_of(), uncertain=True)
    assert mail.must_read and not Mail("all", body, body_of()).must_read
    assert mail.over({**body, "etag": '"9"'}) is None  # this very version: nothing
    assert mail.over({**body_of(updated=2, title="Remarcada", color=4)}) == "none"  # only the colour to fix
    assert mail.over(body_of()) == "all"  # the older version: the change still to tell
    assert mail.over({**body, "status": "cancelled"}) == "all"  # brought back: invited again
    assert Mail("all").over({"status": "cancelled"}) is None and Mail("all").over(body) == "all"  # deletes


# -- the service: one mail per change guests see ------------------------------------------------------
def test_each_change_guests_see_is_one_mail_and_the_rest_none(world):
    store, calendar, service, _ = world
    assert service.apply(change(updated=1)).name == "created"
    assert service.apply(change(updated=2, title="Remarcada")).name == "updated"
    service.apply(change(updated=3, title="Remarcada", reminders_minutes=[5], color=2, busy=False,
                         visibility="private"))
    service.apply(change(updated=4, title="Remarcada", reminders_minutes=[5], color=2, busy=False,
                         visibility="private"), rewrite_equal=True)
    assert service.apply(change(updated=4, title="Remarcada")).name == "duplicate"  # a duplicate webhook: no call
    service.apply(change("event.deleted", 5, notify_attendees=None))  # follows version 4's policy
    assert calendar.sent == [("insert", GID, "all"), ("update", GID, "all"), ("update", GID, "none"),
                             ("update", GID, "none"), ("delete", GID, "all")]
    assert calendar.calls == ["insert", "update", "update", "update", "delete"]  # one call per change


def test_notify_attendees_none_and_send_updates_none_mail_nobody_ever(world):
    _, calendar, service, _ = world
    service.apply(change(updated=1, notify_attendees="none"))
    service.apply(change(updated=2, title="Outra", notify_attendees="none"))
    service.apply(change("event.deleted", 3, notify_attendees=None))
    service.apply(change("event.created", 4, event_id="ev-2", notify_attendees=None))  # SEND_UPDATES=none
    assert calendar.sent and calendar.mailing() == []


def test_external_is_externalonly_and_send_updates_is_the_default(world):
    store, calendar, _, clock = world
    service = SyncService(store, calendar, lease_seconds=60, clock=clock, send_updates="externalOnly")
    service.apply(change(updated=1, notify_attendees="external"))
    service.apply(change(updated=2, title="Outra", notify_attendees=None))
    assert calendar.mailing() == [("insert", "externalOnly"), ("update", "externalOnly")]
    assert store.mappings[KEY].notify == "externalOnly"


def test_a_delete_follows_the_last_applied_version_not_send_updates(world):
    store, calendar, service, _ = world  # SEND_UPDATES=none
    service.apply(change(updated=1, notify_attendees="all"))
    assert store.mappings[KEY].notify == "all"
    service.apply(change("event.deleted", 2, notify_attendees=None))  # a webhook or a reconcile delete
    assert calendar.mailing() == [("insert", "all"), ("delete", "all")]
    service.apply(change("event.created", 3, notify_attendees="none"))  # brought back, quietly
    service.apply(change("event.deleted", 4, notify_attendees=None))
    assert calendar.mailing() == [("insert", "all"), ("delete", "all")]


def test_a_calendar_switch_moves_without_mail(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    store.save_connection(active_connection(A, U, "new@example.com"))
    service.apply(change(updated=2, reminders_minutes=[1]))  # moved first, then written
    assert calendar.sent[1:] == [("move", GID, "none"), ("update", GID, "none")]


# -- ambiguous writes: read first, never mail twice ---------------------------------------------------
def applied_then_503(service, calendar, c):
    """``c`` applied by Calendar, which then answers 503: the worker cannot tell it took effect."""
    calendar.faults_after.append(Retryable("calendar 503 backendError"))
    with pytest.raises(Retryable):
        service.apply(c)


def test_an_insert_answered_503_after_it_was_applied_is_not_sent_again(world):
    store, calendar, service, _ = world
    applied_then_503(service, calendar, change(updated=1))
    assert store.mappings[KEY].google_uncertain
    calendar.calls.clear()
    assert service.apply(change(updated=1)).name == "already_applied"  # the redelivery
    assert calendar.calls == ["get"] and calendar.mailing() == [("insert", "all")]
    mapping = store.mappings[KEY]
    assert mapping.google_exists and not mapping.google_uncertain and mapping.etag == calendar.events[(CAL, GID)][
        "etag"]
    service.apply(change(updated=2, title="Depois"))  # the next change: the steady state again
    assert calendar.calls == ["get", "update"] and calendar.mailing()[-1] == ("update", "all")


def test_an_update_answered_503_after_it_was_applied_is_not_sent_again(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    applied_then_503(service, calendar, change(updated=2, title="Remarcada"))
    calendar.calls.clear()
    assert service.apply(change(updated=2, title="Remarcada")).name == "already_applied"
    assert calendar.calls == ["get"] and calendar.mailing() == [("insert", "all"), ("update", "all")]


def test_an_update_refused_503_before_it_was_applied_is_sent_once_after_the_read(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    calendar.faults.append(Retryable("calendar 503 backendError"))  # refused: nothing applied
    with pytest.raises(Retryable):
        service.apply(change(updated=2, title="Remarcada"))
    calendar.calls.clear()
    assert service.apply(change(updated=2, title="Remarcada")).name == "updated"
    assert calendar.calls == ["get", "update"] and calendar.mailing() == [("insert", "all"), ("update", "all")]


def test_an_uncertain_write_that_would_mail_nobody_is_not_read_first(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    applied_then_503(service, calendar, change(updated=2, reminders_minutes=[5]))
    calendar.calls.clear()
    # sendUpdates=none: no read first; over the etag it landed on: 412, read, this very version there
    assert service.apply(change(updated=2, reminders_minutes=[5])).name == "already_applied"
    assert calendar.calls == ["update", "get"] and calendar.mailing() == [("insert", "all")]


def test_a_delete_answered_503_after_it_was_applied_is_one_cancellation(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    applied_then_503(service, calendar, change("event.deleted", 2))
    calendar.calls.clear()
    assert service.apply(change("event.deleted", 2)).name == "deleted_already"
    assert calendar.calls == ["get"] and calendar.mailing() == [("insert", "all"), ("delete", "all")]
    assert [m for m, _, _ in calendar.sent] == ["insert", "delete"]  # no second delete sent at all


def test_a_duplicate_webhook_after_a_503_mails_nobody_again(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    applied_then_503(service, calendar, change(updated=2, title="Remarcada"))
    duplicate = parse_change(payload("event.updated", updated=2, title="Remarcada", attendees=GUESTS,
                                     notify_attendees="all"), "another-webhook-id")
    assert service.apply(duplicate).name == "already_applied"
    assert service.apply(change(updated=2, title="Remarcada")).name == "duplicate"  # the first one's redelivery
    assert calendar.mailing() == [("insert", "all"), ("update", "all")]


class Killed(BaseException):
    """The worker's process dies: nothing after the Calendar call runs."""


def test_a_redelivery_after_the_worker_was_killed_mails_nobody_again(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.faults_after.append(Killed())
    service.leases.release = lambda *a, **k: True  # a dead process releases nothing: its lease stays
    with pytest.raises(Killed):
        service.apply(change(updated=2, title="Remarcada"))
    del service.leases.release
    assert store.mappings[KEY].lease is not None and not store.mappings[KEY].google_uncertain
    clock.now += timedelta(seconds=61)  # the lease ran out: Pub/Sub redelivers
    calendar.calls.clear()
    assert service.apply(change(updated=2, title="Remarcada")).name == "already_applied"
    assert calendar.calls == ["get"] and calendar.mailing() == [("insert", "all"), ("update", "all")]
    assert store.mappings[KEY].lease is None


def test_a_write_abandoned_on_a_timeout_that_lands_later_is_not_sent_again(world):
    store, calendar, service, clock = world
    service.apply(change(updated=1))
    calendar.abandon.append("update")
    with pytest.raises(Retryable):  # NoAnswer
        service.apply(change(updated=2, title="Remarcada"))
    assert calendar.land_abandoned() == ["landed"]  # Google applied it (and mailed) after all
    clock.now += timedelta(seconds=service.no_answer_hold.total_seconds() + 1)
    assert service.apply(change(updated=2, title="Remarcada")).name == "already_applied"
    assert calendar.mailing() == [("insert", "all"), ("update", "all")]


def test_a_409_on_insert_that_finds_this_version_writes_nothing(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    store.mappings[KEY] = replace(store.mappings[KEY], version=None, google_exists=False, applied=None)  # lost
    calendar.calls.clear()
    assert service.apply(change(updated=1)).name == "already_applied"
    assert calendar.calls == ["insert", "get"] and calendar.mailing() == [("insert", "all")]


def test_a_412_rewrite_decides_over_what_it_read(world):
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    calendar.events[(CAL, GID)].update(colorId="5", etag='"by-hand"')  # an invisible edit meanwhile
    service.apply(change(updated=2, reminders_minutes=[5]))  # 412, read, rewrite: nothing guests see
    calendar.events[(CAL, GID)].update(summary="À mão", etag='"by-hand-2"')
    service.apply(change(updated=3, reminders_minutes=[10]))  # 412, read: the title guests saw changes back
    assert calendar.sent[1:] == [("update", GID, "none"), ("update", GID, "none"), ("update", GID, "none"),
                                 ("update", GID, "all")]


# -- drift restores --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("edit", "expected"), [({"summary": "Mudado à mão"}, "all"), ({"status": "cancelled"}, "all"),
                                                ({"colorId": "7"}, "none"), ({"reminders": {"useDefault": False}},
                                                                             "none")])
def test_a_restore_mails_only_when_it_changes_what_guests_see(world, edit, expected):
    store, calendar, service, _ = world
    service.apply(change(updated=1, notify_attendees=None))  # SEND_UPDATES below: the event's policy
    with calendar.lock:
        calendar.events[(CAL, GID)].update(edit, etag='"hand"')
        calendar._bump((CAL, GID))
    result = DriftCheck(store, store, calendar, send_updates="all").run(A, U)
    assert result.counts["restored"] == 1
    assert calendar.sent[-1] == ("update", GID, expected)


def test_the_policy_a_delete_follows_is_kept_in_the_stored_mapping():
    from sync.adapters.firestore.base import mapping_from_doc, mapping_to_doc

    mapping = Mapping("ev-1001", GID, notify="externalOnly")
    assert mapping_from_doc(mapping_to_doc(mapping)).notify == "externalOnly"
    assert mapping_from_doc({k: v for k, v in mapping_to_doc(mapping).items() if k != "notify"}).notify is None


def test_an_older_version_after_a_newer_ones_unrecorded_write_is_not_written_back(world):
    """Version 3 got a 503 once applied; version 2 arrives before its redelivery: Calendar already shows
    a newer version of ours, so version 2 is obsolete and nobody hears of it."""
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    applied_then_503(service, calendar, change(updated=3, title="Terceira"))
    assert store.mappings[KEY].attempted == change(updated=3).version
    calls = len(calendar.calls)
    assert service.apply(change(updated=2, title="Segunda")).name == "stale"  # no call at all
    assert len(calendar.calls) == calls and calendar.events[(CAL, GID)]["summary"] == "Terceira"
    assert service.apply(change(updated=3, title="Terceira")).name == "already_applied"
    assert store.mappings[KEY].attempted is None
    assert calendar.mailing() == [("insert", "all"), ("update", "all")]
    # Had the mapping lost that knowledge, the read before the rewrite would still refuse to go back.
    store.mappings[KEY] = replace(store.mappings[KEY], version=change(updated=1).version, google_uncertain=True)
    assert service.apply(change(updated=2, title="Segunda")).name == "superseded"
    assert calendar.mailing() == [("insert", "all"), ("update", "all")]


def test_a_newer_versions_unrecorded_delete_is_not_undone_by_an_older_version(world):
    """Version 5 and the delete (6) both got a 503 once applied; version 5's redelivery must not bring
    the event back (an invitation, then a second cancellation)."""
    store, calendar, service, _ = world
    service.apply(change(updated=1))
    for step in (change(updated=5, title="Quinta"), change("event.deleted", 6, notify_attendees=None)):
        applied_then_503(service, calendar, step)
    assert service.apply(change(updated=5, title="Quinta")).name == "stale"
    assert service.apply(change("event.deleted", 6, notify_attendees=None)).name == "deleted_already"
    assert calendar.mailing() == [("insert", "all"), ("update", "all"), ("delete", "all")]


def test_a_delete_after_a_write_never_recorded_still_reaches_its_guests(world):
    """The insert landed (guests invited) but its result was never recorded: the delete without a
    policy follows the policy the claim kept, not SEND_UPDATES=none."""
    store, calendar, service, _ = world
    applied_then_503(service, calendar, change(updated=1))
    assert store.mappings[KEY].notify == "all" and store.mappings[KEY].version is None
    assert service.apply(change("event.deleted", 2, notify_attendees=None)).name == "deleted"
    assert calendar.mailing() == [("insert", "all"), ("delete", "all")]


def test_removing_events_on_disconnect_mails_nobody_whatever_their_policy():
    from tests.unit.test_connections import CAL as CCAL
    from tests.unit.test_connections import A as CA
    from tests.unit.test_connections import U as CU
    from tests.unit.test_connections import World

    world = World()
    world.service.send_updates = "all"
    world.connect()
    for i in range(3):
        world.service.apply(parse_change(payload("event.created", account_id=CA, user_id=CU, event_id=f"ev-{i}",
                                                 attendees=GUESTS, notify_attendees="all"), f"wh-{i}"))
    assert world.disconnect.request(CA, CU, remove_events=True).record["removed"] == 3
    assert world.calendar.live(CCAL) == {}
    assert [m for m, _ in world.calendar.mailing()] == ["insert"] * 3  # the invitations, no cancellation


# -- Google Meet and guest mails (docs/guests.md#guest-mails-exactly-once, docs/events.md#google-meet) --------
MEET = {"conference": {"type": "google_meet"}}


def test_a_meet_events_invisible_changes_mail_nobody_and_its_conference_changes_are_one_update(world):
    """The conference is part of what guests see: adding it is one update, keeping it through changes of
    colour or reminders mails nobody, removing it is one update."""
    _, calendar, service, _ = world
    service.apply(change(updated=1))
    service.apply(change(updated=2, **MEET))  # a Meet added: guests see a new link
    service.apply(change(updated=3, color=5, reminders_minutes=[10], **MEET))  # the same conference kept
    service.apply(change(updated=4, color=5, reminders_minutes=[10], **MEET), rewrite_equal=True)
    service.apply(change(updated=5, color=5, reminders_minutes=[10]))  # the Meet removed
    assert calendar.sent == [("insert", GID, "all"), ("update", GID, "all"), ("update", GID, "none"),
                             ("update", GID, "none"), ("update", GID, "all")]


def test_a_meet_created_with_the_event_is_one_invitation_and_a_colour_change_mails_nobody(world):
    _, calendar, service, _ = world
    service.apply(change(updated=1, **MEET))
    service.apply(change(updated=2, color=3, **MEET))
    assert calendar.sent == [("insert", GID, "all"), ("update", GID, "none")]


def test_a_conference_asked_for_again_after_a_hand_removal_is_no_second_mail_for_the_version(world):
    """Removed by hand in Google, the conference is asked for anew by a second write of the same
    version: guests heard of that version with the first write, so the second mails nobody."""
    _, calendar, service, _ = world
    service.apply(change(updated=1, **MEET))
    calendar.events[(CAL, GID)].pop("conferenceData")  # the owner removed the Meet in Google
    service.apply(change(updated=2, title="Remarcada", **MEET))
    assert calendar.sent == [("insert", GID, "all"), ("update", GID, "all"), ("update", GID, "none")]
    assert "conferenceData" in calendar.events[(CAL, GID)]  # a new conference, under version 2's request
