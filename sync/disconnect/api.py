"""``DELETE /api/connections/{a}/{u}[?remove_events=true]`` (CONTRACT §4), behind the status route's
auth (sync/integrations/app.py routes here), and the status route's ``removing``.

Answers (JSON):

    200 {"status": "disconnected", "removed_events": n, "deleted_mappings": m}
        done within the request: no removal, or at most INLINE_EVENTS events, removed before it answers
    202 {"status": "disconnected", "removed_events": null, "deleted_mappings": null,
         "removing": {"total", "removed", "failed", "state": "removing"}}
        the connection refuses writes and keeps no event contents already; the events are being
        removed on the bulk lane (progress in the status route, connection.disconnected at the end)
    409 {"error": "cannot_remove_events", …}    remove_events, but Google access is gone: nothing changed
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response

from sync import bootstrap
from sync.disconnect import wiring
from sync.disconnect.removal import INLINE_EVENTS, removing_view
from sync.kernel import logs
from sync.kernel.errors import AuthRevoked, CalendarNotFound, CalendarUnavailable, Permanent, Retryable
from sync.kernel.model import ConnectionStatus

REQUEST_SECONDS = 20.0  # what the request spends before leaving the rest to the bulk lane
CANNOT_REMOVE = {"error": "cannot_remove_events",
                 "detail": "Google access is gone; reconnect first or disconnect without remove_events"}


def _json(payload: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status,
                    headers={"Content-Type": "application/json", "Cache-Control": "no-store"})


def _running(record: dict[str, Any]) -> Response:
    return _json({"status": "disconnected", "removed_events": None, "deleted_mappings": None,
                  "removing": removing_view(record)}, 202)


def _can_remove(doc: dict[str, Any]) -> bool:
    """Google access still works for this connection (one calendarList.get): else removing its
    events cannot be done, and the disconnect is refused before anything changes."""
    if doc.get("status") != ConnectionStatus.ACTIVE.value or not doc.get("token_ref") or not doc.get("calendar_id"):
        return False
    try:
        bootstrap.calendars().session_for_ref(doc["token_ref"]).calendar_entry(doc["calendar_id"])
    except (AuthRevoked, CalendarUnavailable, CalendarNotFound, Permanent):
        return False
    return True


def handle(account_id: str, user_id: str, remove_events: bool) -> Response:
    store = wiring.store()
    doc = store.connections.connection_ref(account_id, user_id).get()
    doc_dict = (doc.to_dict() or {}) if doc.exists else {}
    status = doc_dict.get("status", ConnectionStatus.DISCONNECTED.value)
    live = status not in (ConnectionStatus.DISCONNECTED.value, ConnectionStatus.DISCONNECTING.value)
    if remove_events and live and not _can_remove(doc_dict):
        return _json(CANNOT_REMOVE, 409)
    begun = store.begin(account_id, user_id, remove_events, wiring.now())
    if begun.kind in ("never", "disconnected"):
        return _json({"status": "disconnected", "removed_events": 0, "deleted_mappings": 0}, 200)
    if begun.kind == "running":
        return _running(begun.record)
    record = begun.record
    logs.log(logging.INFO, "disconnecting", {"function": "integrations", "account_id": account_id,
                                             "user_id": user_id, "outcome": "disconnecting"})
    try:
        progress = wiring.disconnects().step(record, REQUEST_SECONDS, inline_limit=INLINE_EVENTS)
    except Retryable as exc:  # the transition is made: the bulk lane finishes what is left
        logs.log(logging.WARNING, "disconnect continues on the bulk lane", {
            "function": "integrations", "account_id": account_id, "user_id": user_id, "reason": exc.reason})
        progress = None
    if progress is not None and progress.finished:
        final = progress.record
        return _json({"status": "disconnected", "removed_events": int(final.get("removed", 0)),
                      "deleted_mappings": int(final.get("deleted_mappings", 0))}, 200)
    current = store.get(account_id, user_id) or record
    wiring.publish_step(current)
    return _running(current)


def removing(account_id: str, user_id: str) -> dict[str, Any] | None:
    """The status route's ``removing`` while a disconnect is under way."""
    record = wiring.store().get(account_id, user_id)
    return removing_view(record) if record else None
