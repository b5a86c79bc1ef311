"""Google Meet through the service's own Calendar adapter (the real google-api-python-client) against
the stand-in, which treats conferenceDataVersion, request ids, pending creation and calendars without
Meet as Google does (local/standin_meet.py): the conference lands, keeps its link, goes away with the
field, and the platform hears of each conference once."""

import json

import pytest

from local.standin import SCOPE_CALENDARLIST_RO, SCOPE_EVENTS, Server, State
from sync.adapters.calendar_api import GoogleCalendars
from sync.apply.service import SyncService
from sync.kernel import conference
from sync.kernel.errors import ConferenceRefused
from sync.kernel.model import Connection, ConnectionStatus, google_event_id
from sync.kernel.payload import parse_change
from sync.meet.followup import ConferenceFollowUp
from tests.fakes import FakePublisher, FakeStore
from tests.helpers import payload
from tests.integration.test_calendar_adapter import CLIENT, SECRET, DictVault, body

pytestmark = pytest.mark.integration
A, U = "acme-consulting", "u-42"
EMAIL, NO_MEET = "consultora@example.com", "feriados@group.example"
GID = google_event_id(A, U, "ev-1001")
MEET = {"conference": {"type": "google_meet"}}


@pytest.fixture
def standin():
    server = Server(state=State({CLIENT: {"secret": SECRET, "redirect_uris": []}})).start()
    server.state.add_user(EMAIL, calendars=[{"id": NO_MEET, "summary": "Feriados", "conference_types": []}])
    yield server
    server.stop()


class World:
    def __init__(self, standin, calendar_id=EMAIL):
        vault = DictVault()
        vault.store_refresh_token("ref", standin.state.issue_grant(EMAIL, CLIENT, (SCOPE_EVENTS,
                                                                                   SCOPE_CALENDARLIST_RO)))
        self.standin = standin
        self.calendars = GoogleCalendars(standin.url + "calendar/v3/", standin.url + "token", CLIENT, SECRET,
                                         vault, timeout=5)
        self.store, self.bulk = FakeStore(), FakePublisher()
        self.connection = Connection(A, U, ConnectionStatus.ACTIVE, calendar_id, "ref", EMAIL)
        self.store.save_connection(self.connection)
        self.service = SyncService(self.store, self.calendars, followups=lambda: self.bulk)
        self.followup = ConferenceFollowUp(self.store, self.calendars)

    def apply(self, kind="event.created", updated=1, **fields):
        return self.service.apply(parse_change(payload(kind, account_id=A, user_id=U, updated=updated, **fields),
                                               f"wh-{updated}"))

    def event(self, calendar_id=EMAIL):
        return next(e for e in self.standin.state.events_of(calendar_id) if e["id"] == GID)

    def said(self, kind):
        return [n.data for n in self.store.notifications if n.type == f"event.conference_{kind}"]


@pytest.fixture
def world(standin):
    return World(standin)


def test_the_conference_lands_keeps_its_link_goes_with_the_field_and_comes_back_new(world):
    assert world.apply(**MEET).calendar_calls == 1
    first = world.event()
    code = first["conferenceData"]["conferenceId"]
    assert first["hangoutLink"] == f"https://meet.google.com/{code}"
    assert world.said("ready") == [{"event_id": "ev-1001", "version": "2026-11-20T13:00:01.123Z",
                                    "join_url": first["hangoutLink"], "conference_id": code}]
    assert world.apply("event.updated", 2, title="Remarcada", **MEET).calendar_calls == 1
    assert world.apply("event.updated", 2, title="Remarcada", **MEET).name == "duplicate"
    assert world.event()["hangoutLink"] == first["hangoutLink"] and world.event()["summary"] == "Remarcada"
    world.apply("event.updated", 3)
    assert "conferenceData" not in world.event() and "hangoutLink" not in world.event()
    world.apply("event.updated", 4, **MEET)
    again = world.event()["conferenceData"]["conferenceId"]
    assert again != code and [r["conference_id"] for r in world.said("ready")] == [code, again]


def test_a_pending_creation_is_read_until_settled_and_announced_once(world, standin):
    standin.state.configure_conferences(creation="pending", after_reads=2)
    world.apply(**MEET)
    assert world.event()["conferenceData"]["createRequest"]["status"] == {"statusCode": "pending"}
    (job,) = [json.loads(data) for data, _, _ in world.bulk.messages]
    first = world.followup.check(job)
    assert (first.name, first.acknowledge) == ("conference_pending", False)
    assert world.followup.check(job).name == "conference_ready"
    (ready,) = world.said("ready")
    assert ready["join_url"] == world.event()["hangoutLink"]
    assert world.followup.check(job).name == "conference_settled_already"
    outcome = world.apply("event.updated", 2, **MEET)  # over the settled event: its etag changed
    assert world.event()["hangoutLink"] == ready["join_url"] and len(world.said("ready")) == 1
    assert outcome.name == "updated"


def test_a_calendar_that_cannot_host_meet_still_gets_the_appointment(standin):
    world = World(standin, NO_MEET)
    outcome = world.apply(**MEET)  # not known from the list entry: Google's 400 says it
    assert (outcome.name, outcome.calendar_calls) == ("created", 2)
    landed = world.event(NO_MEET)
    assert landed["summary"] and "conferenceData" not in landed
    assert [f["reason"] for f in world.said("failed")] == ["calendar_cannot_host_meet"]
    assert world.apply("event.updated", 2, **MEET).calendar_calls == 1 and len(world.said("failed")) == 1


def test_the_adapter_tells_a_refused_conference_from_a_refused_event(standin):
    world = World(standin, NO_MEET)
    session = world.calendars.session(world.connection)
    b = body(event_id="x-1")
    b["conferenceData"] = conference.Ask(1, parse_change(payload(), "m").version, create=True).body(b["id"])
    with pytest.raises(ConferenceRefused):
        session.insert(NO_MEET, b, send_updates="none", conference_data_version=1)
    entry = session.calendar_entry(NO_MEET)
    assert conference.hosts_meet(entry) is False
    assert conference.hosts_meet(session.calendar_entry(EMAIL)) is True


def test_drift_repair_takes_a_settling_conference_for_no_edit_and_a_restore_keeps_it(world, standin):
    import requests

    from sync.drift.check import DriftCheck
    from tests.unit.test_drift_check import Store

    world.store = Store()  # the mappings and the drift state in one fake, as the drift check reads them
    world.store.save_connection(world.connection)
    world.service = SyncService(world.store, world.calendars, followups=lambda: world.bulk)
    world.followup = ConferenceFollowUp(world.store, world.calendars)
    standin.state.configure_conferences(creation="pending", after_reads=1)
    world.apply(**MEET)
    world.followup.check(json.loads(world.bulk.messages[0][0]))  # settled: a new etag, not an edit
    link = world.event()["hangoutLink"]
    drift = DriftCheck(world.store, world.store, world.calendars)
    drift.run(A, U)
    assert [n.type for n in world.store.notifications] == ["event.conference_ready"]
    r = requests.patch(f"{standin.url}_admin/calendars/{EMAIL}/events/{GID}", json={"summary": "Editado à mão"},
                       timeout=5)
    assert r.status_code == 200, r.text
    drift.run(A, U)
    assert world.store.notifications[-1].type == "event.drift_repaired"
    restored = world.event()
    assert restored["summary"] == "Diagnóstico — Cliente X" and restored["hangoutLink"] == link
