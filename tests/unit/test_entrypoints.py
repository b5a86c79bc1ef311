"""The functions through functions-framework's own test client, with fakes behind the ports."""

import contextlib
import json
import logging
from collections.abc import Iterator

import pytest
from functions_framework import create_app

from sync import bootstrap
from sync.apply.service import SyncService
from sync.kernel.logs import CloudLoggingFormatter
from tests.fakes import FakeCalendar, FakePublisher, FakeStore, active_connection
from tests.helpers import new_secret, payload, push_envelope, signed_headers

SECRET = new_secret()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "unit-project")
    monkeypatch.setenv("SECRETS_BACKEND", "env")
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", SECRET)
    bootstrap.reset()
    yield
    bootstrap.reset()


@pytest.fixture
def publisher(env):
    fake = FakePublisher()
    bootstrap.container().override(publisher=fake)
    return fake


@pytest.fixture
def webhook(env):
    return create_app("handle_webhook", "main.py").test_client()


@pytest.fixture
def worker(env):
    return create_app("sync_worker", "main.py").test_client()


def post(client, data, headers=None, secret=SECRET):
    body = json.dumps(data) if not isinstance(data, (bytes, str)) else data
    return client.post("/", data=body, headers=headers or signed_headers(secret, body))


def test_valid_webhook_is_published_with_its_ordering_key(webhook, publisher):
    r = post(webhook, payload())
    assert r.status_code == 202
    assert r.get_json()["status"] == "accepted" and r.get_json()["webhook_id"].startswith("msg_")
    [(data, key, attrs)] = publisher.messages
    assert key == "acme-consulting/u-42/ev-1001"
    message = json.loads(data)
    assert message["schema"] == 1 and message["event"]["title"] == "Diagnóstico — Cliente X"
    assert attrs["webhook_id"] == r.get_json()["webhook_id"] and "title" not in attrs


def test_same_webhook_twice_is_accepted_twice(webhook, publisher):
    body = json.dumps(payload())
    headers = signed_headers(SECRET, body)
    assert post(webhook, body, headers).status_code == 202
    assert post(webhook, body, headers).status_code == 202


def test_publish_not_confirmed_is_503(webhook, publisher):
    publisher.fail = True
    r = post(webhook, payload())
    assert r.status_code == 503 and r.get_json() == {"error": "unavailable"}


def test_missing_secret_is_503_not_acceptance(webhook, publisher, monkeypatch):
    monkeypatch.delenv("WEBHOOK_SIGNING_SECRET")
    bootstrap.reset()
    bootstrap.container().override(publisher=publisher)
    assert post(webhook, payload()).status_code == 503
    assert publisher.messages == []


def bad_requests():
    ok = json.dumps(payload())
    yield "GET", lambda c: c.get("/"), 405
    yield "PUT", lambda c: c.put("/", data=ok, headers=signed_headers(SECRET, ok)), 405
    big = json.dumps({**payload(), "pad": "x" * (1024 * 1024)})
    yield "too large", lambda c: c.post("/", data=big, headers=signed_headers(SECRET, big)), 413
    yield "text/plain", lambda c: c.post("/", data=ok, headers={**signed_headers(SECRET, ok),
                                                                "Content-Type": "text/plain"}), 415
    yield "no content type", lambda c: c.post("/", data=ok, headers={
        k: v for k, v in signed_headers(SECRET, ok).items() if k != "Content-Type"}), 415
    yield "unsigned", lambda c: c.post("/", data=ok, headers={"Content-Type": "application/json"}), 401
    yield "wrong secret", lambda c: post(c, ok, secret=new_secret()), 401
    yield "not json", lambda c: post(c, "{not json"), 400
    yield "array", lambda c: post(c, "[]"), 400
    yield "bad field", lambda c: post(c, {**payload(), "type": "event.exploded"}), 400


@pytest.mark.parametrize("name,send,status", list(bad_requests()), ids=[b[0] for b in bad_requests()])
def test_bad_input_gets_its_4xx_and_publishes_nothing(webhook, publisher, name, send, status):
    r = send(webhook)
    assert r.status_code == status
    assert publisher.messages == []
    if status == 401:
        assert r.get_json() == {"error": "invalid_signature"}
    if status == 400:
        assert r.get_json()["error"] == "invalid_payload" and r.get_json()["detail"]


@pytest.fixture
def world(env):
    store, calendar = FakeStore(), FakeCalendar()
    store.save_connection(active_connection())
    bootstrap.container().override(sync_service=SyncService(store, calendar))
    return store, calendar


def message(**kw):
    return {"schema": 1, "webhook_id": "msg_1", **payload(**kw)}


def test_worker_applies_and_acknowledges(worker, world):
    r = worker.post("/", json=push_envelope(message()))
    assert r.status_code == 200 and r.get_json() == {"outcome": "created"}
    assert len(world[1].live("user@example.com")) == 1


def test_worker_retries_transient_failures_with_non_2xx(worker, world):
    from sync.kernel.errors import Retryable

    world[1].faults.append(Retryable("calendar 429", retry_after=7))
    r = worker.post("/", json=push_envelope(message()))
    assert r.status_code == 503 and r.headers["Retry-After"] == "7"
    assert worker.post("/", json=push_envelope(message())).status_code == 200


@pytest.mark.parametrize("body", [b"", b"{}", b'{"message": {}}', b'{"message": {"data": "***"}}',
                                  json.dumps(push_envelope({"no": "schema"})).encode(),
                                  json.dumps(push_envelope({"schema": 1, "webhook_id": "m", "type": "x"})).encode()])
def test_worker_rejects_poison_messages_so_they_dead_letter(worker, world, body):
    r = worker.post("/", data=body, content_type="application/json")
    assert r.status_code == 400
    assert world[1].calls == []


def test_worker_bug_is_500_and_logged_without_message(worker, world, caplog):
    class Exploding:
        def apply(self, change):
            raise RuntimeError("secret-looking detail")

    bootstrap.container().override(sync_service=Exploding())
    r = worker.post("/", json=push_envelope(message()))
    assert r.status_code == 500
    formatter = CloudLoggingFormatter("unit-project")
    out = "\n".join(formatter.format(record) for record in caplog.records)
    assert "RuntimeError" in out and "test_entrypoints.py" in out
    assert "secret-looking detail" not in out


def test_worker_also_takes_the_plain_webhook_payload_as_message_data(worker, world):
    envelope = push_envelope(payload())  # no schema / webhook_id wrapper
    envelope["message"]["attributes"] = {"webhook_id": "msg_from_elsewhere"}
    r = worker.post("/", json=envelope)
    assert r.status_code == 200 and r.get_json() == {"outcome": "created"}
    assert worker.post("/", json=push_envelope(payload())).get_json() == {"outcome": "duplicate"}


def test_a_far_future_version_is_400_at_the_webhook(webhook, publisher):
    r = post(webhook, payload(updated_at="9999-12-31T23:59:59Z"))
    assert r.status_code == 400 and [d["loc"] for d in r.get_json()["detail"]] == ["event.updated_at"]
    assert publisher.messages == []


def test_the_version_skew_is_configurable(webhook, publisher, monkeypatch):
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("MAX_VERSION_SKEW_HOURS", "1")
    bootstrap.reset()
    bootstrap.container().override(publisher=publisher)
    two_hours = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert post(webhook, payload(updated_at=two_hours)).status_code == 400
    half_hour = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    assert post(webhook, payload(updated_at=half_hour)).status_code == 202


def test_the_worker_acknowledges_a_far_future_version_without_writing(worker, world, caplog):
    r = worker.post("/", json=push_envelope(message(updated_at="9999-12-31T23:59:59Z")))
    assert r.status_code == 200 and r.get_json() == {"outcome": "rejected_future_version"}
    assert world[1].calls == [] and world[0].mappings == {}
    [record] = [r for r in caplog.records if getattr(r, "fields", {}).get("outcome") == "rejected_future_version"]
    assert record.levelname == "WARNING"


@contextlib.contextmanager
def sync_records() -> Iterator[list[logging.LogRecord]]:
    """The records of the ``sync`` logger while the block runs (the root's handlers are the service's own)."""
    records: list[logging.LogRecord] = []
    catch = logging.Handler()
    catch.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("sync").addHandler(catch)
    try:
        yield records
    finally:
        logging.getLogger("sync").removeHandler(catch)


@pytest.mark.parametrize(("header", "value", "span"), [
    ("traceparent", "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "b" * 16),
    ("X-Cloud-Trace-Context", "a" * 32 + "/7;o=1", "7"),
])
def test_the_webhooks_log_line_carries_the_requests_trace(webhook, publisher, header, value, span):
    body = json.dumps(payload())
    with sync_records() as records:
        assert post(webhook, body, {**signed_headers(SECRET, body), header: value}).status_code == 202
    [record] = [r for r in records if r.getMessage() == "webhook handled"]
    entry = json.loads(CloudLoggingFormatter("unit-project").format(record))
    assert entry["logging.googleapis.com/trace"] == "projects/unit-project/traces/" + "a" * 32
    assert entry["logging.googleapis.com/spanId"] == span


@pytest.mark.parametrize(("header", "value", "span"), [
    ("traceparent", "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "b" * 16),
    ("X-Cloud-Trace-Context", "a" * 32 + "/7;o=1", "7"),
])
def test_the_workers_log_line_carries_the_push_requests_trace(worker, world, header, value, span):
    """The push routes read the same two trace headers as the webhook (sync/web/http.py::trace_of)."""
    with sync_records() as records:
        assert worker.post("/", json=push_envelope(message()), headers={header: value}).status_code == 200
    traced = [json.loads(CloudLoggingFormatter("unit-project").format(r)) for r in records if getattr(r, "trace", None)]
    assert traced and all(e["logging.googleapis.com/trace"] == "projects/unit-project/traces/" + "a" * 32
                          and e["logging.googleapis.com/spanId"] == span for e in traced)


def test_the_signature_headers_are_read_in_any_case_and_a_missing_one_is_401(webhook, publisher):
    """The route reads the webhook-* headers from the WSGI environ, as werkzeug's headers do: header
    names are case-insensitive, and one that is absent is missing (not an empty string that passes)."""
    body = json.dumps(payload())
    headers = signed_headers(SECRET, body)
    shouted = {name.upper() if name.startswith("webhook-") else name: value for name, value in headers.items()}
    assert post(webhook, body, shouted).status_code == 202
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        r = post(webhook, body, {k: v for k, v in headers.items() if k != name})
        assert (r.status_code, r.get_json()) == (401, {"error": "invalid_signature"})
    assert len(publisher.messages) == 1


def test_a_lone_surrogate_in_the_event_is_a_400_and_nothing_is_published(webhook, publisher):
    """Not a 503 the platform would retry for ever: the text cannot be written anywhere."""
    data = payload()
    data["event"]["title"] = "Diagnóstico \ud800"
    r = post(webhook, json.dumps(data))
    assert r.status_code == 400 and [d["loc"] for d in r.get_json()["detail"]] == ["body"]
    assert publisher.messages == []
    data["event"]["title"] = "Diagnóstico \U0001F600"  # the same character escaped as a pair: taken
    assert post(webhook, json.dumps(data)).status_code == 202 and len(publisher.messages) == 1
