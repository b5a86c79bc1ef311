"""Snapshot benchmarks (CONTRACT §7): ``python -m bench.snapshots``, or a section of ``make bench``.

1. Backfill of 2,000 events for one user, the stand-in limiting each user to Calendar's
   600 calls/minute and the worker pacing at 590/minute with a burst of 10 (so that no 60-second
   window can hold more than 600): duration against the quota floor (2000 / 600 per minute),
   403s that reached the user, every event present exactly once.
2. The same snapshot sent again: Calendar calls (0 expected) and duration.
3. Reconcile of 1,000 mapped events where 100 are absent: Calendar deletes (100 expected).
4. A calendar switch of 2,000 events: how long the page takes, how long the moves, calls.

Rows 3 and 4 run on a second stack paced at 6,000/minute without a stand-in limit (their setup
alone would take minutes at 600/minute); their durations are then bound by the machine, not by
the quota.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.run import connect_users, emit, table
from local.stack import Stack
from tests.e2e.snapshots_client import SnapshotApi, events, version

BACKFILL = 2000
QUOTA_PER_MINUTE = 600


def calls(stack: Stack, prefix: str = "events.") -> int:
    assert stack.standin is not None
    return sum(n for k, n in stack.standin.state.calls.items() if k.startswith(prefix))


def present_once(stack: Stack, user: dict[str, str], calendar_id: str, expected: int) -> bool:
    assert stack.standin is not None
    sources = [e["extendedProperties"]["private"]["source_event_id"]
               for e in stack.standin.state.events_of(calendar_id, include_cancelled=False)]
    return len(sources) == expected == len(set(sources))


def timed_snapshot(stack: Stack, user: dict[str, str], items: list[dict[str, Any]], as_of: str,
                   timeout: float = 900, **flags: Any) -> tuple[float, dict[str, Any]]:
    api = SnapshotApi(stack.url("integrations"), stack.env, user)
    started = time.monotonic()
    sid, r = api.send(items, as_of=as_of, **flags)
    assert r.status_code == 202, r.text
    view = api.wait_done(sid, timeout=timeout)
    return time.monotonic() - started, view


def quota_rows(tmp: Path) -> list[dict[str, Any]]:
    stack = Stack(tmp / "quota", extra_env={"CALENDAR_USER_RATE_PER_MINUTE": "590", "CALENDAR_USER_BURST": "10"})
    stack.start()
    try:
        assert stack.standin is not None
        state = stack.standin.state
        [user] = connect_users(stack, "snapbench", 1)
        with state.lock:
            state.rate_limit_per_minute, state.rate_limit_window = QUOTA_PER_MINUTE, 60.0
            state.user_calls.clear()
            state.calls.clear()
        items = events(BACKFILL, prefix="bf")
        duration, view = timed_snapshot(stack, user, items, version(10))
        floor = BACKFILL / QUOTA_PER_MINUTE * 60
        first = {"run": f"backfill {BACKFILL} (600/min)", "duration_s": duration, "floor_s": floor,
                 "x_floor": duration / floor, "calendar_calls": calls(stack),
                 "403_answered": state.calls["rejected_rate_limit"], "created": view["counts"]["created"],
                 "exactly_once": present_once(stack, user, user["email"], BACKFILL)}
        before = calls(stack)
        duration, view = timed_snapshot(stack, user, items, version(10))
        second = {"run": "same snapshot again", "duration_s": duration, "floor_s": 0.0, "x_floor": "-",
                  "calendar_calls": calls(stack) - before, "403_answered": state.calls["rejected_rate_limit"],
                  "created": view["counts"]["created"], "exactly_once": present_once(stack, user, user["email"],
                                                                                   BACKFILL)}
    except BaseException:
        stack.raise_if_dead()  # a process of the stack that died: which, and the end of its log
        raise
    else:
        stack.raise_if_dead()
        return [first, second]
    finally:
        stack.stop()


def fast_rows(tmp: Path) -> list[dict[str, Any]]:
    from tests.e2e.conftest import Browser
    from tests.e2e.test_integrations_flow import status

    stack = Stack(tmp / "fast", extra_env={"CALENDAR_USER_RATE_PER_MINUTE": "6000", "CALENDAR_USER_BURST": "100"})
    stack.start()
    try:
        assert stack.standin is not None
        rows = []
        [user] = connect_users(stack, "reconcile", 1)
        items = events(1000, prefix="rc")
        setup, _ = timed_snapshot(stack, user, items, version(10))
        before = (calls(stack), calls(stack, "events.delete"))
        duration, view = timed_snapshot(stack, user, items[100:], version(20))
        rows.append({"run": "reconcile: 1000 mapped, 100 absent", "setup_s": setup, "answer_s": "-",
                     "duration_s": duration, "calendar_calls": calls(stack) - before[0],
                     "deletes": calls(stack, "events.delete") - before[1], "moves": 0,
                     "counted_deleted": view["counts"]["deleted"],
                     "exactly_once": present_once(stack, user, user["email"], 900)})

        tag = uuid.uuid4().hex[:6]
        person = {"account_id": "switch", "user_id": f"u-{tag}", "email": f"switch-{tag}@example.com",
                  "team": f"team-{tag}@group.calendar.example"}
        stack.standin.state.add_user(person["email"], calendars=[{"id": person["team"], "summary": "Equipe"}])
        browser = Browser(stack)
        browser.connect(person, calendar_id=person["team"])
        setup, _ = timed_snapshot(stack, person, events(BACKFILL, prefix="sw"), version(10))
        before = (calls(stack), calls(stack, "events.move"))
        started = time.monotonic()
        browser.connect(person, calendar_id=person["email"])
        page_s = time.monotonic() - started
        deadline = started + 900
        while (s := status(stack, person)["moving"]) is None or s["done"] < s["total"]:
            stack.raise_if_dead()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the calendar switch did not finish in 900 s: {s}")
            time.sleep(0.5)
        moved_s = time.monotonic() - started
        rows.append({"run": f"calendar switch of {BACKFILL}", "setup_s": setup, "answer_s": page_s,
                     "duration_s": moved_s, "calendar_calls": calls(stack) - before[0], "deletes": 0,
                     "moves": calls(stack, "events.move") - before[1], "counted_deleted": 0,
                     "exactly_once": present_once(stack, person, person["email"], BACKFILL)
                     and present_once(stack, person, person["team"], 0)})
    except BaseException:
        stack.raise_if_dead()
        raise
    else:
        stack.raise_if_dead()
        return rows
    finally:
        stack.stop()


SECTION = "### Snapshots:"


def bench_snapshots() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        emit(f"{SECTION} backfill of {BACKFILL} events against Calendar's per-user quota "
             "(stand-in 600/min per user, worker paced at 590/min + burst 10)")
        emit()
        rows = quota_rows(Path(tmp))
        table(rows)
        emit(f"Backfill: **{rows[0]['x_floor']:.2f}x** the quota floor (target <= 1.15), "
             f"{rows[0]['403_answered']} 403s answered by the stand-in; the same snapshot again: "
             f"**{rows[1]['calendar_calls']} Calendar calls** in {rows[1]['duration_s']:.1f} s.")
        emit()
        emit("### Snapshots: reconcile and calendar switch (worker paced at 6000/min, no stand-in limit)")
        emit()
        table(fast_rows(Path(tmp)))


def main() -> None:
    """Alone: replace the snapshot section of bench/results.md (``make bench`` writes it whole)."""
    from bench.run import OUT, ROOT

    bench_snapshots()
    path = ROOT / "bench" / "results.md"
    kept = path.read_text().split(SECTION)[0].rstrip("\n") if path.exists() else ""
    path.write_text(kept + "\n\n" + "\n".join(OUT) + "\n")


if __name__ == "__main__":
    main()
