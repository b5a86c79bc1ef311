"""``handle_webhook`` (docs/webhooks.md): a platform webhook verified, validated and published to
the live lane with its ordering key; the 202 only once the publish is confirmed."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.kernel import logs
from sync.kernel.errors import ConfigError, InvalidPayload, InvalidSignature, Retryable
from sync.kernel.payload import parse_body, parse_change
from sync.kernel.signature import SIGNATURE_HEADERS, decode_secrets, verify
from sync.web.http import (
    answer,
    configure_logs,
    declared_too_large,
    environ_headers,
    environ_keys,
    has_json_body,
    read_limited,
    trace_of,
)

if TYPE_CHECKING:
    from sync.bootstrap import Container

MAX_BODY = 1024 * 1024
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # made once, not per message
_SIGNATURE_KEYS = environ_keys(*SIGNATURE_HEADERS)


@lru_cache(maxsize=4)
def _keys(configured: str) -> tuple[bytes, ...]:
    """The signing keys of the configured secret, decoded once per value (a rotation is a new value);
    a malformed one raises ConfigError every time (exceptions are not cached)."""
    return tuple(decode_secrets(configured))


def handle(request: Any, c: Container) -> Response:
    started = time.perf_counter()
    fields: dict[str, Any] = {"function": "handle_webhook"}
    trace = trace_of(request)
    try:
        configure_logs(c.settings)
        status, response = _webhook(request, c, fields)
    except Exception as exc:  # the boundary: never let a bug look like acceptance
        logs.log(logging.ERROR, "webhook failed unexpectedly", {**fields, "error_type": type(exc).__name__},
                 trace, exc_info=exc)
        status, response = 503, answer({"error": "unavailable"}, 503)
    fields.update(status=status, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    level = logging.INFO if status < 500 else logging.ERROR
    logs.log(level, "webhook handled", fields, trace)
    return response


def _webhook(request: Any, c: Container, fields: dict[str, Any]) -> tuple[int, Response]:
    if request.method != "POST":
        return 405, answer({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
    if declared_too_large(request, MAX_BODY):
        return 413, answer({"error": "payload_too_large"}, 413)
    if not has_json_body(request):
        return 415, answer({"error": "unsupported_media_type"}, 415)
    body = read_limited(request, MAX_BODY)
    if body is None:
        return 413, answer({"error": "payload_too_large"}, 413)
    try:
        keys = _keys(c.secrets.get("WEBHOOK_SIGNING_SECRET"))
    except ConfigError as exc:
        fields["reason"] = str(exc)
        return 503, answer({"error": "unavailable"}, 503)
    try:
        webhook_id = verify(keys, environ_headers(request, _SIGNATURE_KEYS), body, time.time())
    except InvalidSignature as exc:
        fields["outcome"], fields["reason"] = "rejected", str(exc)
        return 401, answer({"error": "invalid_signature"}, 401)
    fields["webhook_id"] = webhook_id
    try:
        change = parse_change(parse_body(body), webhook_id, datetime.now(UTC), c.settings.max_version_skew)
    except InvalidPayload as exc:
        fields["outcome"], fields["reason"] = "invalid", ",".join(d["loc"] for d in exc.detail)[:500]
        return 400, answer({"error": "invalid_payload", "detail": exc.detail}, 400)
    logged = change.log_fields()
    fields.update(logged)
    message = _encode(change.to_message()).encode("utf-8")
    attributes = {"webhook_id": webhook_id, "type": change.type, "account_id": change.account_id,
                  "user_id": change.user_id, "event_id": change.event_id, "updated_at": logged["version"]}
    try:
        fields["message_id"] = c.publisher.publish(message, logged["ordering_key"], attributes)
    except Retryable as exc:
        fields["outcome"], fields["reason"] = "publish_failed", exc.reason
        return 503, answer({"error": "unavailable"}, 503)
    fields["outcome"] = "accepted"
    return 202, answer({"status": "accepted", "webhook_id": webhook_id}, 202)
