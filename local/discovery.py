"""Validate JSON bodies against a Google discovery document's schemas (the stand-in's strictness).

Discovery schemas look like JSON Schema but are not: ``$ref`` names a schema, integers of
format int64 travel as strings, and Google rejects unknown field names.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$")


@lru_cache(maxsize=1)
def calendar_document() -> dict[str, Any]:
    import googleapiclient

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json"
    return json.loads(path.read_text())


def validate(value: Any, schema: dict[str, Any], path: str, doc: dict[str, Any] | None = None) -> list[str]:
    """Problems with ``value`` against a discovery ``schema``, as readable messages."""
    doc = doc or calendar_document()
    if "$ref" in schema:
        return validate(value, doc["schemas"][schema["$ref"]], path, doc)
    kind = schema.get("type", "any")
    if kind == "any" or value is None:
        return []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        problems: list[str] = []
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                problems += validate(item, props[key], f"{path}.{key}", doc)
            elif extra is not None:
                problems += validate(item, extra, f"{path}.{key}", doc)
            else:
                problems.append(f'Invalid JSON payload received. Unknown name "{key}" at \'{path}\'')
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        out: list[str] = []
        for i, item in enumerate(value):
            out += validate(item, schema.get("items", {}), f"{path}[{i}]", doc)
        return out
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean"]
    if kind == "integer":
        if schema.get("format") == "int64" and isinstance(value, str):
            return [] if re.fullmatch(r"-?\d+", value) else [f"{path}: expected an int64"]
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer"]
        if schema.get("format") == "int32" and not -(2**31) <= value < 2**31:
            return [f"{path}: out of int32 range"]
        return []
    if kind == "number":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: expected a number"]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string"]
        fmt = schema.get("format")
        if fmt == "date-time" and not _RFC3339.match(value):
            return [f"{path}: invalid date-time"]
        if fmt == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                return [f"{path}: invalid date"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{path}: not one of {schema['enum']}"]
        return []
    return []


def method(resource: str, name: str) -> dict[str, Any]:
    return calendar_document()["resources"][resource]["methods"][name]


STANDARD_PARAMETERS = {"alt", "fields", "key", "oauth_token", "prettyPrint", "quotaUser", "userIp",
                       "access_token", "upload_protocol", "uploadType", "callback", "$.xgafv"}


def validate_query(resource: str, name: str, query: dict[str, str]) -> list[str]:
    """Unknown query parameters, bad enum values and integers that are malformed or outside the
    method's ``minimum`` / ``maximum`` (``conferenceDataVersion`` is 0 or 1) are rejected, as Google does."""
    params = method(resource, name).get("parameters", {})
    problems = []
    for key, value in query.items():
        spec = params.get(key)
        if spec is None:
            if key not in STANDARD_PARAMETERS:
                problems.append(f"unknown parameter {key}")
            continue
        if spec.get("location") != "query":
            continue
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"{key}: invalid value")
        if spec.get("type") == "integer":
            if not re.fullmatch(r"-?\d+", value):
                problems.append(f"{key}: expected an integer")
            elif ("minimum" in spec and int(value) < int(spec["minimum"])) \
                    or ("maximum" in spec and int(value) > int(spec["maximum"])):
                problems.append(f"{key}: out of range [{spec.get('minimum', '')}, {spec.get('maximum', '')}]")
        if spec.get("type") == "boolean" and value not in ("true", "false"):
            problems.append(f"{key}: expected true or false")
    return problems
