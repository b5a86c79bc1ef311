"""The boundary of a function fed by a Pub/Sub push subscription (``sync_worker``,
``deliver_notification``): the push identity checked (when configured), the envelope decoded,
then the function's own work; any failure answered so that Pub/Sub redelivers."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.config import Settings
from sync.kernel import logs
from sync.kernel.errors import PushRefused, Retryable
from sync.web.http import answer, configure_logs, retry_after, trace_of

if TYPE_CHECKING:  # the ports are for the type checker: importing main stays cheap (a cold start)
    from sync.kernel.ports import PushAuth

# (raw body, log fields) → (status, response, log level)
PushWork = Callable[[bytes, dict[str, Any]], tuple[int, Response, int]]


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


def handle_push(request: Any, settings: Callable[[], Settings], push_auth: Callable[[], PushAuth], function: str,
                work: PushWork, message: str) -> Response:
    """The push identity checked (``push_auth``), then ``work(body, log fields)`` → (status,
    response, log level); one log line per request. ``settings`` and ``push_auth`` are read inside
    the boundary: a deployment missing its configuration answers 500 and says so in the log."""
    started = time.perf_counter()
    fields: dict[str, Any] = {"function": function}
    trace = trace_of(request)
    level = logging.INFO
    try:
        configure_logs(settings())
        if request.method != "POST":
            status, response = 405, answer({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
        else:
            push_auth().check(request.headers)
            status, response, level = work(request.get_data(), fields)
    except PushRefused as exc:  # not the push subscription: no work, and no detail
        fields.update(outcome="push_refused", reason=str(exc))
        status, level = exc.status, logging.WARNING
        response = answer({"error": "unauthorized" if exc.status == 401 else "forbidden"}, exc.status,
                          {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)
    except Retryable as exc:  # e.g. the push identity could not be checked now (certificates unavailable)
        status, response, level = retry(exc, fields)
    except Exception as exc:  # the boundary: log, and let Pub/Sub redeliver
        logs.log(logging.ERROR, f"{function} failed unexpectedly", {**fields, "error_type": type(exc).__name__},
                 trace, exc_info=exc)
        status, response, level = 500, answer({"outcome": "error"}, 500), logging.ERROR
    fields.update(status=status, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    logs.log(level, message, fields, trace)
    return response


def retry(exc: Retryable, fields: dict[str, Any]) -> tuple[int, Response, int]:
    """A transient failure: non-2xx, so Pub/Sub redelivers (after ``Retry-After`` if we know it)."""
    fields.update(outcome="retry", reason=exc.reason)
    return 503, answer({"outcome": "retry"}, 503, retry_after(exc.retry_after)), logging.WARNING
