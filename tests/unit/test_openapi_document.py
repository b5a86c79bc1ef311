"""docs/openapi.yaml is a valid OpenAPI 3.1 document that covers what the service serves and sends.

(That every answer matches it is checked end to end: tests/openapi_check.py, tests/e2e.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from local.openapi_doc import document, strict_document
from local.receiver import Receiver
from sync.kernel import notification as notes
from sync.kernel.payload import parse_change
from sync.snapshots.model import parse_page
from sync.web.connect import ROUTES

METHODS = ("get", "put", "post", "delete", "patch")


def test_the_document_is_valid_openapi_3_1():
    assert document()["openapi"].startswith("3.1.")
    validate(document())


def test_the_strict_reading_is_valid_too():
    validate(strict_document())


def test_every_route_of_the_functions_is_documented():
    paths = document()["paths"]
    served = {(method.lower(), path) for method, path in ROUTES} | {
        ("get", "/done"), ("get", "/privacy"), ("post", "/google/notifications"), ("post", "/"),
        ("get", "/api/connections/{account_id}/{user_id}"), ("delete", "/api/connections/{account_id}/{user_id}"),
        ("post", "/api/connections/{account_id}/{user_id}/snapshots"),
        ("get", "/api/connections/{account_id}/{user_id}/snapshots/{snapshot_id}"),
        ("put", "/api/connections/{account_id}/{user_id}/snapshots/{snapshot_id}/pages/{n}"),
        ("post", "/api/connections/{account_id}/{user_id}/snapshots/{snapshot_id}/complete"),
    }
    documented = {(m, p) for p, item in paths.items() for m in METHODS if m in item
                  and "Method not allowed" not in item[m].get("tags", [])}
    assert documented == served


def test_every_operation_lists_its_answers_and_every_json_error_names_its_code():
    for path, item in document()["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            responses = item[method]["responses"]
            assert responses, (method, path)
            if "Method not allowed" in item[method].get("tags", []):
                # Under /api/ the token is checked first (401/403); elsewhere the method is.
                server = {"414", "431"}  # refused by the HTTP server before the service: every route
                own = {"401", "403", "404", "405"} if path.startswith("/api/") else {"405"}
                assert set(responses) == server | own, (method, path)


def test_every_notification_type_is_a_webhook_of_the_document():
    assert set(document()["webhooks"]) == set(notes.TYPES)


def _validator(pointer: str) -> Draft202012Validator:
    urn = "urn:test:openapi"
    registry: Registry[Any] = Registry().with_resource(urn, DRAFT202012.create_resource(strict_document()))
    return Draft202012Validator({"$ref": f"{urn}#{pointer}"}, registry=registry)


@pytest.mark.parametrize("make", [
    lambda: notes.activated("a", "u", "g@example.com", "cal", None, ("1",)),
    lambda: notes.activated("a", "u", None, "cal", "old", ("1",)),
    lambda: notes.needs_reauth("a", "u", "g@example.com", "invalid_grant", ("1",)),
    lambda: notes.calendar_unavailable("a", "u", "cal", ("1",)),
    lambda: notes.disconnected("a", "u", 3, ("1",)),
    lambda: notes.snapshot_completed("a", "u", "snp_" + "x" * 24, dict.fromkeys(
        ("created", "updated", "unchanged", "deleted", "failed", "parked"), 0)),
    lambda: notes.event_failed("a", "u", "ev-1", "2026-11-20T13:00:00Z", "Bad Request"),
    lambda: notes.drift_repaired("a", "u", "ev-1", "edited", ("etag",)),
    lambda: notes.drift_repaired("a", "u", "ev-1", "deleted", ("etag",), restored=False),
], ids=["activated", "activated-switch", "needs_reauth", "calendar_unavailable", "disconnected",
        "snapshot_completed", "event_failed", "drift_edited", "drift_reported"])
def test_each_notification_the_service_builds_matches_its_schema(make):
    notification = make()
    body = notification.to_body()
    schema = f"/webhooks/{notification.type}/post/requestBody/content/application~1json/schema"
    assert list(_validator(schema).iter_errors(body)) == []
    header = next(p for p in document()["components"]["parameters"].values() if p["name"] == "webhook-id"
                  and p["in"] == "header" and "pattern" in p["schema"])
    assert re.fullmatch(header["schema"]["pattern"], notification.id)


def test_the_receiver_reports_a_notification_that_breaks_its_document():
    good = notes.disconnected("a", "u", 0, ("1",)).to_body()
    receiver = Receiver([], echo=False)
    from local.receiver import document_problems

    assert document_problems(good) == []
    leaked = {**good, "data": {**good["data"], "title": "Diagnóstico"}}
    assert any("title" in p for p in document_problems(leaked))
    assert document_problems({**good, "type": "connection.exploded"})
    assert receiver.document_problems() == []


def _examples(media: dict[str, Any]) -> list[Any]:
    return [e["value"] for e in media.get("examples", {}).values()]


def test_the_documents_webhook_examples_are_accepted_by_the_service():
    media = document()["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]
    examples = _examples(media)
    assert len(examples) >= 3
    for body in examples:
        assert list(_validator("/components/schemas/EventWebhook").iter_errors(body)) == []
        parse_change(body, "msg_example", datetime(2026, 11, 20, 13, tzinfo=UTC))


def test_a_snapshot_page_of_the_webhook_examples_is_accepted():
    media = document()["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]
    events = [body["event"] for body in _examples(media) if body["type"] != "event.deleted"]
    assert parse_page({"events": events}, "acme-consulting", "u-42", "snp_" + "x" * 24,
                      datetime(2026, 11, 20, 13, tzinfo=UTC))


def test_the_patterns_are_the_same_in_python_and_ecmascript_terms():
    """Patterns only use what both dialects read alike: no \\d (Unicode digits in Python), no inline flags."""
    def patterns(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            return found + [p for v in node.values() for p in patterns(v)]
        if isinstance(node, list):
            return [p for v in node for p in patterns(v)]
        return []

    found = patterns(document())
    assert found
    for pattern in found:
        re.compile(pattern)
        assert "\\d" not in pattern and "(?" not in pattern, pattern
