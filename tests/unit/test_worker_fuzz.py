"""Fuzzing sync_worker through functions-framework's test client: any push body and headers
(non-ASCII, Unicode digits, wrong envelopes, far-future versions) with the push identity check
on and off: never a 5xx (a 5xx means "redeliver"), and a Calendar write only for a valid change."""

from __future__ import annotations

import base64
import json

import pytest
from functions_framework import create_app
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync import bootstrap
from sync.apply.service import SyncService
from tests.fakes import FakeCalendar, FakeStore, active_connection
from tests.helpers import payload
from tests.unit.test_push_auth import AUDIENCE, PUSH_SA, CertServer, id_token

text = st.text(max_size=40)
latin1 = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40)
digits = st.text(alphabet="0123456789\u00b2\u00b3\u00b9\u0661\u0967", min_size=1, max_size=12)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | text | digits,
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=4), max_leaves=12)


@st.composite
def messages(draw):
    """Message data: a change with one field replaced, a plain webhook payload, or anything."""
    data = {"schema": 1, "webhook_id": "msg_fuzz", **payload(draw(st.sampled_from(
        ["event.created", "event.updated", "event.deleted"])), event_id="ev-" + draw(digits))}
    target = draw(st.sampled_from([data, data["event"]]))
    key = draw(st.sampled_from(sorted(target)))
    target[key] = draw(st.one_of(json_values, st.just("9999-12-31T23:59:59Z"), digits))
    return draw(st.sampled_from([data, {k: v for k, v in data.items() if k not in ("schema", "webhook_id")}]))


def envelope(data: bytes, **message: object) -> bytes:
    return json.dumps({"message": {"data": base64.b64encode(data).decode(), "messageId": "1", **message},
                       "subscription": "projects/p/subscriptions/s"}).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    messages().map(lambda m: envelope(json.dumps(m, ensure_ascii=False).encode())),
    st.binary(max_size=100).map(envelope),
    st.builds(lambda m, a: envelope(json.dumps(m).encode(), attributes=a), messages(), json_values),
)
headers = st.dictionaries(st.sampled_from(["Authorization", "Content-Type", "traceparent", "X-Cloud-Trace-Context"]),
                          st.one_of(latin1, digits.filter(lambda s: all(ord(c) < 256 for c in s)),
                                    st.builds(lambda t: "Bearer " + t, latin1)), max_size=3)


@pytest.fixture(scope="module")
def certs():
    server = CertServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module", params=["push check off", "push check on"])
def worker(request, certs):
    mp = pytest.MonkeyPatch()
    mp.setenv("GOOGLE_CLOUD_PROJECT", "fuzz")
    mp.setenv("SECRETS_BACKEND", "env")
    if request.param == "push check on":
        mp.setenv("PUSH_AUDIENCE", AUDIENCE)
        mp.setenv("PUSH_SERVICE_ACCOUNT", PUSH_SA)
        mp.setenv("PUSH_CERTS_URL", certs.url)
    bootstrap.reset()
    calendar = FakeCalendar()
    store = FakeStore()
    store.save_connection(active_connection())
    bootstrap.container().override(sync_service=SyncService(store, calendar))
    yield create_app("sync_worker", "main.py").test_client(), calendar, request.param == "push check on"
    bootstrap.reset()
    mp.undo()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=bodies, extra=headers, authorized=st.booleans())
@example(body=envelope(json.dumps({"schema": 1, "webhook_id": "m", **payload(updated_at="9999-12-31T23:59:59Z")})
                       .encode()), extra={}, authorized=True)
@example(body=envelope("\u00e9".encode()), extra={"Authorization": "Bearer \u00e9\u00b2"}, authorized=False)
def test_no_push_gives_a_5xx(worker, body, extra, authorized):
    client, calendar, check_on = worker
    sent = {"Content-Type": "application/json", **extra}
    if authorized:
        sent["Authorization"] = "Bearer " + id_token()
    calls_before = len(calendar.calls)
    try:
        r = client.post("/", data=body, headers=sent)
    except (ValueError, UnicodeEncodeError):
        return  # the test client could not build the request: it would never reach us
    assert r.status_code < 500, r.data
    if check_on and not authorized:
        assert r.status_code in (401, 403) and len(calendar.calls) == calls_before
    if r.status_code != 200:
        assert len(calendar.calls) == calls_before
