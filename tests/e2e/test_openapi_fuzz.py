"""Schemathesis against the real functions on the local stack, generated from docs/openapi.yaml.

Every operation of ``handle_webhook`` and ``integrations`` is called with data that fits the
document and data that breaks it; each answer must be no 5xx, a documented status, the
documented content type and a body that matches its (strict: tests/openapi_check.py) schema.

Two Schemathesis hooks make the calls real rather than a wall of 401s: ``before_call`` signs every
webhook with the ``standardwebhooks`` library (over the exact bytes sent) and mints an API token
for the path's ids, and aims most positive cases of the API at connected test users (a fresh
snapshot for the snapshot routes) and at a valid link token for ``/connect``.

``FUZZ_EXAMPLES`` examples per operation (10 by default, derandomized so ``make test`` runs the
same cases every time); ``make fuzz`` runs more, with fresh randomness each run.
"""

from __future__ import annotations

import os
import time
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from standardwebhooks.webhooks import Webhook

from tests import openapi_check

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
RANDOM = os.environ.get("FUZZ_RANDOM", "") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
TITLE = openapi_check.document()["info"]["title"]

# 413 (too large), 414 and 431 (the HTTP server's limits on the request line and headers) refuse too.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "414", "415", "422", "428", "429", "431", "5xx"]
schema = schemathesis.openapi.from_dict(openapi_check.strict_document(), config=schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}))


class Fuzz:
    """What the hooks need from the running stack: secrets, base URLs, connected users."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.webhook = Webhook(stack.env["WEBHOOK_SIGNING_SECRET"])
        self.link_secret = stack.env["LINK_SIGNING_SECRET"]
        tag = uuid.uuid4().hex[:8]
        self.user = {"account_id": f"fuzz-{tag}", "user_id": f"u-{tag}"}
        self.leaving = {"account_id": f"fuzz-{tag}", "user_id": f"leaving-{tag}"}  # for DELETE
        for user, email in ((self.user, f"fuzz-{tag}@example.com"), (self.leaving, f"leaving-{tag}@example.com")):
            stack.connect(user["account_id"], user["user_id"], email)
        self.http = requests.Session()
        self.calls = 0

    def base_url(self, case: Any) -> str:
        name = "handle_webhook" if case.path == "/" else "integrations"
        return self.stack.url(name).rstrip("/")

    def api_token(self, account_id: str, user_id: str) -> str:
        return jwt.encode({"sub": user_id, "acct": account_id, "aud": "api", "exp": int(time.time()) + 300},
                          self.link_secret, algorithm="HS256")

    def fresh_snapshot(self) -> str:
        """A snapshot of the connected user in ``receiving``, so pages and complete reach real work."""
        user = self.user
        url = (f"{self.stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}/snapshots")
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        answer = self.http.post(url, json={"as_of": now}, timeout=30,
                                headers={"Authorization": "Bearer " + self.api_token(**user)})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["snapshot_id"])


FUZZ: dict[str, Fuzz] = {}


class Signer(requests.auth.AuthBase):
    """Standard Webhooks v1 over the bytes actually sent, by the reference library."""

    def __init__(self, webhook: Webhook) -> None:
        self.webhook = webhook

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        text = body if isinstance(body, str) else body.decode("utf-8", "replace")
        msg_id, now = "msg_" + uuid.uuid4().hex, datetime.now(UTC)
        request.headers["webhook-id"] = msg_id
        request.headers["webhook-timestamp"] = str(int(now.timestamp()))
        request.headers["webhook-signature"] = self.webhook.sign(msg_id, now, text)
        return request


def _aimed(case: Any) -> bool:
    """Two positive cases in three are aimed at live data; the choice follows the case's own
    data, so a failing case replays (and shrinks) the same way."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return False
    return zlib.crc32(repr((case.path_parameters, case.query)).encode()) % 3 != 0


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    fuzz = FUZZ.get("stack")
    if fuzz is None or case.operation.schema.raw_schema.get("info", {}).get("title") != TITLE:
        return
    fuzz.calls += 1
    if case.path == "/":
        # A case whose headers break the document on purpose (a signature header left out) is sent as
        # generated, and must be refused; every other one is signed.
        if not (case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)):
            kwargs["auth"] = Signer(fuzz.webhook)
        return
    if case.path.startswith("/api/connections/"):
        params = case.path_parameters
        if _aimed(case):
            user = fuzz.leaving if case.method == "DELETE" and case.path.count("/") == 4 else fuzz.user
            params.update(user)
            if "snapshot_id" in params:
                params["snapshot_id"] = fuzz.fresh_snapshot()
        account_id, user_id = str(params.get("account_id", "")), str(params.get("user_id", ""))
        headers = case.headers if case.headers is not None else {}
        headers["Authorization"] = "Bearer " + fuzz.api_token(account_id, user_id)
        case.headers = headers
        return
    if case.path == "/connect" and _aimed(case):
        case.query = {**(case.query or {}), "token": jwt.encode(
            {"sub": fuzz.user["user_id"], "acct": fuzz.user["account_id"], "exp": int(time.time()) + 600},
            fuzz.link_secret, algorithm="HS256")}


@pytest.fixture(scope="module")
def fuzz(stack):
    FUZZ["stack"] = Fuzz(stack)
    started = time.monotonic()
    yield FUZZ["stack"]
    print(f"\nschemathesis: {FUZZ['stack'].calls} calls in {time.monotonic() - started:.1f} s "
          f"({EXAMPLES} examples per operation and mode)")
    FUZZ.clear()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
def test_every_answer_matches_the_document(case, fuzz):
    case.call_and_validate(base_url=fuzz.base_url(case), checks=CHECKS, timeout=30)
