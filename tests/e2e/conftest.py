"""Helpers for end-to-end tests through the functions-framework processes of the local stack."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from sync.model import google_event_id
from tests.helpers import signed_headers, wait_for

pytestmark = pytest.mark.e2e


class Client:
    """A platform sending webhooks, and an observer of the user's calendar and the logs."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack

    @property
    def secret(self) -> str:
        return self.stack.env["WEBHOOK_SIGNING_SECRET"]

    def send(self, data: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
        body = json.dumps(data)
        headers = headers or signed_headers(self.secret, body)
        return requests.post(self.stack.url("handle_webhook"), data=body.encode(), headers=headers, timeout=30)

    def accepted(self, data: dict[str, Any]) -> str:
        r = self.send(data)
        assert r.status_code == 202, r.text
        return str(r.json()["webhook_id"])

    def events(self, calendar_id: str, include_cancelled: bool = True) -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in self.stack.standin.state.events_of(calendar_id, include_cancelled)}

    def event(self, user: dict[str, str], event_id: str) -> dict[str, Any] | None:
        gid = google_event_id(user["account_id"], user["user_id"], event_id)
        return self.events(user["email"]).get(gid)

    def worker_lines(self) -> list[dict[str, Any]]:
        lines = (self.stack.log_dir / "sync_worker.log").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def outcomes(self, webhook_id: str) -> list[str]:
        return [line["outcome"] for line in self.worker_lines()
                if line.get("webhook_id") == webhook_id and "outcome" in line]

    def wait_outcome(self, webhook_id: str, *wanted: str, timeout: float = 45) -> list[str]:
        return wait_for(lambda: (o := self.outcomes(webhook_id)) and any(w in o for w in wanted) and o,
                        timeout=timeout, what=f"outcome {wanted} for {webhook_id}")


@pytest.fixture(scope="session")
def platform(stack) -> Client:
    return Client(stack)


@pytest.fixture
def user(stack) -> dict[str, str]:
    """A freshly connected user (its own Google account and primary calendar)."""
    tag = uuid.uuid4().hex[:8]
    u = {"account_id": f"acct-{tag}", "user_id": f"u-{tag}", "email": f"user-{tag}@example.com"}
    stack.connect(u["account_id"], u["user_id"], u["email"])
    return u
