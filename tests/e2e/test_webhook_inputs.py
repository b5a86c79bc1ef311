"""Every malformed header, body and field gets its documented 4xx, never a 5xx, and nothing is
published: an audit subscription on the topic sees every message the webhook publishes."""

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from google.api_core.exceptions import DeadlineExceeded
from google.cloud import pubsub_v1

from local.stack import PROJECT
from tests.helpers import new_secret, payload, signed_headers


@pytest.fixture(scope="module")
def audit(stack):
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(PROJECT, "audit-" + uuid.uuid4().hex[:8])
    subscriber.create_subscription(request={"name": path, "topic": f"projects/{PROJECT}/topics/{stack.topic}"})
    yield subscriber, path
    subscriber.delete_subscription(request={"subscription": path})
    subscriber.close()


def published_ids(audit, until):
    """Webhook ids of everything published, pulled until ``until`` shows up, plus one more round."""
    subscriber, path = audit
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    extra_round = True
    while time.monotonic() < deadline and (until not in seen or extra_round):
        extra_round = until not in seen
        try:
            response = subscriber.pull(request={"subscription": path, "max_messages": 1000}, timeout=3)
        except DeadlineExceeded:  # what the emulator answers when there is nothing to pull
            continue
        if response.received_messages:
            subscriber.acknowledge(request={"subscription": path,
                                            "ack_ids": [m.ack_id for m in response.received_messages]})
        seen |= {m.message.attributes.get("webhook_id") for m in response.received_messages}
    return seen


def field_case(path, value):
    data = payload()
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return json.dumps(data)


_DELETE = object()
BAD_FIELDS = [
    (("type",), "event.exploded"), (("type",), _DELETE), (("account_id",), ""), (("account_id",), 7),
    (("user_id",), _DELETE), (("user_id",), ["u"]), (("event",), "ev-1"), (("event",), _DELETE),
    (("event", "id"), _DELETE), (("event", "id"), 1001), (("event", "updated_at"), _DELETE),
    (("event", "updated_at"), "2026-11-20T13:00:00"), (("event", "updated_at"), "soon"),
    (("event", "title"), _DELETE), (("event", "title"), ""), (("event", "title"), 5),
    (("event", "description"), "x" * 8193), (("event", "description"), False),
    (("event", "location"), ["Sala"]), (("event", "start"), _DELETE), (("event", "end"), _DELETE),
    (("event", "start"), {"date_time": "2026-11-25T14:00:00"}),
    (("event", "start"), {"date_time": "2026-11-25T14:00:00", "time_zone": "America/Atlantis"}),
    (("event", "start"), {"date": "2026-11-31"}), (("event", "end"), {"date": "2026-11-26"}),
    (("event", "end"), {"date_time": "2026-11-25T13:00:00", "time_zone": "America/Sao_Paulo"}),
    (("event", "recurrence"), ["RRULE:FREQ=NEVER"]), (("event", "recurrence"), "RRULE:FREQ=DAILY"),
    (("event", "attendees"), [{"email": "nope"}]), (("event", "attendees"), [{"email": "a@b.co", "optional": 1}]),
    (("event", "reminders_minutes"), [1, 2, 3, 4, 5, 6]), (("event", "reminders_minutes"), [40321]),
    (("event", "reminders_minutes"), ["10"]), (("event", "conference_url"), "meet.example.com/abc"),
    (("event", "url"), "javascript:alert(1)"),
    (("event", "updated_at"), "9999-12-31T23:59:59Z"),  # would freeze the event against every change
    (("event", "updated_at"), (datetime.now(timezone.utc) + timedelta(hours=25)).isoformat()),
]


def cases(secret):
    ok = json.dumps(payload())
    stale = datetime.now(timezone.utc) - timedelta(minutes=6)
    future = datetime.now(timezone.utc) + timedelta(minutes=6)
    yield "GET", "GET", ok, None, 405
    yield "PUT", "PUT", ok, signed_headers(secret, ok), 405
    yield "DELETE", "DELETE", ok, signed_headers(secret, ok), 405
    big = json.dumps({**payload(), "pad": "x" * (1024 * 1024)})
    yield "over 1 MiB", "POST", big, signed_headers(secret, big), 413
    yield "text/plain", "POST", ok, {**signed_headers(secret, ok), "Content-Type": "text/plain"}, 415
    yield "form", "POST", ok, {**signed_headers(secret, ok), "Content-Type": "application/x-www-form-urlencoded"}, 415
    yield "no signature headers", "POST", ok, {"Content-Type": "application/json"}, 401
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = signed_headers(secret, ok)
        del headers[header]
        yield f"missing {header}", "POST", ok, headers, 401
    yield "wrong secret", "POST", ok, signed_headers(new_secret(), ok), 401
    yield "stale timestamp", "POST", ok, signed_headers(secret, ok, timestamp=stale), 401
    yield "future timestamp", "POST", ok, signed_headers(secret, ok, timestamp=future), 401
    yield "non-numeric timestamp", "POST", ok, {**signed_headers(secret, ok), "webhook-timestamp": "now"}, 401
    yield "superscript-two timestamp", "POST", ok, {**signed_headers(secret, ok), "webhook-timestamp": "\u00b2"}, 401
    yield "garbage signature", "POST", ok, {**signed_headers(secret, ok), "webhook-signature": "v1,@@@"}, 401
    tampered = ok.replace("Cliente X", "Cliente Y")
    yield "tampered body", "POST", tampered, signed_headers(secret, ok), 401
    for body in ("", "{", "[]", "null", '"text"', "\ufeff{}"):
        yield f"body {body!r}", "POST", body, signed_headers(secret, body), 400
    for path, value in BAD_FIELDS:
        body = field_case(path, value)
        yield f"{'.'.join(path)}={'<absent>' if value is _DELETE else str(value)[:20]}", "POST", body, \
            signed_headers(secret, body), 400


def test_bad_input_matrix(platform, audit):
    sent_ids, failures = set(), []
    for name, method, body, headers, expected in cases(platform.secret):
        headers = dict(headers or {})
        if "webhook-id" in headers:
            sent_ids.add(headers["webhook-id"])
        r = requests.request(method, platform.stack.url("handle_webhook"), data=body.encode("utf-8"),
                             headers=headers, timeout=30)
        if r.status_code != expected:
            failures.append(f"{name}: {r.status_code} (wanted {expected}) {r.text[:200]}")
        elif expected == 400:
            detail = r.json()
            if detail.get("error") != "invalid_payload" or not detail.get("detail"):
                failures.append(f"{name}: 400 without detail: {detail}")
        elif expected == 401 and r.json() != {"error": "invalid_signature"}:
            failures.append(f"{name}: 401 body {r.text}")
    assert not failures, "\n".join(failures)
    # A valid one goes through the same audit subscription, so the check below can see messages.
    good = platform.accepted(payload(account_id="audit", user_id="audit"))
    seen = published_ids(audit, good)
    assert good in seen
    assert not (seen & sent_ids), "a rejected webhook was published"


def test_a_far_future_version_is_400_at_event_updated_at(platform):
    body = json.dumps(payload(updated_at="9999-12-31T23:59:59Z"))
    r = requests.post(platform.stack.url("handle_webhook"), data=body.encode(), timeout=30,
                      headers=signed_headers(platform.secret, body))
    assert r.status_code == 400 and r.json()["error"] == "invalid_payload"
    assert [d["loc"] for d in r.json()["detail"]] == ["event.updated_at"]
    near = (datetime.now(timezone.utc) + timedelta(hours=23)).isoformat()  # within the 24 hours allowed
    body = json.dumps(payload(updated_at=near, account_id="audit", user_id="audit", event_id="near-future"))
    assert requests.post(platform.stack.url("handle_webhook"), data=body.encode(), timeout=30,
                         headers=signed_headers(platform.secret, body)).status_code == 202


def test_a_far_future_version_already_queued_is_acknowledged_and_not_written(platform, user):
    """A message the webhook would refuse now, but queued earlier or published by another producer."""
    from sync.adapters.pubsub import PubSubPublisher

    ids = {"account_id": user["account_id"], "user_id": user["user_id"], "event_id": "ev-far-future"}
    change = {"schema": 1, "webhook_id": "msg-far-future-" + uuid.uuid4().hex[:6],
              **payload(account_id=ids["account_id"], user_id=ids["user_id"], event_id=ids["event_id"],
                        updated_at="9999-12-31T23:59:59Z")}
    PubSubPublisher(PROJECT, platform.stack.topic).publish(
        json.dumps(change).encode(), f"{ids['account_id']}/{ids['user_id']}/{ids['event_id']}",
        {"webhook_id": change["webhook_id"]})
    platform.wait_outcome(change["webhook_id"], "rejected_future_version")
    [line] = [x for x in platform.worker_lines() if x.get("webhook_id") == change["webhook_id"]]
    assert line["severity"] == "WARNING" and line["status"] == 200
    assert platform.event(user, ids["event_id"]) is None
    # The same event at a sane version is written as usual: nothing was recorded for the future one.
    platform.wait_outcome(platform.accepted(payload(**ids)), "created")
