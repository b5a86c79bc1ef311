"""Findings of the outside security review of the snapshot API, pings, notifications and jobs (round 3),
in process. The Firestore document-size finding needs the emulator: tests/e2e/test_security_review2.py.

- A snapshot body nested past the JSON parser's limit raised RecursionError (not a ValueError): 500.
- A page number of Unicode digits ("²" passes str.isdigit, int() refuses it): 500.
- The window's last-occurrence computation iterates the series with dateutil, which, for a rule that
  yields nothing (or almost nothing), walks to the year 9999: a sub-daily rule with BYSETPOS never came
  back, an impossible SECONDLY/MINUTELY one took seconds per line, and an event may carry 99 EXRULEs. It
  runs in the worker for every change (webhook or snapshot), so one event held a worker for good.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from sync.config import Settings
from sync.kernel.payload import parse_change
from sync.kernel.span import event_span
from sync.web import snapshots as snapshots_api

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


class _Container:
    snapshots = _Engine()
    settings = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"})


@pytest.fixture
def route():
    def call(method: str, rest: list[str], data: bytes = b"{}") -> Any:
        env = EnvironBuilder(method=method, data=data, headers={"Authorization": "Bearer " + _token(),
                                                                 "Content-Type": "application/json"}).get_environ()
        return snapshots_api.handle(Request(env), _Container(), KEY, "a", "u", rest, {})

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


def _event(recurrence: list[str]) -> Any:
    change = parse_change({"type": "event.updated", "account_id": "a", "user_id": "u", "event": {
        "id": "e", "updated_at": "2026-01-01T00:00:00Z", "title": "t",
        "start": {"date_time": "2026-11-25T14:00:00", "time_zone": "UTC"},
        "end": {"date_time": "2026-11-25T15:00:00", "time_zone": "UTC"}, "recurrence": recurrence}}, "w")
    return change.event


@pytest.mark.parametrize("recurrence", [
    ["RRULE:FREQ=SECONDLY;BYHOUR=0;BYMINUTE=0;BYSECOND=0;BYSETPOS=5;COUNT=1"],  # never came back
    ["RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30;COUNT=1"],  # ~13 s
    ["RRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30;UNTIL=20270101T000000Z"],  # ~10 s
    ["RRULE:FREQ=DAILY;COUNT=2"] + ["EXRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=1"] * 99,  # ~4 s each
])
def test_the_end_of_a_pathological_series_is_left_unknown_quickly(recurrence):
    event = _event(recurrence)
    started = time.perf_counter()
    span = event_span(event)
    assert time.perf_counter() - started < 1.0
    assert span.ends_at is None and not span.open_ended  # unknown: never deleted by a windowed snapshot


def test_ordinary_series_still_end_at_their_last_occurrence():
    assert event_span(_event(["RRULE:FREQ=DAILY;COUNT=3"])).ends_at == "2026-11-27T15:00:00.000000000Z"
    monthly = ["RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=2", "EXDATE:20261130T140000Z"]
    assert event_span(_event(monthly)).ends_at == "2026-12-31T15:00:00.000000000Z"
