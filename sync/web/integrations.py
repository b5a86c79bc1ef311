"""The ``integrations`` function (docs/README.md#the-functions): its routes by path, and its
boundary (errors → the people's pages, or JSON for the routes a program calls).

    /connect, /oauth/callback, /calendars, /done    the browser flow           sync/web/connect.py
    /privacy                                        the data-use policy        sync/web/privacy.py
    /api/connections/{a}/{u}                        status, disconnect         sync/web/connections.py
    /api/connections/{a}/{u}/snapshots/…            snapshots                  sync/web/snapshots.py
    /google/notifications                           Calendar's push pings      sync/web/pings.py
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.connections.flow import FlowRefused
from sync.kernel import logs
from sync.kernel.errors import AuthRevoked, ConfigError, DisconnectInProgress, Retryable
from sync.web import connect, connections, pages, privacy
from sync.web.http import api_answer, configure_logs, trace_of
from sync.web.paths import function_names, route_path, route_segments

if TYPE_CHECKING:
    from sync.bootstrap import Container


def _route_label(path: str) -> str:
    """What the log says was asked for: a known route's path, never unknown input."""
    if path.startswith("/api/"):
        return "/api"
    return path if path in ("/done", privacy.PATH) or any(path == known for _, known in connect.ROUTES) \
        else "(unknown path)"


def _route(request: Any, c: Container, path: str, lang: str, fields: dict[str, Any]) -> Response:
    if path == "/google/notifications":  # Calendar push pings (docs/drift.md#how-it-notices)
        from sync.web import pings

        return pings.handle(request, c, fields)
    if path == privacy.PATH:  # the data-use policy
        return privacy.handle(request, c.settings, lang)
    if path.startswith("/api/connections/"):
        parts = route_segments(request.environ, path, function_names(os.environ))  # ids may hold '/' or '%'
        if len(parts) > 5 and parts[5] == "snapshots":
            from sync.web import snapshots

            return snapshots.handle(request, c, c.secrets.get("LINK_SIGNING_SECRET"), parts[3], parts[4],
                                    parts[6:], fields)
        if len(parts) != 5:
            return api_answer({"error": "not_found"}, 404)
        return connections.handle(request, c, parts[3], parts[4], fields)
    page = connect.route(request, c, path, lang)
    return page if page is not None else connect.message_page(lang, 404, "not_found")


def _json_route(path: str) -> bool:
    """The routes a program calls (the platform's API, Google's pings): their errors are JSON too."""
    return path.startswith("/api/") or path == "/google/notifications"


def handle(request: Any, c: Container) -> Response:
    started = time.perf_counter()
    lang = pages.language(request.headers.get("Accept-Language"))
    path = route_path(request.path, function_names(os.environ))
    fields: dict[str, Any] = {"function": "integrations"}
    trace = trace_of(request)
    try:
        configure_logs(c.settings)
        response = _route(request, c, path, lang, fields)
    except FlowRefused as page:
        response = connect.message_page(lang, page.status, page.page)
        fields["reason"] = page.page
    except (Retryable, ConfigError) as exc:
        logs.log(logging.WARNING, "integrations dependency unavailable", {**fields, "reason": str(exc)}, trace)
        response = (api_answer({"error": "unavailable"}, 503, {"Retry-After": "5"}) if _json_route(path)
                    else connect.message_page(lang, 503, "unavailable"))
    except AuthRevoked:
        response = connect.message_page(lang, 401, "session")
    except DisconnectInProgress:  # a reconnect while the previous disconnect still removes events
        response = connect.message_page(lang, 409, "disconnecting")
    except Exception as exc:  # the boundary
        logs.log(logging.ERROR, "integrations failed unexpectedly", {**fields, "error_type": type(exc).__name__},
                 trace, exc_info=exc)
        response = (api_answer({"error": "internal"}, 500) if _json_route(path)
                    else connect.message_page(lang, 500, "unavailable"))
    fields.update(status=response.status_code, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    level = logging.INFO if response.status_code < 500 else logging.ERROR
    logs.log(level, f"{request.method} {_route_label(path)}", fields, trace)
    return response
