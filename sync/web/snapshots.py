"""The platform's snapshot routes on ``integrations`` (docs/snapshots.md), under the API-token check;
the use case is sync/snapshots/service.py.

    POST /api/connections/{a}/{u}/snapshots                      create → 201
    PUT  /api/connections/{a}/{u}/snapshots/{id}/pages/{n}       a page → 202 {"accepted"}
    POST /api/connections/{a}/{u}/snapshots/{id}/complete        {"pages": N} → 202 (or 409)
    GET  /api/connections/{a}/{u}/snapshots/{id}                 progress
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.kernel import logs
from sync.kernel.errors import InvalidPayload, Retryable
from sync.kernel.payload import decode_json
from sync.snapshots import model as m
from sync.snapshots.service import Refused, Snapshots
from sync.web.http import api_answer, declared_too_large
from sync.web.tokens import api_refusal

if TYPE_CHECKING:
    from sync.bootstrap import Container

MAX_BODY = 32 * 1024 * 1024  # a page of 1000 events; Cloud Functions takes 32 MiB


def _body(request: Any) -> Any:
    if declared_too_large(request, MAX_BODY):
        raise Refused(413, {"error": "payload_too_large"})
    raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Refused(413, {"error": "payload_too_large"})
    return decode_json(raw) if raw else {}  # InvalidPayload: a 400 (handle)


def handle(request: Any, c: Container, link_secret: str, account_id: str, user_id: str, rest: list[str],
           fields: dict[str, Any]) -> Response:
    """``rest``: the path after ``/snapshots`` (split on '/')."""
    refused = api_refusal(request, link_secret, account_id, user_id)
    if refused is not None:
        return refused
    fields.update(account_id=account_id, user_id=user_id)  # only once the token vouches for them
    try:
        return _dispatch(c.snapshots, c, request, account_id, user_id, rest, fields)
    except Refused as exc:
        return api_answer(exc.body, exc.status)
    except InvalidPayload as exc:
        return api_answer({"error": "invalid_payload", "detail": exc.detail}, 400)
    except Retryable as exc:
        logs.log(logging.WARNING, "snapshot route unavailable", {**fields, "reason": exc.reason})
        return api_answer({"error": "unavailable"}, 503, {"Retry-After": "5"})


def _dispatch(snapshots: Snapshots, c: Container, request: Any, account_id: str, user_id: str, rest: list[str],
              fields: dict[str, Any]) -> Response:
    method = request.method
    if not rest:
        if method != "POST":
            return api_answer({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
        snapshot_id = snapshots.create(account_id, user_id, m.parse_create(_body(request), snapshots.clock(),
                                                                    c.settings.max_version_skew))
        fields["snapshot_id"] = snapshot_id
        return api_answer({"snapshot_id": snapshot_id, "state": m.RECEIVING}, 201)
    snapshot_id = rest[0]
    fields["snapshot_id"] = snapshot_id[:80]
    if len(rest) == 1:
        if method != "GET":
            return api_answer({"error": "method_not_allowed"}, 405, {"Allow": "GET"})
        doc = snapshots.find(account_id, user_id, snapshot_id)
        return api_answer(snapshots.view(doc, snapshot_id), 200)
    if len(rest) == 3 and rest[1] == "pages":
        if method != "PUT":
            return api_answer({"error": "method_not_allowed"}, 405, {"Allow": "PUT"})
        n = _page_number(rest[2])
        doc = snapshots.find(account_id, user_id, snapshot_id)
        changes = m.parse_page(_body(request), account_id, user_id, snapshot_id, snapshots.clock(),
                               c.settings.max_version_skew)
        return api_answer({"accepted": snapshots.put_page(doc, snapshot_id, n, changes)}, 202)
    if len(rest) == 2 and rest[1] == "complete":
        if method != "POST":
            return api_answer({"error": "method_not_allowed"}, 405, {"Allow": "POST"})
        doc = snapshots.find(account_id, user_id, snapshot_id)
        body = _body(request)
        pages = body.get("pages") if isinstance(body, dict) else None
        if isinstance(pages, bool) or not isinstance(pages, int) or not 0 <= pages <= m.MAX_PAGES:
            raise InvalidPayload([{"loc": "pages", "msg": f"must be the number of pages sent (0 to {m.MAX_PAGES})"}])
        return api_answer(snapshots.complete(doc, snapshot_id, pages), 202)
    return api_answer({"error": "not_found"}, 404)


def _page_number(text: str) -> int:
    # ASCII digits only: str.isdigit() also takes "²" (which int() refuses) and "١" (an alias of 1).
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) >= m.MAX_PAGES:
        raise Refused(404, {"error": "not_found", "detail": f"pages are numbered 0 to {m.MAX_PAGES - 1}"})
    return int(text)
