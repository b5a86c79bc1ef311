"""Drift repair's numbers (CONTRACT §9): how long a hand edit stays in the calendar, and what a
drift check costs. ``python -m bench.drift`` runs it alone; ``make bench`` runs it with the rest.

1. Hand edit → restored: a user edits a synced event's title in the stand-in (as in Calendar's
   UI); the stand-in pings, the ping schedules a check, the worker restores. Sequential edits,
   so each measures the whole path on an idle system.
2. A drift check of a calendar of 1,000 synced events: its Calendar calls (read off the
   stand-in) and duration, for the first check (full listing), a check with nothing changed,
   and one with 10 hand edits; run in this process, pings off so nothing else checks meanwhile.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bench.run import OUT, ROOT, connect_users, emit, pct, table
from local.stack import Stack
from sync.kernel.model import google_event_id
from tests.helpers import payload, wait_for

EDITS = 20
CALENDAR_SIZE = 1000


def _hand_edit(stack: Stack, email: str, gid: str, summary: str) -> None:
    assert stack.standin is not None
    r = requests.patch(f"{stack.standin.url}_admin/calendars/{email}/events/{gid}", json={"summary": summary},
                       timeout=10)
    assert r.status_code == 200, r.text


def edit_to_restore(stack: Stack) -> dict[str, Any]:
    from sync import bootstrap
    from sync.kernel.payload import parse_change

    assert stack.standin is not None
    [u] = connect_users(stack, "drift-latency", 1)
    service = bootstrap.container().sync_service
    for i in range(EDITS):
        service.apply(parse_change(payload(account_id=u["account_id"], user_id=u["user_id"], event_id=f"d{i}",
                                           title=f"Evento {i}"), "bench"))
    time.sleep(4)  # the pings of those writes: their checks come and go
    state = stack.standin.state
    latencies = []
    for i in range(EDITS):
        gid = google_event_id(u["account_id"], u["user_id"], f"d{i}")
        t0 = time.perf_counter()
        _hand_edit(stack, u["email"], gid, "editado à mão")
        wait_for(lambda gid=gid: state.calendars[u["email"]].events[gid]["summary"] != "editado à mão",
                 timeout=60, interval=0.01, what="the restore")
        latencies.append((time.perf_counter() - t0) * 1000)
    return {"edits": EDITS, "p50_ms": statistics.median(latencies), "p99_ms": pct(latencies, 99),
            "max_ms": max(latencies)}


def check_cost(stack: Stack) -> list[dict[str, Any]]:
    from sync import bootstrap
    from sync.drift.check import DriftCheck
    from sync.kernel.payload import parse_change

    assert stack.standin is not None
    state = stack.standin.state
    requests.post(f"{stack.standin.url}_admin/pings", json={"enabled": False}, timeout=10)
    try:
        [u] = connect_users(stack, "drift-cost", 1)
        service = bootstrap.container().sync_service
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: service.apply(parse_change(payload(
                account_id=u["account_id"], user_id=u["user_id"], event_id=f"c{i}"), "bench")), range(CALENDAR_SIZE)))
        c = bootstrap.container()
        check = DriftCheck(c.drift_store, c.mappings, c.calendars, policy="restore")

        def measure(name: str) -> dict[str, Any]:
            before = dict(state.calls)
            t0 = time.perf_counter()
            result = check.run(u["account_id"], u["user_id"])
            took = (time.perf_counter() - t0) * 1000
            diff = {k: state.calls[k] - before.get(k, 0) for k in ("events.list", "events.update", "events.insert")}
            return {"check": name, "synced_events": CALENDAR_SIZE, "events.list": diff["events.list"],
                    "events.update": diff["events.update"], "calendar_calls": result.calendar_calls,
                    "restored": result.counts["restored"], "ms": took}

        rows = [measure("first (full listing)"), measure("0 edits")]
        for i in range(10):
            _hand_edit(stack, u["email"], google_event_id(u["account_id"], u["user_id"], f"c{i * 97}"), "à mão")
        rows.append(measure("10 edits"))
        return rows
    finally:
        requests.post(f"{stack.standin.url}_admin/pings", json={"enabled": True}, timeout=10)


def bench_drift(stack: Stack) -> None:
    emit("### Drift repair: hand edit in Google → restored (sequential edits, DRIFT_POLICY=restore)")
    emit()
    table([edit_to_restore(stack)])
    emit(f"### Drift check cost: a calendar of {CALENDAR_SIZE:,} synced events (worker core, stand-in Calendar)")
    emit()
    table(check_cost(stack))


def main() -> None:
    emit(f"Measured {datetime.now().strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
         f"Python {platform.python_version()}; everything local (emulators, stand-in) on the same machine.")
    emit()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), extra_env={"CALENDAR_USER_RATE_PER_MINUTE": "6000", "CALENDAR_USER_BURST": "100"})
        stack.start()
        try:
            bench_drift(stack)
        finally:
            stack.stop()
    (ROOT / "bench" / "results-drift.md").write_text("\n".join(OUT) + "\n")


if __name__ == "__main__":
    main()
