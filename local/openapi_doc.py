"""docs/openapi.yaml as the local stack and the tests read it: the document, its strict reading,
and the notifications' schemas (its top-level ``webhooks``).

The strict reading closes every object of an answer or a notification (``additionalProperties`` /
``unevaluatedProperties`` false), so a field the service sends without the document naming it
is caught. The document itself stays open for clients (they must ignore fields they do not
know); request objects stay open everywhere, since the service ignores unknown request fields.

Imported lazily (PyYAML, jsonschema): nothing here runs before the first validation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
# Canonical hosts the strict reading routes by: one per function.
WEBHOOK_HOST = "http://handle-webhook.test"
INTEGRATIONS_HOST = "http://integrations.test"


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(DOCUMENT.read_text(encoding="utf-8")))


# -- the strict reading ------------------------------------------------------------------------
def _target(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _request_side(doc: dict[str, Any]) -> set[str]:
    """Every ``$ref`` reachable from what clients send (request bodies and parameters)."""
    roots: list[Any] = []
    for item in doc.get("paths", {}).values():
        roots.append(item.get("parameters", []))
        for op in item.values():
            if isinstance(op, dict):
                roots += [op.get("requestBody", {}), op.get("parameters", [])]
    seen: set[str] = set()
    todo = [r for root in roots for r in _refs(root)]
    while todo:
        ref = todo.pop()
        if ref not in seen:
            seen.add(ref)
            todo += list(_refs(_target(doc, ref)))
    return seen


class _Closer:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc, self.open_refs = doc, _request_side(doc)

    def close(self, node: Any, whole: bool = True) -> Any:
        """A copy of ``node`` with refs inlined and objects closed. ``whole``: ``node`` describes
        the entire value at its place (not one ``allOf`` part of it)."""
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in self.open_refs:
                return node  # shared with requests: never closed
            merged = {**copy.deepcopy(_target(self.doc, ref)), **{k: v for k, v in node.items() if k != "$ref"}}
            return self.close(merged, whole)
        out = dict(node)
        for key in ("oneOf", "anyOf"):
            if key in out:
                out[key] = [self.close(branch, whole) for branch in out[key]]
        if "allOf" in out:
            out["allOf"] = [self.close(branch, False) for branch in out["allOf"]]
            if whole:
                out.setdefault("unevaluatedProperties", False)
        if "properties" in out:
            out["properties"] = {k: self.close(v) for k, v in out["properties"].items()}
            if whole and "allOf" not in out and "oneOf" not in out and "anyOf" not in out:
                out.setdefault("additionalProperties", False)
        if isinstance(out.get("items"), dict):
            out["items"] = self.close(out["items"])
        return out


@lru_cache(maxsize=1)
def strict_document() -> dict[str, Any]:
    doc = copy.deepcopy(document())
    closer = _Closer(doc)
    for item in [*doc.get("paths", {}).values(), *doc.get("webhooks", {}).values()]:
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for answer in op.get("responses", {}).values():
                if "$ref" in answer:
                    shared = copy.deepcopy(_target(doc, answer.pop("$ref")))
                    answer.update(shared)
                for media in answer.get("content", {}).values():
                    if "schema" in media:
                        media["schema"] = closer.close(media["schema"])
    for item in doc.get("webhooks", {}).values():
        for media in item["post"]["requestBody"]["content"].values():
            media["schema"] = closer.close(media["schema"])
    # Route by function: every path on integrations, "/" alone on handle_webhook.
    doc["servers"] = [{"url": INTEGRATIONS_HOST}]
    doc["paths"]["/"]["servers"] = [{"url": WEBHOOK_HOST}]
    return doc


def strict_schema(pointer: str) -> dict[str, Any]:
    """The strict document's schema at a JSON pointer such as ``/webhooks/event.failed/...``."""
    return dict(_target(strict_document(), "#" + pointer))


# -- notifications -----------------------------------------------------------------------------
_URN = "urn:evolutto-sync:openapi"


@lru_cache(maxsize=1)
def _notification_validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    doc = strict_document()
    registry: Registry[Any] = Registry().with_resource(_URN, DRAFT202012.create_resource(doc))
    pointer = "post/requestBody/content/application~1json/schema"
    return {name: Draft202012Validator({"$ref": f"{_URN}#/webhooks/{name}/{pointer}"}, registry=registry,
                                       format_checker=FormatChecker())
            for name in doc["webhooks"]}


def notification_problems(body: Any) -> list[str]:
    """Why ``body`` is not a notification of its type as the document describes it ([] if it is)."""
    validators = _notification_validators()
    kind = body.get("type") if isinstance(body, dict) else None
    if kind not in validators:
        return [f"type {kind!r} is not one of the document's webhooks ({', '.join(sorted(validators))})"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in validators[kind].iter_errors(body)]
