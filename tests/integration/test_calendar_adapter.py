"""The Calendar adapter (google-api-python-client + google-auth) against the strict stand-in,
and the stand-in's own strictness, as the real client libraries see it."""

import pytest

from local.standin import SCOPE_CALENDARLIST_RO, SCOPE_EVENTS, Fault, Server, State
from sync.adapters.calendar_api import GoogleCalendars
from sync.apply import writes
from sync.apply.mail_policy import Mail
from sync.kernel.errors import (
    AuthRevoked,
    CalendarConflict,
    CalendarNotFound,
    CalendarUnavailable,
    EtagMismatch,
    Permanent,
    Retryable,
)
from sync.kernel.model import Connection, ConnectionStatus, google_event_id
from sync.kernel.payload import parse_change
from sync.kernel.planner import event_body
from tests.helpers import payload, wait_for

pytestmark = pytest.mark.integration
CLIENT, SECRET = "client-1", "secret-1"
INSERT = ("events.insert",)
EMAIL = "ana@example.com"


class DictVault:
    def __init__(self):
        self.tokens = {}

    def store_refresh_token(self, key, token):
        self.tokens[key] = token
        return key

    def read_refresh_token(self, ref):
        return self.tokens[ref]

    def retire_others(self, ref):
        pass

    def destroy(self, ref):
        self.tokens.pop(ref, None)


@pytest.fixture
def standin():
    server = Server(state=State({CLIENT: {"secret": SECRET, "redirect_uris": []}})).start()
    server.state.add_user(EMAIL, calendars=[{"id": "shared@group.example", "role": "reader"}])
    yield server
    server.stop()


@pytest.fixture
def session(standin):
    vault = DictVault()
    vault.store_refresh_token("ref", standin.state.issue_grant(EMAIL, CLIENT, (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO)))
    calendars = GoogleCalendars(standin.url + "calendar/v3/", standin.url + "token", CLIENT, SECRET, vault,
                                timeout=2)
    return calendars.session(Connection("a", "u", ConnectionStatus.ACTIVE, EMAIL, "ref"))


def body(**fields):
    change = parse_change(payload(**fields), "m")
    return event_body(change, google_event_id("a", "u", change.event_id))


def test_insert_update_delete_and_their_errors(session, standin):
    b = body()
    session.insert(EMAIL, b, send_updates="none")
    with pytest.raises(CalendarConflict):
        session.insert(EMAIL, b, send_updates="none")  # a reused id is a 409
    session.update(EMAIL, b["id"], {**b, "summary": "Novo"}, send_updates="none")
    session.delete(EMAIL, b["id"], send_updates="none")
    with pytest.raises(CalendarNotFound) as gone:
        session.delete(EMAIL, b["id"], send_updates="none")
    assert gone.value.status == 410
    with pytest.raises(CalendarConflict):
        session.insert(EMAIL, b, send_updates="none")  # even a cancelled event keeps its id
    session.update(EMAIL, b["id"], b, send_updates="none")  # and update brings it back
    assert standin.state.events_of(EMAIL)[0]["status"] == "confirmed"
    with pytest.raises(CalendarNotFound):
        session.update(EMAIL, "abcdef012345", b | {"id": "abcdef012345"}, send_updates="none")


def test_one_token_refresh_then_one_request_per_call(session, standin):
    for i in range(3):
        session.insert(EMAIL, body(event_id=f"e{i}"), send_updates="none")
    calls = standin.state.calls
    assert calls["oauth.token"] == 1 and calls["events.insert"] == 3


def test_bodies_are_checked_against_the_discovery_document(session):
    with pytest.raises(Permanent, match="400"):
        session.insert(EMAIL, {**body(), "summry": "typo"}, send_updates="none")
    with pytest.raises(Permanent, match="400"):
        session.insert(EMAIL, {**body(), "id": "UPPER-case-not-base32hex"}, send_updates="none")
    with pytest.raises(Permanent, match="400"):
        session.insert(EMAIL, {**body(), "reminders": {"useDefault": True, "overrides": [
            {"method": "popup", "minutes": 5}]}}, send_updates="none")


@pytest.mark.parametrize("fault,error", [
    (Fault(503, "backendError", methods=INSERT, count=1), Retryable),
    (Fault(500, "internalError", methods=INSERT, count=1), Retryable),
    (Fault(429, "rateLimitExceeded", methods=INSERT, count=1, retry_after=3), Retryable),
    (Fault(403, "userRateLimitExceeded", methods=INSERT, count=1), Retryable),
    (Fault(403, "rateLimitExceeded", methods=INSERT, count=1), Retryable),
    (Fault(400, "invalid", methods=INSERT, count=1), Permanent),
    (Fault(0, "", methods=INSERT, count=1, delay=3), Retryable),  # a timeout
])
def test_error_classification(session, standin, fault, error):
    standin.state.faults.append(fault)
    with pytest.raises(error) as info:
        session.insert(EMAIL, body(), send_updates="none")
    if fault.retry_after:
        assert info.value.retry_after == 3


def test_lost_write_access_and_missing_calendar_are_calendar_unavailable(session):
    with pytest.raises(CalendarUnavailable):
        session.insert("shared@group.example", body(), send_updates="none")  # reader only
    with pytest.raises(CalendarUnavailable):
        session.insert("gone@group.example", body(), send_updates="none")


def test_revoked_grant_is_auth_revoked(session, standin):
    session.insert(EMAIL, body(event_id="before"), send_updates="none")
    standin.state.revoke_user(EMAIL)  # access tokens die with the grant: 401, refresh, invalid_grant
    with pytest.raises(AuthRevoked):
        session.insert(EMAIL, body(event_id="after"), send_updates="none")


def test_token_endpoint_outage_is_retryable(standin):
    vault = DictVault()
    vault.store_refresh_token("ref", standin.state.issue_grant(EMAIL, CLIENT, (SCOPE_EVENTS,)))
    calendars = GoogleCalendars(standin.url + "calendar/v3/", standin.url + "token", CLIENT, SECRET, vault)
    standin.state.faults.append(Fault(503, "backendError", ("oauth.token",), count=10))
    with pytest.raises(Retryable):
        calendars.session(Connection("a", "u", ConnectionStatus.ACTIVE, EMAIL, "ref")).insert(
            EMAIL, body(), send_updates="none")


def test_wrong_client_secret_is_not_mistaken_for_a_revoked_grant(standin):
    vault = DictVault()
    vault.store_refresh_token("ref", standin.state.issue_grant(EMAIL, CLIENT, (SCOPE_EVENTS,)))
    calendars = GoogleCalendars(standin.url + "calendar/v3/", standin.url + "token", CLIENT, "wrong", vault)
    with pytest.raises(Retryable):
        calendars.session(Connection("a", "u", ConnectionStatus.ACTIVE, EMAIL, "ref")).insert(
            EMAIL, body(), send_updates="none")


@pytest.mark.parametrize("mode", ["all", "externalOnly", "none"])
def test_each_write_sends_the_send_updates_it_is_given(standin, session, mode):
    """Who Google mails is chosen per write (docs/guests.md): the adapter passes it on as given."""
    b = body()
    session.insert(EMAIL, b, send_updates=mode)
    session.update(EMAIL, b["id"], b, send_updates=mode)
    session.delete(EMAIL, b["id"], send_updates=mode)
    assert standin.state.calls[f"sendUpdates={mode}"] == 3


def test_a_write_told_none_mails_nobody(standin, session):
    b = body(event_id="bye")
    session.insert(EMAIL, b, send_updates="all")
    session.update(EMAIL, b["id"], b, send_updates="none")
    session.delete(EMAIL, b["id"], send_updates="none")
    assert standin.state.calls["sendUpdates=none"] == 2 and standin.state.calls["sendUpdates=all"] == 1


def test_a_send_updates_calendar_does_not_know_is_refused_before_any_call(standin, session):
    before = sum(standin.state.calls.values())
    with pytest.raises(ValueError):
        session.insert(EMAIL, body(), send_updates="external")  # the platform's word, not Calendar's
    assert sum(standin.state.calls.values()) == before


def test_list_own_finds_only_this_users_live_events(standin, session):
    mine = parse_change(payload(account_id="a", user_id="u", event_id="mine"), "m")
    theirs = parse_change(payload(account_id="a", user_id="other", event_id="theirs"), "m")
    for change in (mine, theirs):
        session.insert(EMAIL, event_body(change, google_event_id("a", change.user_id, change.event_id)),
                       send_updates="none")
    page = session.list_own(EMAIL, "a", "u", None)
    assert [e["id"] for e in page["items"]] == [google_event_id("a", "u", "mine")]


def test_updates_and_deletes_over_an_etag_that_is_no_longer_the_events_are_refused(session, standin):
    b = body()
    first = session.insert(EMAIL, b, send_updates="none")
    second = session.update(EMAIL, b["id"], {**b, "summary": "Novo"}, if_match=first, send_updates="none")
    assert second != first and session.get(EMAIL, b["id"])["etag"] == second
    with pytest.raises(EtagMismatch):
        session.update(EMAIL, b["id"], {**b, "summary": "Velho"}, if_match=first, send_updates="none")
    with pytest.raises(EtagMismatch):
        session.delete(EMAIL, b["id"], if_match=first, send_updates="none")
    assert standin.state.events_of(EMAIL)[0]["summary"] == "Novo"  # nothing changed
    assert standin.state.calls["rejected_precondition"] == 2
    session.delete(EMAIL, b["id"], if_match=second, send_updates="none")
    assert session.get(EMAIL, b["id"])["status"] == "cancelled"


def test_a_write_its_client_gave_up_on_cannot_land_over_a_newer_one(standin):
    """The stand-in applies a delayed write after its client timed out, as Google may: made over
    the etag of our last write, it is refused once a newer write replaced that etag."""
    vault = DictVault()
    vault.store_refresh_token("ref", standin.state.issue_grant(EMAIL, CLIENT, (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO)))

    def connect(timeout):
        calendars = GoogleCalendars(standin.url + "calendar/v3/", standin.url + "token", CLIENT, SECRET, vault,
                                    timeout=timeout)
        return calendars.session(Connection("a", "u", ConnectionStatus.ACTIVE, EMAIL, "ref"))

    patient, hasty = connect(10), connect(0.3)
    b = body()
    etag = patient.insert(EMAIL, b, send_updates="none")
    hasty.get(EMAIL, b["id"])  # its token fetched: the next call is the write alone
    standin.state.faults.append(Fault(0, "", methods=("events.update",), count=1, delay=2.0))
    with pytest.raises(Retryable):  # the old version's answer never comes; the stand-in has it
        writes.update(hasty, EMAIL, b["id"], {**b, "summary": "Velho"}, etag, mail=Mail("none", b))
    assert writes.update(patient, EMAIL, b["id"], {**b, "summary": "Novo"}, etag, mail=Mail("none", b))[0] == "updated"
    wait_for(lambda: standin.state.calls["rejected_precondition"] >= 1, timeout=30,
             what="the abandoned write to reach the calendar")
    assert standin.state.events_of(EMAIL)[0]["summary"] == "Novo"
