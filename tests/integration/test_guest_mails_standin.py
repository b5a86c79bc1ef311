"""Guest mails counted the way a guest counts them (docs/guests.md#guest-mails-exactly-once): the service's
apply over the real Calendar client and the stand-in's mail log, under its fault modes: a 503
answered after the write was applied, a request whose answer never came but which landed."""

import time

import pytest

from local.standin import SCOPE_CALENDARLIST_RO, SCOPE_EVENTS, Fault, Server, State
from sync.adapters.calendar_api import GoogleCalendars
from sync.apply.service import SyncService
from sync.kernel.errors import NoAnswer, Retryable
from sync.kernel.payload import parse_change
from tests.fakes import FakeStore, active_connection
from tests.helpers import payload

pytestmark = pytest.mark.integration
CLIENT_ID, SECRET = "client-1", "secret-1"
OWNER = "consultora@consultoria.example"
CLIENT = "cliente@clientex.com.br"  # another mail provider: an external guest
COLLEAGUE = "colega@consultoria.example"  # on Google Calendar
GUESTS = [{"email": CLIENT}, {"email": COLLEAGUE}]
A, U = "acme-consulting", "u-42"


class Vault:
    def __init__(self, token):
        self.token = token

    def read_refresh_token(self, ref):
        return self.token


@pytest.fixture
def standin():
    server = Server(state=State({CLIENT_ID: {"secret": SECRET, "redirect_uris": []}})).start()
    server.state.add_user(OWNER)
    yield server
    server.stop()


def service_on(standin, timeout=5.0, hold=0.0, send_updates="none"):
    vault = Vault(standin.state.issue_grant(OWNER, CLIENT_ID, (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO)))
    calendars = GoogleCalendars(standin.url + "calendar/v3/", standin.url + "token", CLIENT_ID, SECRET, vault,
                                timeout=timeout)
    store = FakeStore()
    store.save_connection(active_connection(A, U, OWNER))
    return SyncService(store, calendars, lease_seconds=30, no_answer_hold=hold, send_updates=send_updates)


def change(kind="event.updated", updated=1, notify="all", **fields):
    raw = payload(kind, account_id=A, user_id=U, updated=updated, attendees=GUESTS, **fields)
    if notify is not None:
        raw["event"]["notify_attendees"] = notify
    return parse_change(raw, f"wh-{kind}-{updated}")


def until_applied(service, c, attempts=5):
    """Deliver ``c`` as Pub/Sub would: again after every failure, a bounded number of times."""
    for _ in range(attempts):
        try:
            return service.apply(c)
        except Retryable:
            continue
    raise AssertionError("not applied")


def mails(standin):
    return standin.state.mail_counts()


def test_one_mail_per_change_guests_see_none_for_the_rest(standin):
    service = service_on(standin)
    service.apply(change(updated=1))
    service.apply(change(updated=2, title="Remarcada"))
    service.apply(change(updated=3, title="Remarcada", reminders_minutes=[5], color=4, busy=False,
                         visibility="private"))  # only the owner sees these
    service.apply(change(updated=3, title="Remarcada", reminders_minutes=[5], color=4, busy=False,
                         visibility="private"), rewrite_equal=True)  # a snapshot's repair
    service.apply(change("event.deleted", 4, notify=None))  # follows version 3's policy
    expected = {"invitation": 1, "update": 1, "cancellation": 1}
    assert mails(standin) == {CLIENT: expected, COLLEAGUE: expected}
    assert standin.state.calls["sendUpdates=none"] == 2


def test_external_mails_only_the_client_and_none_mails_nobody(standin):
    service = service_on(standin, send_updates="all")
    service.apply(change(updated=1, notify="external"))
    service.apply(change(updated=2, notify="external", title="Outra"))
    service.apply(change("event.created", 1, notify="none", event_id="quiet"))
    service.apply(change("event.deleted", 2, notify=None, event_id="quiet"))  # its last version said none
    assert mails(standin) == {CLIENT: {"invitation": 1, "update": 1}}


@pytest.mark.parametrize("method", ["events.insert", "events.update", "events.delete"])
def test_a_503_after_the_write_was_applied_mails_nobody_twice(standin, method):
    service = service_on(standin)
    steps = [change(updated=1), change(updated=2, title="Remarcada"), change("event.deleted", 3, notify=None)]
    for n, step in enumerate(steps):
        if n == ["events.insert", "events.update", "events.delete"].index(method):
            standin.state.faults.append(Fault(503, "backendError", methods=(method,), count=1, applied=True))
        until_applied(service, step)
    assert standin.state.calls["injected_fault"] == 1
    expected = {"invitation": 1, "update": 1, "cancellation": 1}
    assert mails(standin) == {CLIENT: expected, COLLEAGUE: expected}


def test_a_request_that_timed_out_but_landed_mails_nobody_twice(standin):
    service = service_on(standin, timeout=0.5, hold=1.0)
    service.apply(change(updated=1))
    standin.state.faults.append(Fault(0, "", methods=("events.update",), count=1, delay=1.0))  # applied late
    with pytest.raises(NoAnswer):
        service.apply(change(updated=2, title="Remarcada"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the event is held until the abandoned request can have landed
        outcome = service.apply(change(updated=2, title="Remarcada"))
        if outcome.name != "busy":
            break
        time.sleep(0.2)
    assert outcome.name == "already_applied"
    assert mails(standin) == {CLIENT: {"invitation": 1, "update": 1}, COLLEAGUE: {"invitation": 1, "update": 1}}
