"""The one place where tests hold the service's answers against ``docs/openapi.yaml``.

* ``strict_document()`` (local/openapi_doc.py): the document as the tests read it, every object
  of an answer or a notification closed, so a field the service sends without the document
  naming it fails a test.
* ``AnswerCheck``: validates one HTTP exchange with ``openapi-core`` (status documented for the
  operation, content type, body against its schema). ``watch(stack)`` routes every ``requests``
  call a test makes to ``handle_webhook`` or ``integrations`` through it.
* ``notification_problems(body)``: a notification body against its type's schema (the
  document's top-level ``webhooks``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.openapi_doc import (
    INTEGRATIONS_HOST,
    WEBHOOK_HOST,
    document,
    notification_problems,
    strict_document,
    strict_schema,
)

__all__ = ["AnswerCheck", "document", "notification_problems", "strict_document", "strict_schema", "watch"]

FUNCTION_PREFIX = "/integrations"  # integrations may be reached as .../integrations/<route>


# -- answers -----------------------------------------------------------------------------------
@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    content_type: str
    body: bytes | None
    parameters: Any


@dataclass
class _Response:
    status_code: int
    content_type: str
    headers: Any
    data: bytes


@dataclass
class AnswerCheck:
    """Holds answers against the strict document. ``bases`` maps a function's base URL (as the
    tests call it) to its canonical host."""

    bases: dict[str, str]
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    @lru_cache(maxsize=1)
    def _openapi() -> Any:
        from openapi_core import OpenAPI

        return OpenAPI.from_dict(strict_document())

    def host_of(self, url: str) -> tuple[str, str] | None:
        for base, host in self.bases.items():
            if url.startswith(base.rstrip("/") + "/") or url == base.rstrip("/"):
                return host, "/" + url[len(base.rstrip("/")):].lstrip("/")
        return None

    def problem(self, method: str, url: str, status: int, content_type: str, headers: Any,
                body: bytes, request_headers: Any, request_body: bytes | None) -> str | None:
        """Why this answer breaks the document, or None."""
        found = self.host_of(url)
        if found is None:
            return None
        host, rest = found
        parts = urlsplit(rest)
        path = parts.path.rstrip("/") or "/"
        if host == INTEGRATIONS_HOST and (path == FUNCTION_PREFIX or path.startswith(FUNCTION_PREFIX + "/")):
            path = path[len(FUNCTION_PREFIX):] or "/"
        from openapi_core.datatypes import RequestParameters
        from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        request = _Request(host, path, method.lower(), request_headers.get("Content-Type", ""), request_body,
                           RequestParameters(query=ImmutableMultiDict(parse_qsl(parts.query)),
                                             header=Headers(dict(request_headers)), cookie=ImmutableMultiDict()))
        response = _Response(status, content_type, Headers(dict(headers)), body)
        label = f"{method} {path} → {status}"
        try:
            self._openapi().validate_response(request, response)
        except PathNotFound:
            # A path the document does not list must be a 404 (JSON under /api/, a page elsewhere).
            return None if status == 404 else f"{label}: the path is not in docs/openapi.yaml"
        except OperationNotFound:
            return f"{label}: {method} is not documented for this path"
        except Exception as exc:  # openapi-core's validation errors: say which, and why
            causes = [str(c) for c in getattr(exc, "schema_errors", [])] or [str(exc.__cause__ or "")]
            return f"{label}: {type(exc).__name__}: {exc}; {'; '.join(c for c in causes if c)[:2000]}"
        return None

    def check(self, prepared: Any, response: Any) -> None:
        if self.host_of(prepared.url) is None:
            return
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        found = self.problem(prepared.method, prepared.url, response.status_code,
                             response.headers.get("Content-Type", ""), response.headers, response.content,
                             prepared.headers, body)
        with self.lock:
            self.checked += 1
            if found:
                self.problems.append(found)
        if found:
            raise AssertionError(f"answer breaks docs/openapi.yaml: {found}\nbody: {response.text[:500]}")

    def take_problems(self) -> list[str]:
        with self.lock:
            taken, self.problems[:] = list(self.problems), []
        return taken


def stack_bases(stack: Any) -> dict[str, str]:
    bases = {stack.url("handle_webhook"): WEBHOOK_HOST, stack.url("integrations"): INTEGRATIONS_HOST}
    base_url = str(stack.env.get("PUBLIC_BASE_URL") or "")
    if base_url:
        bases[base_url + "/"] = INTEGRATIONS_HOST
    return bases


@contextmanager
def watch(stack: Any) -> Iterator[AnswerCheck]:
    """Check every answer that ``requests`` receives from the stack's handle_webhook and
    integrations while inside: ``requests.Session.send`` is the one funnel of every ``requests``
    call (``requests.get``, sessions, Schemathesis)."""
    import requests

    checker = AnswerCheck(stack_bases(stack))
    original = requests.Session.send

    def send(session: requests.Session, prepared: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = original(session, prepared, **kwargs)
        if not kwargs.get("stream"):
            checker.check(prepared, response)
        return response

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield checker
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


def describe(problems: list[str]) -> str:
    return json.dumps(problems, ensure_ascii=False, indent=2)
