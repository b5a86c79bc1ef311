"""The stand-in's counts per Google account and per calendar, and faults aimed at one account: what
a test counts or breaks stays its own while other tests' users keep calling (the e2e session's
stand-in serves every test's users)."""

import pytest
import requests
from googleapiclient.errors import HttpError

from local.standin import Fault
from tests.helpers import wait_for
from tests.integration.standin_client import OWNER, ROOMLESS, Client, client, event, standin  # noqa: F401

pytestmark = pytest.mark.integration
OTHER = "outra@consultoria.example"


@pytest.fixture
def other(standin):  # noqa: F811
    standin.state.add_user(OTHER)
    return Client(standin, OTHER)


def test_counts_per_user_and_per_calendar(standin, client, other):  # noqa: F811
    mail = {"attendees": [{"email": "cliente@cliente-x.com.br"}]}
    client.insert(event(**mail), sendUpdates="all")
    client.insert(event(), calendar_id=ROOMLESS)
    other.insert(event(), calendar_id=OTHER)
    other(other.events().list(calendarId=OTHER))
    state = standin.state
    assert state.stats(user=OWNER)["events.insert"] == 2 and state.stats(user=OWNER)["events.list"] == 0
    assert state.stats(user=OWNER)["sendUpdates=all"] == 1 and state.stats(user=OTHER)["sendUpdates=all"] == 0
    assert state.stats(user=OTHER)["events.insert"] == 1 and state.stats(user=OTHER)["events.list"] == 1
    assert state.stats(user=OWNER)["oauth.token"] == 1 and state.stats(user=OTHER)["oauth.token"] == 1
    assert state.stats(calendar=OWNER)["mails.sent"] == 1 and state.stats(calendar=ROOMLESS)["mails.sent"] == 0
    assert state.stats()["events.insert"] == 3 == state.calls["events.insert"]  # and overall, as before
    assert state.stats(user="nobody@example.com") == {}

    got = requests.get(standin.url + "_admin/stats", params={"user": OTHER}, timeout=10).json()["calls"]
    assert got == dict(state.stats(user=OTHER))
    requests.delete(standin.url + "_admin/stats", timeout=10)
    assert state.stats() == {} and state.stats(user=OWNER) == {} and state.stats(calendar=OWNER) == {}


def test_pings_count_for_their_calendar(standin, client):  # noqa: F811
    from local.serving import BackgroundServer

    hits = []
    sink = BackgroundServer(lambda environ, start: (hits.append(1), start("200 OK", []), [b""])[2], "sink").start()
    try:
        client(client.events().watch(calendarId=OWNER, body={"id": "ch-1", "type": "web_hook", "address": sink.url}))
        wait_for(lambda: standin.state.stats(calendar=OWNER)["pings.sent"] == 1, what="the channel's sync message")
        client.insert(event())
        client.insert(event(), calendar_id=ROOMLESS)  # not watched
        wait_for(lambda: standin.state.stats(calendar=OWNER)["pings.sent"] == 2, what="the change's ping counted")
        assert standin.state.stats(calendar=ROOMLESS)["pings.sent"] == 0 and hits == [1, 1]
    finally:
        sink.stop()


def test_a_fault_for_one_user_spares_the_others(standin, client, other):  # noqa: F811
    with standin.state.lock:
        standin.state.faults.append(Fault(400, "invalid", ("events.insert",), count=1, users=(OTHER,)))
    client.insert(event())  # not hers: the fault waits
    with pytest.raises(HttpError) as refused:
        other.insert(event(), calendar_id=OTHER)
    assert refused.value.resp.status == 400
    other.insert(event(), calendar_id=OTHER)  # spent
    assert standin.state.stats(user=OTHER)["injected_fault"] == 1
    assert standin.state.stats(user=OWNER)["injected_fault"] == 0 and standin.state.faults == []


def test_a_fault_for_one_user_over_the_admin_route(standin, client, other):  # noqa: F811
    spec = {"status": 503, "reason": "backendError", "methods": ["events.insert"], "count": 1, "users": [OWNER]}
    assert requests.post(standin.url + "_admin/faults", json=spec, timeout=10).json() == {"faults": 1}
    other.insert(event(), calendar_id=OTHER)
    assert standin.state.faults[0].users == (OWNER,) and standin.state.faults[0].count == 1
    with pytest.raises(HttpError) as refused:
        client.insert(event())
    assert refused.value.resp.status == 503
