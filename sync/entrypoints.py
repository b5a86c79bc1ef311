"""HTTP entry points: decode → one service call → map errors to statuses (contract §2, §3).

``except Exception`` appears only here, at the boundary, and is logged with its stack.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sync import bootstrap, jobs, logs, push_auth
from sync.kernel.errors import ConfigError, InvalidPayload, InvalidSignature, Retryable
from sync.kernel.payload import parse_body, parse_change, too_far_ahead
from sync.kernel.signature import decode_secrets, verify

MAX_BODY = 1024 * 1024
Response = tuple[str, int, dict[str, str]]
JSON_HEADERS = {"Content-Type": "application/json"}


def _json(payload: dict[str, Any], status: int, extra: dict[str, str] | None = None) -> Response:
    return json.dumps(payload, ensure_ascii=False), status, {**JSON_HEADERS, **(extra or {})}


def _setup() -> None:
    s = bootstrap.config()
    logs.configure(s.project, s.log_level)


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _read_limited(request: Any) -> bytes | None:
    """The body, or None when it is over the limit (whatever Content-Length claimed)."""
    body = request.stream.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else bytes(body)


# -- handle_webhook ----------------------------------------------------------------------------
def handle_webhook(request: Any) -> Response:
    started = time.perf_counter()
    fields: dict[str, Any] = {"function": "handle_webhook"}
    trace = logs.trace_from_headers(request.headers)
    try:
        _setup()
        status, response = _webhook(request, fields)
    except Exception as exc:  # the boundary: never let a bug look like acceptance
        logs.log(logging.ERROR, "webhook failed unexpectedly", {**fields, "error_type": type(exc).__name__},
                 trace, exc_info=exc)
        status, response = 503, _json({"error": "unavailable"}, 503)
    fields.update(status=status, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    level = logging.INFO if status < 500 else logging.ERROR
    logs.log(level, "webhook handled", fields, trace)
    return response


def _webhook(request: Any, fields: dict[str, Any]) -> tuple[int, Response]:
    if request.method != "POST":
        return 405, _json({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
    if request.content_length is not None and request.content_length > MAX_BODY:
        return 413, _json({"error": "payload_too_large"}, 413)
    if not _is_json(request.mimetype or ""):
        return 415, _json({"error": "unsupported_media_type"}, 415)
    body = _read_limited(request)
    if body is None:
        return 413, _json({"error": "payload_too_large"}, 413)
    try:
        keys = decode_secrets(bootstrap.config_secrets().get("WEBHOOK_SIGNING_SECRET"))
    except ConfigError as exc:
        fields["reason"] = str(exc)
        return 503, _json({"error": "unavailable"}, 503)
    try:
        webhook_id = verify(keys, request.headers, body, time.time())
    except InvalidSignature as exc:
        fields["outcome"], fields["reason"] = "rejected", str(exc)
        return 401, _json({"error": "invalid_signature"}, 401)
    fields["webhook_id"] = webhook_id
    try:
        change = parse_change(parse_body(body), webhook_id, datetime.now(UTC), bootstrap.config().max_version_skew)
    except InvalidPayload as exc:
        fields["outcome"], fields["reason"] = "invalid", ",".join(d["loc"] for d in exc.detail)[:500]
        return 400, _json({"error": "invalid_payload", "detail": exc.detail}, 400)
    fields.update(change.log_fields())
    message = json.dumps(change.to_message(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    attributes = {"webhook_id": webhook_id, "type": change.type, "account_id": change.account_id,
                  "user_id": change.user_id, "event_id": change.event_id, "updated_at": change.version.rfc3339}
    try:
        fields["message_id"] = bootstrap.publisher().publish(message, change.ordering_key, attributes)
    except Retryable as exc:
        fields["outcome"], fields["reason"] = "publish_failed", exc.reason
        return 503, _json({"error": "unavailable"}, 503)
    fields["outcome"] = "accepted"
    return 202, _json({"status": "accepted", "webhook_id": webhook_id}, 202)


# -- sync_worker -------------------------------------------------------------------------------
class BadEnvelope(Exception):
    pass


def decode_envelope(raw: bytes, meta: dict[str, Any]) -> dict[str, Any]:
    """The message data of a Pub/Sub push body; ``meta`` gets the envelope's ids for the logs."""
    try:
        envelope = json.loads(raw.decode("utf-8"))
        message = envelope["message"]
        meta.update({k: v for k, v in {
            "message_id": str(message.get("messageId") or message.get("message_id") or ""),
            "delivery_attempt": envelope.get("deliveryAttempt"),
            "subscription": str(envelope.get("subscription") or ""),
        }.items() if isinstance(v, (str, int)) and v})
        data = json.loads(base64.b64decode(message["data"], validate=True).decode("utf-8"))
        attributes = message.get("attributes") or {}
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise BadEnvelope("not a Pub/Sub push envelope with JSON data") from None
    if isinstance(data, dict) and "schema" not in data and "type" in data and "event" in data:
        # The webhook payload itself (e.g. published by another producer): the same change.
        webhook_id = attributes.get("webhook_id") if isinstance(attributes, dict) else None
        data = {"schema": 1, "webhook_id": str(webhook_id or meta.get("message_id") or ""), **data}
    if not isinstance(data, dict) or data.get("schema") != 1:
        raise BadEnvelope("message data is not a schema-1 change or job")
    if "kind" not in data and not isinstance(data.get("webhook_id"), str):
        raise BadEnvelope("message data is not a schema-1 change")
    return data


def sync_worker(request: Any) -> Response:
    return handle_push(request, "sync_worker", _work, "change processed")


PushWork = Callable[[bytes, dict[str, Any]], tuple[int, Response, int]]


def handle_push(request: Any, function: str, work: PushWork, message: str) -> Response:
    """The boundary of a function fed by a Pub/Sub push subscription: the push identity checked
    (when configured), then ``work(body, log fields)`` → (status, response, log level)."""
    started = time.perf_counter()
    fields: dict[str, Any] = {"function": function}
    trace = logs.trace_from_headers(request.headers)
    level = logging.INFO
    try:
        _setup()
        if request.method != "POST":
            status, response = 405, _json({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
        else:
            push_auth.check_push(request.headers, bootstrap.config())
            status, response, level = work(request.get_data(), fields)
    except push_auth.PushRefused as exc:  # not the push subscription: no work, and no detail
        fields.update(outcome="push_refused", reason=str(exc))
        status, level = exc.status, logging.WARNING
        response = _json({"error": "unauthorized" if exc.status == 401 else "forbidden"}, exc.status,
                         {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
    except Retryable as exc:  # e.g. the push identity could not be checked now (certificates unavailable)
        status, response, level = _retry(exc, fields)
    except Exception as exc:  # the boundary: log, and let Pub/Sub redeliver
        logs.log(logging.ERROR, f"{function} failed unexpectedly", {**fields, "error_type": type(exc).__name__},
                 trace, exc_info=exc)
        status, response, level = 500, _json({"outcome": "error"}, 500), logging.ERROR
    fields.update(status=status, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    logs.log(level, message, fields, trace)
    return response


def _work(raw: bytes, fields: dict[str, Any]) -> tuple[int, Response, int]:
    try:
        data = decode_envelope(raw, fields)
    except BadEnvelope as exc:
        fields.update(outcome="bad_envelope", reason=str(exc))
        return 400, _json({"outcome": "bad_envelope"}, 400), logging.ERROR
    if "kind" in data:
        return _job(data, fields)
    try:
        change = parse_change(data, data["webhook_id"])
    except InvalidPayload as exc:
        fields.update(outcome="invalid_message", reason=",".join(d["loc"] for d in exc.detail)[:500])
        return 400, _json({"outcome": "invalid_message"}, 400), logging.ERROR
    fields.update(change.log_fields())
    if too_far_ahead(change.version, datetime.now(UTC), bootstrap.config().max_version_skew):
        # Queued before the webhook refused such versions, or published by another producer:
        # applying it would freeze the event against every genuine change. Acknowledged, not retried.
        fields.update(outcome="rejected_future_version", reason="event.updated_at too far ahead")
        return 200, _json({"outcome": "rejected_future_version"}, 200), logging.WARNING
    try:
        outcome = bootstrap.sync_service().apply(change)
    except Retryable as exc:
        return _retry(exc, fields)
    fields.update(outcome=outcome.name, calendar_calls=outcome.calendar_calls)
    if not outcome.acknowledge:
        return 503, _json({"outcome": outcome.name}, 503), logging.INFO
    level = logging.WARNING if outcome.name.startswith(("parked", "failed")) else logging.INFO
    return 200, _json({"outcome": outcome.name}, 200), level


def _job(data: dict[str, Any], fields: dict[str, Any]) -> tuple[int, Response, int]:
    """A message with a ``kind`` (sync/jobs.py): snapshot fan-out, drift checks, maintenance."""
    fields["job"] = str(data["kind"])[:64]
    try:
        outcome = jobs.run(data)
    except jobs.UnknownJob as exc:
        fields.update(outcome="unknown_job", reason=str(exc))
        return 400, _json({"outcome": "unknown_job"}, 400), logging.ERROR
    except Retryable as exc:
        return _retry(exc, fields)
    fields.update(outcome.fields, outcome=outcome.name)
    if not outcome.acknowledge:
        return 503, _json({"outcome": outcome.name}, 503, _retry_after(outcome.retry_after)), logging.INFO
    return 200, _json({"outcome": outcome.name}, 200), logging.INFO


def _retry_after(seconds: float | None) -> dict[str, str] | None:
    return {"Retry-After": str(int(seconds))} if seconds else None


def _retry(exc: Retryable, fields: dict[str, Any]) -> tuple[int, Response, int]:
    """A transient failure: non-2xx, so Pub/Sub redelivers (after ``Retry-After`` if we know it)."""
    fields.update(outcome="retry", reason=exc.reason)
    return 503, _json({"outcome": "retry"}, 503, _retry_after(exc.retry_after)), logging.WARNING
