"""What every route shares: JSON answers, body limits, the log set-up of a request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

from sync.config import Settings
from sync.kernel import logs

JSON = {"Content-Type": "application/json"}
NO_STORE = {"Cache-Control": "no-store"}  # the platform's API and Google's pings: never cached


_encode = json.JSONEncoder(ensure_ascii=False).encode  # made once, not per answer


def answer(payload: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer (UTF-8 as it is: ids may be any text)."""
    return Response(_encode(payload), status=status, headers=headers, content_type=JSON["Content-Type"])


def api_answer(payload: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer of the routes a program calls on ``integrations``: never cached."""
    return answer(payload, status, {**NO_STORE, **(headers or {})})


def is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def has_json_body(request: Any) -> bool:
    """The request's Content-Type is JSON; the usual exact "application/json" is not parsed to know it
    (read from the WSGI environ, where werkzeug's headers read it too)."""
    return request.environ.get("CONTENT_TYPE") == "application/json" or is_json(request.mimetype or "")


def declared_too_large(request: Any, limit: int) -> bool:
    """The request says (Content-Length) its body is over ``limit`` bytes."""
    return request.content_length is not None and request.content_length > limit


def read_limited(request: Any, limit: int) -> bytes | None:
    """The body, or None when it is over ``limit`` bytes (whatever Content-Length claimed)."""
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else bytes(body)


def environ_keys(*names: str) -> tuple[tuple[str, str], ...]:
    """(header, WSGI environ key) of each of ``names``, as werkzeug maps them ("webhook-id" is
    ``HTTP_WEBHOOK_ID``), for ``environ_headers``: worked out once, not per request."""
    return tuple((name, "HTTP_" + name.upper().replace("-", "_")) for name in names)


def environ_headers(request: Any, keys: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The headers of ``keys`` (``environ_keys``) the request has, read from the WSGI environ where
    werkzeug's headers read them too, without their cost per lookup."""
    environ = request.environ
    return {name: environ[key] for name, key in keys if key in environ}


_TRACE_KEYS = environ_keys("traceparent", "X-Cloud-Trace-Context")


def trace_of(request: Any) -> tuple[str, str | None] | None:
    """``logs.trace_from_headers`` of the request, its two trace headers read from the WSGI environ
    (werkzeug's headers pay an exception for each one that is missing)."""
    return logs.trace_from_headers(environ_headers(request, _TRACE_KEYS))


def configure_logs(settings: Settings) -> None:
    logs.configure(settings.project, settings.log_level)


def retry_after(seconds: float | None) -> dict[str, str] | None:
    return {"Retry-After": str(int(seconds))} if seconds else None
