"""Helpers for end-to-end tests through the functions-framework processes of the local stack."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from sync.kernel.model import google_event_id
from tests import openapi_check
from tests.helpers import signed_headers, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session", autouse=True)
def answers_checked(stack):
    """Every answer an e2e test receives from handle_webhook or integrations (through ``requests``,
    whoever calls it) is held against docs/openapi.yaml (tests/openapi_check.py)."""
    with openapi_check.watch(stack) as checker:
        yield checker


@pytest.fixture(autouse=True)
def _answers_match_the_document(answers_checked, stack):
    """Also fails a test whose mismatching answer was received in a thread that swallowed the error,
    and one during which the platform stand-in received a notification that breaks its schema."""
    receiver = stack.receiver.receiver if stack.receiver is not None else None
    answers_checked.take_problems()
    seen = len(receiver.document_problems()) if receiver is not None else 0
    yield
    problems = answers_checked.take_problems()
    problems += receiver.document_problems()[seen:] if receiver is not None else []
    assert not problems, "answers that break docs/openapi.yaml:\n" + openapi_check.describe(problems)


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
    stack.connect(u["account_id"], u["user_id"], u["email"], in_process=True)  # the CLI itself: test_spine
    return u


class Browser:
    """A person's browser going through the connect flow (cookies kept, redirects by hand)."""

    def __init__(self, stack: Any, lang: str = "pt-BR") -> None:
        import re as _re

        self.stack = stack
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = lang
        # One connection per request: the server (gunicorn) closes a kept-alive connection after
        # 2 s idle, and a request sent on it as it closes was reset (ConnectionResetError on a
        # GET /connect after the test had waited on something else). A browser retries that
        # request on a new connection; closing each one leaves no idle connection to race.
        self.http.headers["Connection"] = "close"
        self.re = _re

    def link_token(self, account_id: str, user_id: str, ttl: int = 600, secret: str | None = None,
                   **extra: Any) -> str:
        import time as _time

        import jwt

        claims = {"sub": user_id, "acct": account_id, "exp": int(_time.time()) + ttl, **extra}
        return jwt.encode(claims, secret or self.stack.env["LINK_SIGNING_SECRET"], algorithm="HS256")

    def get(self, url: str, **kw: Any) -> requests.Response:
        return self.http.get(url, allow_redirects=False, timeout=30, **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self.http.post(url, allow_redirects=False, timeout=30, **kw)

    def start(self, account_id: str, user_id: str, **claims: Any) -> requests.Response:
        token = self.link_token(account_id, user_id, **claims)
        return self.get(self.stack.url("integrations") + "connect", params={"token": token})

    def consent(self, auth_url: str, email: str, decision: str = "allow") -> requests.Response:
        """The stand-in's consent screen: pick the account, allow (or cancel)."""
        page = self.get(auth_url)
        assert page.status_code == 200, page.text
        fields = dict(self.re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        import html as _html

        fields = {k: _html.unescape(v) for k, v in fields.items()}
        return self.post(self.stack.standin.url + "o/oauth2/approve",
                         data={**fields, "login": email, "decision": decision})

    def csrf(self, page: str) -> str:
        return str(self.re.search(r'name="csrf_token" value="([^"]+)"', page).group(1))

    def connect(self, user: dict[str, str], calendar_id: str | None = None, **claims: Any) -> requests.Response:
        """The whole flow; returns the final redirect (to return_url or /done)."""
        started = self.start(user["account_id"], user["user_id"], **claims)
        assert started.status_code == 302, started.text
        back = self.consent(started.headers["Location"], user["email"])
        assert back.status_code == 302 and "/oauth/callback" in back.headers["Location"], back.text
        called = self.get(back.headers["Location"])
        assert called.status_code == 302 and called.headers["Location"].endswith("/calendars"), called.text
        page = self.get(called.headers["Location"])
        assert page.status_code == 200, page.text
        chosen = self.post(called.headers["Location"], data={"calendar_id": calendar_id or user["email"],
                                                               "csrf_token": self.csrf(page.text)})
        assert chosen.status_code == 302, chosen.text
        return chosen


@pytest.fixture
def google_user(stack) -> dict[str, str]:
    """A Google account on the stand-in (primary + a shared team calendar), not yet connected."""
    tag = uuid.uuid4().hex[:8]
    u = {"account_id": f"acct-{tag}", "user_id": f"u-{tag}", "email": f"person-{tag}@example.com",
         "team": f"team-{tag}@group.calendar.example", "readonly": f"holidays-{tag}@group.calendar.example"}
    stack.standin.state.add_user(u["email"], calendars=[{"id": u["team"], "summary": "Equipe"},
                                                        {"id": u["readonly"], "summary": "Feriados", "role": "reader"}])
    return u


def api_token(stack: Any, account_id: str, user_id: str, aud: str = "api", secret: str | None = None) -> str:
    import time as _time

    import jwt

    return jwt.encode({"sub": user_id, "acct": account_id, "aud": aud, "exp": int(_time.time()) + 300},
                      secret or stack.env["LINK_SIGNING_SECRET"], algorithm="HS256")
