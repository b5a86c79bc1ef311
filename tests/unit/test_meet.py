"""Google Meet (docs/events.md#google-meet) on the fakes: one conference per event and one link across
later versions, retries, redeliveries, snapshot repairs, drift restores and calendar switches; pending
creation followed up on the bulk lane; calendars that cannot host Meet; one notification per conference."""

import json

import pytest

from sync.apply.service import SyncService
from sync.drift.check import DriftCheck
from sync.kernel import conference
from sync.kernel.errors import Retryable
from sync.kernel.model import ConnectionStatus, Version, google_event_id
from sync.kernel.payload import parse_change
from sync.meet.followup import ConferenceFollowUp
from sync.moves.service import Moves
from sync.web import pages
from tests.fakes import FakeCalendar, FakeMoveStore, FakePublisher, active_connection
from tests.helpers import payload
from tests.unit.test_drift_check import Store

A, U, CAL, OTHER = "acme-consulting", "u-42", "user@example.com", "other@example.com"
GID = google_event_id(A, U, "ev-1001")
MEET = {"conference": {"type": "google_meet"}}


class World:
    def __init__(self, can_host_meet=None):
        self.store, self.calendar, self.bulk = Store(), FakeCalendar(), FakePublisher()
        self.connect(CAL, can_host_meet)
        self.service = SyncService(self.store, self.calendar, lease_seconds=60, followups=lambda: self.bulk)
        self.followup = ConferenceFollowUp(self.store, self.calendar)

    def connect(self, calendar_id, can_host_meet=None):
        conn = active_connection(A, U, calendar_id)
        self.store.save_connection(conn.__class__(**{**conn.__dict__, "can_host_meet": can_host_meet}))

    def apply(self, kind="event.created", updated=1, rewrite_equal=False, **fields):
        return self.service.apply(parse_change(payload(kind, account_id=A, user_id=U, updated=updated, **fields),
                                               f"wh-{kind}-{updated}"), rewrite_equal=rewrite_equal)

    def event(self, calendar_id=CAL):
        return self.calendar.events[(calendar_id, GID)]

    def link(self, calendar_id=CAL):
        return self.calendar.join_url(calendar_id, GID)

    @property
    def mapping(self):
        return self.store.mappings[(A, U, "ev-1001")]

    def said(self, kind):
        return [n.data for n in self.store.notifications if n.type == f"event.conference_{kind}"]

    def jobs(self):
        out = [json.loads(d) for d, _, _ in self.bulk.messages]
        self.bulk.messages.clear()
        return out


@pytest.fixture
def world():
    return World()


def test_a_meet_event_is_one_insert_asking_google_for_the_conference_and_the_platform_is_told_once(world):
    outcome = world.apply(**MEET)
    assert (outcome.name, outcome.calendar_calls, world.calendar.calls) == ("created", 1, ["insert"])
    assert world.calendar.conference_versions == [1]
    create = world.event()["conferenceData"]["createRequest"]
    assert create["conferenceSolutionKey"] == {"type": "hangoutsMeet"}
    assert create["requestId"] == conference.request_id(GID, Version.parse("2026-11-20T13:00:01.123Z"))
    (ready,) = world.said("ready")
    assert ready == {"event_id": "ev-1001", "version": "2026-11-20T13:00:01.123Z", "join_url": world.link(),
                     "conference_id": world.event()["conferenceData"]["conferenceId"]}
    assert ready["join_url"].startswith("https://meet.google.com/")
    assert world.mapping.conference_state == conference.READY and world.jobs() == []


def test_redeliveries_retries_and_later_versions_keep_the_same_link_and_say_nothing_more(world):
    world.apply(**MEET)
    link = world.link()
    assert world.apply(**MEET).name == "duplicate"
    world.apply("event.updated", 2, title="Remarcada", **MEET)
    world.apply("event.updated", 3, title="De novo", rewrite_equal=True, **MEET)
    assert world.apply("event.updated", 3, rewrite_equal=True, **MEET).name == "updated"  # a snapshot's repair
    assert world.link() == link and world.event()["summary"] == "Diagnóstico — Cliente X"
    assert len(world.said("ready")) == 1 and world.said("failed") == []
    assert set(world.calendar.conference_versions) == {1}


def test_a_write_whose_answer_was_lost_is_retried_with_the_same_request(world):
    world.calendar.faults_after.append(Retryable("calendar 503"))  # Google created it; the answer got lost
    with pytest.raises(Retryable):
        world.apply(**MEET)
    link = world.link()
    assert link and world.mapping.conference_state == conference.REQUESTED
    # The retry reads the event first (its earlier attempt may have landed, docs/guests.md): this very
    # version is there, conference and all, so nothing is written again and its answer is the read.
    assert world.apply(**MEET).name == "already_applied"
    assert world.link() == link and len(world.said("ready")) == 1


def test_a_version_without_the_field_removes_it_and_adding_it_again_is_a_new_conference(world):
    world.apply(**MEET)
    first = world.link()
    world.apply("event.updated", 2)
    assert "conferenceData" not in world.event() and world.calendar.conference_versions[-1] == 1
    assert world.mapping.conference_state == conference.REMOVED
    world.apply("event.updated", 3)  # still managed: written with version 1, nothing to remove
    world.apply("event.updated", 4, **MEET)
    assert world.link() not in (None, first)
    assert [r["version"] for r in world.said("ready")] == ["2026-11-20T13:00:01.123Z", "2026-11-20T13:00:04.123Z"]


def test_events_without_conferences_are_written_as_before(world):
    world.apply()
    world.apply("event.updated", 2)
    assert world.calendar.conference_versions == [0, 0] and "conferenceData" not in world.event()
    assert world.said("ready") == world.said("failed") == []


def test_a_delete_then_a_newer_create_gets_a_new_conference(world):
    world.apply(**MEET)
    first = world.link()
    world.apply("event.deleted", 2)
    world.apply("event.created", 3, **MEET)
    assert world.event()["status"] == "confirmed" and world.link() not in (None, first)
    assert len(world.said("ready")) == 2


def test_a_pending_conference_is_followed_up_until_ready_and_announced_once(world):
    world.calendar.meet_creation = "pending"
    world.apply(**MEET)
    assert world.mapping.conference_state == conference.PENDING and world.said("ready") == []
    (job,) = world.jobs()
    assert job == {"schema": 1, "kind": "conference_check", "account_id": A, "user_id": U, "event_id": "ev-1001",
                   "version": "2026-11-20T13:00:01.123Z", "chain": job["chain"]}
    assert len(job["chain"]) == 32
    world.calendar.meet_creation = "immediate"
    outcome = world.followup.check(job)
    assert (outcome.name, outcome.acknowledge, outcome.calendar_calls) == ("conference_ready", True, 1)
    assert world.said("ready")[0]["join_url"] == world.link()
    assert world.followup.check(job).name == "conference_settled_already"  # a redelivered job: nothing more
    assert world.apply(**MEET).name == "duplicate" and world.jobs() == []
    world.apply("event.updated", 2, **MEET)  # over the settled event's new etag: the same conference
    assert len(world.said("ready")) == 1 and world.link()


def test_a_pending_conference_still_pending_after_the_last_check_fails_once(world):
    world.calendar.meet_creation, world.calendar.meet_stuck = "pending", True
    world.apply(**MEET)
    (job,) = world.jobs()
    pauses = []
    for _ in range(conference.MAX_CHECKS - 1):
        outcome = world.followup.check(job)
        assert (outcome.name, outcome.acknowledge) == ("conference_pending", False)
        pauses.append(outcome.retry_after)
    assert pauses == sorted(pauses) and pauses[0] < pauses[-1]  # growing pauses
    assert world.followup.check(job).name == "conference_failed"
    assert world.said("failed") == [{"event_id": "ev-1001", "version": "2026-11-20T13:00:01.123Z",
                                     "reason": "creation_still_pending"}]
    assert world.followup.check(job).name == "conference_settled_already"


def test_a_creation_that_settles_as_failure_is_told_once(world):
    world.calendar.meet_creation, world.calendar.meet_outcome = "pending", "failure"
    world.apply(**MEET)
    (job,) = world.jobs()
    world.calendar.meet_creation = "immediate"
    assert world.followup.check(job).name == "conference_failed"
    world.apply("event.updated", 2, **MEET)  # the same request again: ignored, nothing more to say
    assert [f["reason"] for f in world.said("failed")] == ["creation_failed"] and world.said("ready") == []


def test_a_lost_follow_up_is_published_again_by_the_redelivered_write(world):
    world.calendar.meet_creation = "pending"
    world.bulk.fail = True
    with pytest.raises(Retryable):
        world.apply(**MEET)
    world.bulk.fail = False
    assert world.apply(**MEET).name == "duplicate"
    assert [j["kind"] for j in world.jobs()] == ["conference_check"]


def test_a_calendar_that_cannot_host_meet_per_its_list_entry_gets_the_appointment_without_it():
    world = World(can_host_meet=False)
    outcome = world.apply(**MEET)
    assert (outcome.name, outcome.calendar_calls) == ("created", 1)
    assert "conferenceData" not in world.event() and world.calendar.conference_versions == [0]
    assert world.said("failed") == [{"event_id": "ev-1001", "version": "2026-11-20T13:00:01.123Z",
                                     "reason": "calendar_cannot_host_meet"}]
    world.apply("event.updated", 2, **MEET)
    assert len(world.said("failed")) == 1 and world.calendar.conference_versions == [0, 0]


def test_google_s_invalid_conference_type_is_treated_the_same(world):
    world.calendar.meet_refused.add(CAL)
    outcome = world.apply(**MEET)
    assert (outcome.name, outcome.calendar_calls, world.calendar.calls) == ("created", 2, ["insert", "insert"])
    assert world.event()["summary"] and "conferenceData" not in world.event()
    assert [f["reason"] for f in world.said("failed")] == ["calendar_cannot_host_meet"]
    assert world.apply("event.updated", 2, **MEET).calendar_calls == 1  # not asked for again there
    assert len(world.said("failed")) == 1


def test_a_switch_to_a_calendar_that_can_host_meet_brings_it_with_the_next_version():
    world = World(can_host_meet=False)
    world.apply(**MEET)
    world.connect(OTHER, can_host_meet=True)
    world.apply("event.updated", 2, **MEET)  # moved over, then written: now with a conference
    assert world.link(OTHER) and len(world.said("ready")) == 1


def test_a_calendar_switch_moves_the_conference_and_keeps_the_link(world):
    world.apply(**MEET)
    link = world.link()
    moves = Moves(FakeMoveStore(world.store), world.bulk, world.service)
    world.connect(OTHER, can_host_meet=True)
    moves.start(A, U, CAL, OTHER)
    for job in world.jobs():
        moves.run(job)
    assert world.link(OTHER) == link
    world.apply("event.updated", 2, **MEET)
    assert world.link(OTHER) == link and len(world.said("ready")) == 1


def test_drift_repair_does_not_take_our_conference_for_a_hand_edit_and_a_restore_keeps_it(world):
    world.calendar.meet_creation = "pending"
    world.apply(**MEET)
    world.calendar.meet_creation = "immediate"
    world.followup.check(world.jobs()[0])  # settling gave the event a new etag
    link = world.link()
    drift = DriftCheck(world.store, world.store, world.calendar)
    drift.run(A, U)
    assert world.store.notifications[-1].type == "event.conference_ready"  # no drift_repaired
    world.event().update(summary="Editado à mão", etag='"hand"')
    world.calendar._bump((CAL, GID))
    drift.run(A, U)
    assert world.store.notifications[-1].type == "event.drift_repaired"
    assert world.event()["summary"] == "Diagnóstico — Cliente X" and world.link() == link


def test_request_ids_and_calendar_entries():
    one, two = Version.parse("2026-11-20T13:00:01Z"), Version.parse("2026-11-20T13:00:02Z")
    assert conference.request_id("gid", one) == conference.request_id("gid", one)
    assert len({conference.request_id("gid", one), conference.request_id("gid", two),
                conference.request_id("gie", one)}) == 3
    assert conference.hosts_meet({"conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}})
    assert conference.hosts_meet({"conferenceProperties": {}}) is False
    assert conference.hosts_meet({"conferenceProperties": {"allowedConferenceSolutionTypes": ["eventHangout"]}}) \
        is False
    assert conference.hosts_meet({"id": "x"}) is None


@pytest.mark.parametrize(("lang", "yes", "no"), [("pt-BR", "com Google Meet", "sem Google Meet"),
                                                 ("en", "with Google Meet", "no Google Meet")])
def test_the_pick_a_calendar_page_says_which_calendars_can_host_meet(lang, yes, no):
    items = [{"id": "a@x", "summary": "Trabalho", "primary": True,
              "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}},
             {"id": "b@x", "summary": "Feriados", "conferenceProperties": {}},
             {"id": "c@x", "summary": "Outra"}]
    page, _ = pages.calendars(lang, "a@x", items, None, "csrf")
    rows = page.split("<label")[1:]
    assert yes in rows[0] and no in rows[1] and "Meet" not in rows[2]


def test_the_conference_fields_survive_the_firestore_codec():
    from dataclasses import replace

    from sync.adapters.firestore.base import connection_from_doc, mapping_from_doc, mapping_to_doc
    from sync.kernel.model import Mapping

    mapping = replace(Mapping("ev-1", "gid"), conference_version=Version.parse("2026-11-20T13:00:01Z"),
                      conference_state=conference.PENDING, conference_id="abc-defg-hij", conference_checks=3)
    assert mapping_from_doc(mapping_to_doc(mapping)) == mapping
    assert mapping_from_doc(mapping_to_doc(Mapping("ev-1", "gid"))).conference_state is None
    doc = {"account_id": A, "user_id": U, "status": "active", "can_host_meet": False}
    assert connection_from_doc(doc).can_host_meet is False
    assert connection_from_doc({**doc, "can_host_meet": None}).can_host_meet is None


def test_a_conference_removed_by_hand_in_google_comes_back_with_the_next_version(world):
    world.apply(**MEET)
    first = world.link()
    world.event().pop("conferenceData")  # a person removed the Meet link in Google Calendar
    outcome = world.apply("event.updated", 2, **MEET)
    assert outcome.calendar_calls == 2  # the repeated request was ignored: asked anew under this version
    assert world.link() not in (None, first)
    assert [r["version"] for r in world.said("ready")] == ["2026-11-20T13:00:01.123Z", "2026-11-20T13:00:02.123Z"]
    assert world.said("failed") == []
    assert world.apply("event.updated", 3, **MEET).calendar_calls == 1 and len(world.said("ready")) == 2


def test_one_chain_of_checks_per_pending_conference(world):
    world.calendar.meet_creation, world.calendar.meet_stuck = "pending", True
    world.apply(**MEET)
    (job,) = world.jobs()
    assert world.followup.check(job).name == "conference_pending"
    for _ in range(3):
        assert world.apply(**MEET).name == "duplicate"  # duplicated webhooks: the chain goes on by itself
    world.apply("event.updated", 2, **MEET)  # a later version, still pending
    assert world.jobs() == [] and world.mapping.conference_checks == 1


FOREIGN = {"conferenceId": "zoom-123", "conferenceSolution": {"key": {"type": "addOn"}, "name": "Other meetings"},
           "entryPoints": [{"entryPointType": "video", "uri": "https://meet.example.net/j/123"}]}


def test_a_conference_someone_swapped_in_by_hand_is_never_announced_as_the_meet_link(world):
    """Anyone who can edit the calendar can replace our Meet with another conference (an add-on's, any
    link): Google keeps it under our repeated request id. The platform hands join_url to the client as
    the Meet link, so only a Meet conference on meet.google.com is ever announced; a foreign one is
    replaced by a new Meet, asked for under the version."""
    world.apply(**MEET)
    world.event()["conferenceData"] = json.loads(json.dumps(FOREIGN))
    world.apply("event.updated", 2, **MEET)
    urls = [r["join_url"] for r in world.said("ready")]
    assert len(urls) == 2 and all(u.startswith("https://meet.google.com/") for u in urls)
    assert world.link().startswith("https://meet.google.com/") and world.mapping.conference_id != "zoom-123"


@pytest.mark.parametrize("uri", ["https://meet.google.com.evil.example/abc", "http://meet.google.com/abc-defg-hij",
                                 "javascript:alert(1)//meet.google.com/", "https://user@meet.google.com/x"])
def test_only_a_meet_link_counts_as_the_join_url(uri):
    data = {"conferenceId": "abc-defg-hij", "conferenceSolution": {"key": {"type": "hangoutsMeet"}},
            "entryPoints": [{"entryPointType": "video", "uri": uri}]}
    assert conference.seen({"conferenceData": data}).join_url is None
    good = {**data, "entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}]}
    assert conference.seen({"conferenceData": good}) == conference.Seen("success", good["entryPoints"][0]["uri"],
                                                                         "abc-defg-hij")


def test_a_pending_conference_is_still_read_while_google_s_usage_limits_refuse_writes(world):
    """Usage limits make a calendar read-only, not unreadable: the follow-up of a conference pending when
    another event met the limit still settles it. Skipped, nothing would ever announce it (the event may
    have no later version, and the resume only re-sends parked changes)."""
    world.calendar.meet_creation = "pending"
    world.apply(**MEET)
    (job,) = world.jobs()
    conn = world.store.get_connection(A, U)
    world.store.save_connection(conn.__class__(**{**conn.__dict__, "status": ConnectionStatus.USAGE_LIMITED}))
    world.calendar.meet_creation = "immediate"
    assert world.followup.check(job).name == "conference_ready"
    assert world.said("ready")[0]["join_url"] == world.link()


def test_a_follow_up_after_a_disconnect_neither_reads_nor_announces(world):
    world.calendar.meet_creation = "pending"
    world.apply(**MEET)
    (job,) = world.jobs()
    conn = world.store.get_connection(A, U)
    world.store.save_connection(conn.__class__(**{**conn.__dict__, "status": ConnectionStatus.DISCONNECTING}))
    world.calendar.calls.clear()
    assert world.followup.check(job).name == "conference_check_skipped"
    assert world.calendar.calls == [] and world.said("ready") == []


def test_duplicated_writes_start_no_second_chain_of_checks_that_would_fail_the_conference_early(world):
    """Four redeliveries before the first check each publish a job (the first publish may have been
    lost): the first to read follows the conference, the others stop, so five reads within a second
    do not settle a conference Google is still creating as failed (and then announce it ready too)."""
    world.calendar.meet_creation, world.calendar.meet_stuck = "pending", True
    world.apply(**MEET)
    for _ in range(4):
        assert world.apply(**MEET).name == "duplicate"
    jobs = world.jobs()
    assert len(jobs) == 5 and len({j["chain"] for j in jobs}) == 5
    names = [world.followup.check(j).name for j in jobs]
    assert names == ["conference_pending"] + ["conference_followed_already"] * 4
    assert world.mapping.conference_checks == 1 and world.said("failed") == []
    world.calendar.calls.clear()
    assert world.followup.check(jobs[2]).name == "conference_followed_already" and world.calendar.calls == []
    world.calendar.meet_stuck = False
    assert world.followup.check(jobs[0]).name == "conference_ready"
    assert len(world.said("ready")) == 1 and world.said("failed") == []


def test_a_settled_read_by_any_job_settles_the_conference_once(world):
    world.calendar.meet_creation = "pending"
    world.apply(**MEET)
    world.apply(**MEET)
    first, second = world.jobs()
    world.calendar.meet_stuck = True
    assert world.followup.check(first).name == "conference_pending"
    world.calendar.meet_stuck = False
    assert world.followup.check(second).name == "conference_followed_already"
    assert world.followup.check(first).name == "conference_ready" and len(world.said("ready")) == 1


def test_a_check_that_raced_a_calendar_switch_reads_again_in_the_new_calendar(world):
    """The follow-up read the mapping, then the switch moved the event before the read reached Google: a
    404 from the calendar the event just left ends no chain (the conference would stay pending for good)."""
    world.calendar.meet_creation = "pending"
    world.apply(**MEET)
    (job,) = world.jobs()
    moves = Moves(FakeMoveStore(world.store), world.bulk, world.service)
    read = world.calendar.get_conference

    def moved_meanwhile(calendar_id, event_id):
        world.calendar.get_conference = read
        world.connect(OTHER, can_host_meet=True)
        moves.start(A, U, CAL, OTHER)
        for move in world.jobs():
            moves.run(move)
        return read(calendar_id, event_id)

    world.calendar.get_conference = moved_meanwhile
    with pytest.raises(Retryable):
        world.followup.check(job)
    world.calendar.meet_creation = "immediate"
    assert world.followup.check(job).name == "conference_ready"
    assert world.said("ready")[0]["join_url"] == world.link(OTHER)


def test_a_snapshot_repair_of_the_version_that_asked_brings_back_a_conference_removed_by_hand(world):
    """The repair rewrites the very version whose request id Google remembers: asked anew under a renewal
    id (derived from the conference that was lost), not announced as failed after it was announced ready."""
    world.apply(**MEET)
    first = world.link()
    world.event().pop("conferenceData")
    outcome = world.apply("event.updated", 1, rewrite_equal=True, **MEET)  # a snapshot's repair, same version
    assert outcome.calendar_calls == 2 and world.link() not in (None, first)
    assert world.said("failed") == [] and [r["join_url"] for r in world.said("ready")] == [first, world.link()]
    second = world.link()
    assert world.apply("event.updated", 1, rewrite_equal=True, **MEET).calendar_calls == 1
    assert world.link() == second and len(world.said("ready")) == 2
    world.event().pop("conferenceData")  # removed again: the next renewal is another request
    world.apply("event.updated", 1, rewrite_equal=True, **MEET)
    assert world.link() not in (None, first, second) and len(world.said("ready")) == 3


def test_a_first_request_is_never_renewed():
    first = conference.Ask(1, Version.parse("2026-11-20T13:00:01.123Z"), create=True)
    assert conference.renewed(first, conference.Seen(None), first.anchor) is None
    ids = {conference.request_id(GID, first.anchor), conference.request_id(GID, first.anchor, "abc"),
           conference.request_id(GID, first.anchor, "none")}
    assert len(ids) == 3
