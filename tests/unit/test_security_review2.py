"""Findings of the outside security review of the snapshot API, pings, notifications and jobs (round 3),
in process. The Firestore document-size finding needs the emulator: tests/e2e/test_security_review2.py.

- A snapshot body nested past the JSON parser's limit raised RecursionError (not a ValueError): 500.
- A page number of Unicode digits ("²" passes str.isdigit, int() refuses it): 500.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from sync.snapshots import api as snapshots_api

KEY = "link-secret-for-the-review-tests-0123456789"


def _token(account_id: str = "a", user_id: str = "u") -> str:
    return jwt.encode({"sub": user_id, "acct": account_id, "aud": "api", "exp": int(time.time()) + 600}, KEY,
                      algorithm="HS256")


class _Engine:
    """Only what the routes reach before the body is read."""

    def clock(self) -> datetime:
        return datetime.now(UTC)

    def create(self, account_id: str, user_id: str, request: Any) -> str:
        raise AssertionError("an invalid body creates nothing")

    def find(self, account_id: str, user_id: str, snapshot_id: str) -> dict[str, Any]:
        return {"account_id": account_id, "user_id": user_id, "state": "receiving"}


@pytest.fixture
def route(monkeypatch):
    monkeypatch.setattr("sync.snapshots.wiring.engine", lambda: _Engine())

    def call(method: str, rest: list[str], data: bytes = b"{}") -> Any:
        env = EnvironBuilder(method=method, data=data, headers={"Authorization": "Bearer " + _token(),
                                                                 "Content-Type": "application/json"}).get_environ()
        return snapshots_api.handle(Request(env), KEY, "a", "u", rest, {})

    return call


@pytest.mark.parametrize("nested", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_a_deeply_nested_snapshot_body_is_400_not_500(route, nested):
    for method, rest in (("POST", []), ("PUT", ["snp_" + "A" * 24, "pages", "0"]),
                         ("POST", ["snp_" + "A" * 24, "complete"])):
        r = route(method, rest, nested)
        assert r.status_code == 400, (method, rest, r.get_data())
        assert r.get_json()["error"] == "invalid_payload"


@pytest.mark.parametrize("page", ["²", "١", "𝟙", "٠", "¹²"])
def test_a_page_number_of_unicode_digits_is_404_not_500(route, page):
    r = route("PUT", ["snp_" + "A" * 24, "pages", page], b'{"events": []}')
    assert r.status_code == 404, r.get_data()
