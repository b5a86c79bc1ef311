"""Calendar's usage limits on the stand-in (403 quotaExceeded per user), as the real client sees them."""

import time

import pytest
import requests
from googleapiclient.errors import HttpError

from sync.adapters.calendar_api import error_reason
from tests.integration.standin_client import OWNER, ROOMLESS, Client, client, event, standin  # noqa: F401

pytestmark = pytest.mark.integration
MESSAGE = "Calendar usage limits exceeded."


def refused(write):
    with pytest.raises(HttpError) as info:
        write()
    return info.value


def test_quota_exceeded_has_googles_shape(standin, client):  # noqa: F811
    standin.state.limit_usage(OWNER)
    err = refused(lambda: client.insert(event()))
    assert err.resp.status == 403
    assert err.reason == MESSAGE  # what googleapiclient parses out of the body
    assert err.error_details == [{"domain": "usageLimits", "reason": "quotaExceeded", "message": MESSAGE}]
    assert error_reason(err) == "quotaExceeded"
    assert standin.state.calls["rejected_usage_limit"] == 1


def test_every_write_is_refused_and_reads_still_answer(standin, client):  # noqa: F811
    body = client.insert(event(summary="Antes"))
    standin.state.limit_usage(OWNER)
    for write in (lambda: client.insert(event()),
                  lambda: client.update({**body, "summary": "Depois"}),
                  lambda: client.patch(body["id"], {"summary": "Depois"}),
                  lambda: client.delete(body["id"]),
                  lambda: client(client.events().move(calendarId=OWNER, eventId=body["id"], destination=ROOMLESS))):
        assert refused(write).resp.status == 403
    assert client.get(body["id"]) == body  # nothing changed, and reads answer
    assert [e["id"] for e in client(client.events().list(calendarId=OWNER))["items"]] == [body["id"]]
    assert client(client.service.calendarList().get(calendarId=OWNER))["id"] == OWNER


def test_only_that_user_and_only_until_lifted_or_over(standin, client):  # noqa: F811
    standin.state.add_user("outra@consultoria.example")
    other = Client(standin, "outra@consultoria.example")
    standin.state.limit_usage(OWNER, until=time.time() + 3600)
    other.insert(event(), calendar_id="outra@consultoria.example")  # another user writes on
    assert refused(lambda: client.insert(event())).resp.status == 403
    standin.state.lift_usage_limit(OWNER)
    client.insert(event())
    standin.state.limit_usage(OWNER, until=time.time() - 1)  # a limit already over refuses nothing
    client.insert(event())


def test_admin_route(standin, client):  # noqa: F811
    admin = standin.url + "_admin/usage_limits"
    until = time.time() + 600
    assert requests.post(admin, json={"email": OWNER, "until": until}, timeout=5).json() == {
        "limited": {OWNER: until}}
    assert refused(lambda: client.insert(event())).resp.status == 403
    assert requests.delete(admin, params={"email": OWNER}, timeout=5).json() == {"limited": {}}
    client.insert(event())
    assert requests.post(admin, json={"email": OWNER}, timeout=5).json() == {"limited": {OWNER: None}}
    assert requests.post(admin, json={"email": OWNER, "seconds": 5, "until": until}, timeout=5).status_code == 400
    assert requests.post(admin, json={"seconds": 5}, timeout=5).status_code == 400
    assert requests.delete(admin, timeout=5).json() == {"limited": {}}
    client.insert(event())
