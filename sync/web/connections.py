"""The platform's connection API on ``integrations`` (docs/connections.md#status, #disconnect),
behind the API-token check:

    GET    /api/connections/{a}/{u}    the status (sync/connections/status.py)
    DELETE /api/connections/{a}/{u}[?remove_events=true]    the disconnect (sync/connections/disconnect.py):

    200 {"status": "disconnected", "removed_events": n, "deleted_mappings": m}
        done within the request: no removal, or at most INLINE_EVENTS events, removed before it answers
    202 {"status": "disconnected", "removed_events": null, "deleted_mappings": null,
         "removing": {"total", "removed", "failed", "state": "removing"}}
        the connection refuses writes and keeps no event contents already; the events are being
        removed on the bulk lane (progress in the status route, connection.disconnected at the end)
    409 {"error": "cannot_remove_events", …}    remove_events, but Google access is gone, or Google's usage
                                                limits refuse every write for now: nothing changed
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response

from sync.web.http import api_answer
from sync.web.tokens import api_refusal

if TYPE_CHECKING:
    from sync.bootstrap import Container

CANNOT_REMOVE = {"error": "cannot_remove_events",
                 "detail": "Google access is gone; reconnect first or disconnect without remove_events"}


def handle(request: Any, c: Container, account_id: str, user_id: str, fields: dict[str, Any]) -> Response:
    refused = api_refusal(request, c.secrets.get("LINK_SIGNING_SECRET"), account_id, user_id)
    if refused is not None:
        return refused
    # Only now are the path's ids worth a log field: they are the token's own.
    fields.update(account_id=account_id, user_id=user_id)
    if request.method not in ("GET", "DELETE"):  # as the snapshot routes: after the token, 405
        return api_answer({"error": "method_not_allowed"}, 405, {"Allow": "GET, DELETE"})
    if request.method == "DELETE":
        return disconnect(c, account_id, user_id, request.args.get("remove_events", "").lower() == "true")
    return api_answer(c.status.status(account_id, user_id), 200)


def disconnect(c: Container, account_id: str, user_id: str, remove_events: bool) -> Response:
    done = c.disconnect.request(account_id, user_id, remove_events)
    if done.kind == "refused":
        return api_answer({**CANNOT_REMOVE, **done.record}, 409)
    if done.kind == "done":
        return api_answer({"status": "disconnected", "removed_events": int(done.record.get("removed", 0)),
                           "deleted_mappings": int(done.record.get("deleted_mappings", 0))}, 200)
    return api_answer({"status": "disconnected", "removed_events": None, "deleted_mappings": None,
                       "removing": done.removing}, 202)
