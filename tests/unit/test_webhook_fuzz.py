"""Fuzzing handle_webhook through functions-framework's test client: arbitrary headers and
bodies never produce a 5xx, never publish unless valid, never crash the process."""

import json
import time

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from sync.kernel.errors import InvalidPayload
from sync.kernel.payload import parse_body, parse_change
from sync.kernel.signature import decode_secrets
from sync.kernel.signature import sign as hmac_sign
from tests.fakes import webhook_app
from tests.helpers import new_secret, payload

SECRET = new_secret()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)


@st.composite
def mutated_payloads(draw):
    """A valid payload with one field replaced by anything."""
    data = payload(draw(st.sampled_from(["event.created", "event.updated", "event.deleted"])))
    target = draw(st.sampled_from([data, data["event"]]))
    key = draw(st.sampled_from(sorted(target) + ["start", "reminders_minutes", "attendees", "recurrence"]))
    target[key] = draw(json_values)
    return json.dumps(data)


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(json.dumps),
    mutated_payloads(),
    st.just(json.dumps(payload())),
)
# Headers travel as latin-1: beyond ASCII a client can send U+0080..U+00FF, "²", "³" and "¹" among them,
# which str.isdigit() takes and int() refuses.
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    st.text(alphabet=st.characters(min_codepoint=128, max_codepoint=255), min_size=1, max_size=20),
    st.text(alphabet="0123456789\u00b2\u00b3\u00b9", min_size=1, max_size=12),
)


@pytest.fixture(scope="module")
def client():
    yield from webhook_app("fuzz", SECRET)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=bodies, sign=st.sampled_from([True, True, True, False]),
       method=st.sampled_from(["POST"] * 9 + ["PUT", "GET"]),
       content_type=st.sampled_from(["application/json"] * 5 + ["application/json; charset=utf-8", "text/plain",
                                     "application/cloudevents+json", ""]),
       extra=st.dictionaries(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature",
                                              "Content-Length", "X-Anything"]), header_values, max_size=3))
@example(body=json.dumps(payload()), sign=True, method="POST", content_type="application/json",
         extra={"webhook-timestamp": "\u00b2"})
@example(body=json.dumps(payload()), sign=False, method="POST", content_type="application/json",
         extra={"webhook-id": "\u00e9", "webhook-timestamp": "\u00b9\u00b2", "webhook-signature": "v1,\u00ff"})
def test_no_input_gives_a_5xx_or_an_unjustified_publish(client, body, sign, method, content_type, extra):
    test_client, publisher = client
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    headers = {}
    if sign:  # signed over the exact bytes, so these reach validation
        ts = int(time.time())
        headers = {"webhook-id": "msg_fuzz", "webhook-timestamp": str(ts),
                   "webhook-signature": "v1," + hmac_sign(decode_secrets(SECRET)[0], "msg_fuzz", ts, raw)}
    headers["Content-Type"] = content_type
    if not sign:
        headers.update(extra)
    elif "webhook-timestamp" in extra:  # signed, but the timestamp replaced (a Unicode digit, say)
        headers["webhook-timestamp"] = extra["webhook-timestamp"]
    before = len(publisher.messages)
    try:
        response = test_client.open("/", method=method, data=raw, headers=headers)
    except ValueError:
        return  # werkzeug refused to build the request (e.g. a bad Content-Length): never reached us
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.data
    published = len(publisher.messages) - before
    if response.status_code == 202:
        assert published == 1
        parse_change(parse_body(raw), "check")  # only a valid change is ever accepted
    else:
        assert published == 0
        assert response.status_code in (400, 401, 405, 413, 415)
        if response.status_code == 400:
            with pytest.raises(InvalidPayload):
                parse_change(parse_body(raw), "check")
