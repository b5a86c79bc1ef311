"""The platform's snapshot routes on ``integrations`` (CONTRACT §7), under the status route's auth.

    POST /api/connections/{a}/{u}/snapshots                      create → 201
    PUT  /api/connections/{a}/{u}/snapshots/{id}/pages/{n}       a page → 202 {"accepted"}
    POST /api/connections/{a}/{u}/snapshots/{id}/complete        {"pages": N} → 202 (or 409)
    GET  /api/connections/{a}/{u}/snapshots/{id}                 progress
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response

from sync import bootstrap
from sync.integrations.tokens import TokenForbidden, TokenInvalid, verify_api
from sync.kernel import logs
from sync.kernel.errors import InvalidPayload, Retryable
from sync.snapshots import model as m
from sync.snapshots.apply import Refused, Snapshots

MAX_BODY = 32 * 1024 * 1024  # a page of 1000 events; Cloud Functions takes 32 MiB


def _json(payload: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status,
                    headers={"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})})


def _body(request: Any) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refused(413, {"error": "payload_too_large"})
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Refused(413, {"error": "payload_too_large"})
    try:
        return json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise Refused(400, {"error": "invalid_payload",
                            "detail": [{"loc": "body", "msg": "must be a UTF-8 JSON document"}]}) from None


def handle(request: Any, link_secret: str, account_id: str, user_id: str, rest: list[str],
           fields: dict[str, Any]) -> Response:
    """``rest``: the path after ``/snapshots`` (split on '/')."""
    try:
        verify_api(request.headers.get("Authorization", ""), link_secret, account_id, user_id)
    except TokenInvalid:
        return _json({"error": "unauthorized"}, 401, {"WWW-Authenticate": 'Bearer realm="evolutto-sync"'})
    except TokenForbidden:
        return _json({"error": "forbidden"}, 403)
    fields.update(account_id=account_id, user_id=user_id)  # only once the token vouches for them
    from sync.snapshots.wiring import engine

    try:
        return _dispatch(engine(), request, account_id, user_id, rest, fields)
    except Refused as exc:
        return _json(exc.body, exc.status)
    except InvalidPayload as exc:
        return _json({"error": "invalid_payload", "detail": exc.detail}, 400)
    except Retryable as exc:
        logs.log(logging.WARNING, "snapshot route unavailable", {**fields, "reason": exc.reason})
        return _json({"error": "unavailable"}, 503, {"Retry-After": "5"})


def _dispatch(snapshots: Snapshots, request: Any, account_id: str, user_id: str, rest: list[str],
              fields: dict[str, Any]) -> Response:
    method = request.method
    if not rest:
        if method != "POST":
            return _json({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
        snapshot_id = snapshots.create(account_id, user_id, m.parse_create(_body(request), snapshots.clock(),
                                                                    bootstrap.config().max_version_skew))
        fields["snapshot_id"] = snapshot_id
        return _json({"snapshot_id": snapshot_id, "state": m.RECEIVING}, 201)
    snapshot_id = rest[0]
    fields["snapshot_id"] = snapshot_id[:80]
    if len(rest) == 1:
        if method != "GET":
            return _json({"error": "method_not_allowed"}, 405, {"Allow": "GET"})
        doc = snapshots.find(account_id, user_id, snapshot_id)
        return _json(snapshots.view(doc, snapshot_id), 200)
    if len(rest) == 3 and rest[1] == "pages":
        if method != "PUT":
            return _json({"error": "method_not_allowed"}, 405, {"Allow": "PUT"})
        n = _page_number(rest[2])
        doc = snapshots.find(account_id, user_id, snapshot_id)
        changes = m.parse_page(_body(request), account_id, user_id, snapshot_id, snapshots.clock(),
                               bootstrap.config().max_version_skew)
        return _json({"accepted": snapshots.put_page(doc, snapshot_id, n, changes)}, 202)
    if len(rest) == 2 and rest[1] == "complete":
        if method != "POST":
            return _json({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
        doc = snapshots.find(account_id, user_id, snapshot_id)
        body = _body(request)
        pages = body.get("pages") if isinstance(body, dict) else None
        if isinstance(pages, bool) or not isinstance(pages, int) or not 0 <= pages <= m.MAX_PAGES:
            raise InvalidPayload([{"loc": "pages", "msg": f"must be the number of pages sent (0 to {m.MAX_PAGES})"}])
        return _json(snapshots.complete(doc, snapshot_id, pages), 202)
    return _json({"error": "not_found"}, 404)


def _page_number(text: str) -> int:
    # ASCII digits only: str.isdigit() also takes "²" (which int() refuses) and "١" (an alias of 1).
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) >= m.MAX_PAGES:
        raise Refused(404, {"error": "not_found", "detail": f"pages are numbered 0 to {m.MAX_PAGES - 1}"})
    return int(text)


def status_fields(account_id: str, user_id: str) -> dict[str, Any]:
    """Additive fields of the status route: the latest snapshot and the latest calendar move."""
    from sync.snapshots.move import move_status
    from sync.snapshots.wiring import engine

    snapshots = engine()
    latest = snapshots.store.latest(account_id, user_id)
    snapshot = None
    if latest is not None:
        view = snapshots.view(latest, latest["snapshot_id"])
        snapshot = {k: view[k] for k in ("snapshot_id", "state", "events", "pending", "counts", "started_at",
                                         "finished_at")}
    return {"snapshot": snapshot, "moving": move_status(snapshots.store, account_id, user_id)}
