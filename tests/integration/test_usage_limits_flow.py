"""Calendar's usage limits through the real client (google-api-python-client + google-auth, the
Calendar adapter) against the stand-in, with the service's apply and retry on in-memory stores:
403 quotaExceeded is a usage limit, not a rate limit; the connection waits it out on its own."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from local.standin import SCOPE_CALENDARLIST_RO, SCOPE_EVENTS, Fault, Server, State
from sync.adapters.calendar_api import GoogleCalendars
from sync.apply.service import SyncService
from sync.kernel import notification as notes
from sync.kernel.errors import RateLimited, UsageLimited
from sync.kernel.model import Connection, ConnectionStatus, google_event_id
from sync.kernel.payload import parse_change
from sync.kernel.planner import event_body
from sync.limits.retry import UsageRetry
from tests.fakes import FakePublisher, FakeStore, FakeUsageLimits
from tests.helpers import payload
from tests.integration.standin_client import Client
from tests.integration.test_calendar_adapter import DictVault

pytestmark = pytest.mark.integration
CLIENT, SECRET = "client-1", "secret-1"
EMAIL = "ana@example.com"
A, U = "acme-consulting", "u-42"
FIRST = 900.0


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def standin():
    server = Server(state=State({CLIENT: {"secret": SECRET, "redirect_uris": []}})).start()
    server.state.add_user(EMAIL)
    yield server
    server.stop()


@pytest.fixture
def calendars(standin):
    vault = DictVault()
    vault.store_refresh_token("ref", standin.state.issue_grant(EMAIL, CLIENT, (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO)))
    return GoogleCalendars(standin.url + "calendar/v3/", standin.url + "token", CLIENT, SECRET, vault, timeout=2)


def connection():
    return Connection(A, U, ConnectionStatus.ACTIVE, EMAIL, "ref", EMAIL, activation="a1")


def change(updated, event_id="ev-1", kind="event.created", **fields):
    return parse_change(payload(kind, account_id=A, user_id=U, event_id=event_id, updated=updated, **fields),
                        f"wh-{event_id}-{updated}")


@pytest.mark.parametrize("fault,error", [
    (Fault(429, "rateLimitExceeded", methods=("events.insert",), count=1, retry_after=3), RateLimited),
    (Fault(403, "rateLimitExceeded", methods=("events.insert",), count=1), RateLimited),
    (Fault(403, "userRateLimitExceeded", methods=("events.insert",), count=1), RateLimited),
])
def test_rate_limits_stay_rate_limits(calendars, standin, fault, error):
    standin.state.faults.append(fault)
    body = event_body(change(1), google_event_id(A, U, "ev-1"))
    with pytest.raises(error) as info:
        calendars.session(connection()).insert(EMAIL, body, send_updates="none")
    assert not isinstance(info.value, UsageLimited)


def test_quota_exceeded_is_a_usage_limit_on_every_write(calendars, standin):
    session = calendars.session(connection())
    gid = google_event_id(A, U, "ev-1")
    body = event_body(change(1), gid)
    etag = session.insert(EMAIL, body, send_updates="none")
    standin.state.limit_usage(EMAIL)
    other = event_body(change(1, "ev-2"), google_event_id(A, U, "ev-2"))
    for write in (lambda: session.insert(EMAIL, other, send_updates="none"),
                  lambda: session.update(EMAIL, gid, body, if_match=etag, send_updates="none"),
                  lambda: session.delete(EMAIL, gid, if_match=etag, send_updates="none")):
        with pytest.raises(UsageLimited, match="quotaExceeded"):
            write()
    assert session.get(EMAIL, gid)["id"] == gid  # reads still answer


def test_a_limited_calendar_parks_then_resumes_in_version_order(calendars, standin):
    store, live, clock = FakeStore(), FakePublisher(), Clock()
    store.save_connection(connection())
    service = SyncService(store, calendars, clock=clock, usage_first_pause=FIRST)
    limits = FakeUsageLimits(store)
    retry = UsageRetry(limits, store, lambda: service, live, first_pause=FIRST, clock=clock)
    assert service.apply(change(1, "ev-1", title="um")).name == "created"
    standin.state.limit_usage(EMAIL)
    assert service.apply(change(2, "ev-1", "event.updated", title="um v2")).name == "parked_usage_limited"
    assert service.apply(change(3, "ev-2", title="dois")).name == "park"
    assert service.apply(change(4, "ev-1", "event.updated", title="um v4")).name == "park"
    conn = store.get_connection(A, U)
    assert conn.status is ConnectionStatus.USAGE_LIMITED
    assert [n.type for n in store.notifications] == [notes.USAGE_LIMITED]
    rejected = standin.state.calls["rejected_usage_limit"]
    assert rejected == 1  # the later changes never reached Calendar
    # Still limited at the first retry: one refused write, the next retry twice as far.
    clock.now = conn.retry_at
    assert retry.try_calendar(A, U) == "limited"
    assert standin.state.calls["rejected_usage_limit"] == rejected + 1
    assert store.get_connection(A, U).retry_at == clock.now + timedelta(seconds=2 * FIRST)
    # Lifted: the next retry writes the oldest parked version, the rest resumes through the queue.
    standin.state.lift_usage_limit(EMAIL)
    clock.now = store.get_connection(A, U).retry_at
    assert retry.try_calendar(A, U) == "resumed"
    assert store.get_connection(A, U).status is ConnectionStatus.ACTIVE
    assert [n.type for n in limits.notifications] == [notes.RESUMED]
    # The oldest parked version was ev-2's (v3): written by the try; ev-1's newest (v4) follows.
    google = Client(standin, EMAIL)  # reads the whole event, as the user's Calendar shows it
    assert google.get(google_event_id(A, U, "ev-2"), calendar_id=EMAIL)["summary"] == "dois"
    assert [key for _, key, _ in live.messages] == [f"{A}/{U}/ev-1"]
    for data, _, _ in live.messages:
        message = json.loads(data)
        assert service.apply(parse_change(message, message["webhook_id"])).name == "updated"
    assert google.get(google_event_id(A, U, "ev-1"), calendar_id=EMAIL)["summary"] == "um v4"
    assert store.parked(A, U) == []
