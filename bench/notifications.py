"""Notification latency (CONTRACT §8): a revoked grant meets a change → the platform receives
``connection.needs_reauth``. Runnable alone (``python -m bench.notifications``) or from
``make bench``. Measured from the webhook's POST to the moment the platform stand-in
(local/receiver.py) had verified the notification: webhook → Pub/Sub → worker (Calendar refuses
the grant) → park transaction staging the outbox → publish → local.pusher → deliver_notification
→ signed POST.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from local.stack import Stack
from tests.helpers import payload, signed_headers, wait_for


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def needs_reauth_latency(stack: Stack, samples: int) -> list[float]:
    assert stack.receiver is not None and stack.standin is not None
    receiver = stack.receiver.receiver
    out = []
    session = requests.Session()
    for _ in range(samples):
        tag = uuid.uuid4().hex[:8]
        u = {"account_id": f"bn-{tag}", "user_id": f"u-{tag}", "email": f"bn-{tag}@example.com"}
        stack.connect(u["account_id"], u["user_id"], u["email"])
        stack.standin.state.revoke_user(u["email"])
        body = json.dumps(payload(account_id=u["account_id"], user_id=u["user_id"], event_id="ev-1"))
        t0 = time.time()
        r = session.post(stack.url("handle_webhook"), data=body, timeout=30,
                         headers=signed_headers(stack.env["WEBHOOK_SIGNING_SECRET"], body))
        assert r.status_code == 202, r.text

        def arrived(u: dict[str, str] = u) -> float | None:
            for rec in receiver.delivered():
                b = rec["body"]
                if b and b["type"] == "connection.needs_reauth" and b["data"]["user_id"] == u["user_id"]:
                    return float(rec["received_at"])
            return None

        out.append((wait_for(arrived, timeout=60, interval=0.005, what="needs_reauth") - t0) * 1000)
        time.sleep(0.1)
    return out


def report(stack: Stack, emit: Callable[[str], None], table: Callable[[list[dict[str, Any]]], None],
           samples: int = 40) -> None:
    lat = needs_reauth_latency(stack, samples)
    emit("### Notifications: revoked grant meets a change → platform receives connection.needs_reauth")
    emit("")
    table([{"samples": len(lat), "p50_ms": statistics.median(lat), "p90_ms": pct(lat, 90), "p99_ms": pct(lat, 99),
            "max_ms": max(lat)}])


def main() -> None:
    def emit(line: str = "") -> None:
        print(line, flush=True)

    def table(rows: list[dict[str, Any]]) -> None:
        cols = list(rows[0])
        emit("| " + " | ".join(cols) + " |")
        emit("|" + "---|" * len(cols))
        for row in rows:
            emit("| " + " | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
        emit()

    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp)).start()
        try:
            report(stack, emit, table, samples)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
