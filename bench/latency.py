"""First look at the spine's latency on the local stack (issue 2; the full benchmark is issue 6).

Measures, in one run on this machine:
* the webhook's response time (signed POST → 202, publish confirmed by the Pub/Sub emulator);
* webhook sent → event written in the stand-in calendar (the stand-in's own write time).

Usage: python -m bench.latency [--events 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from local.stack import Stack
from sync.model import google_event_id
from tests.helpers import payload, signed_headers


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(stack: Stack, events: int, concurrency: int, label: str, pace: float = 0.0) -> dict[str, float]:
    tag = label.split()[0]
    user = {"account_id": f"bench-{tag}", "user_id": "u", "email": f"bench-{tag}@example.com"}
    stack.connect(user["account_id"], user["user_id"], user["email"])
    session = requests.Session()
    lock = threading.Lock()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []

    def send(i: int) -> None:
        body = json.dumps(payload(account_id=user["account_id"], user_id=user["user_id"], event_id=f"e{i}"))
        headers = signed_headers(stack.env["WEBHOOK_SIGNING_SECRET"], body)
        t0 = time.time()
        r = session.post(stack.url("handle_webhook"), data=body, headers=headers, timeout=30)
        took = time.time() - t0
        assert r.status_code == 202, r.text
        if pace:
            time.sleep(pace)
        with lock:
            sent_at[google_event_id(user["account_id"], user["user_id"], f"e{i}")] = t0
            latencies.append(took * 1000)

    started = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(events)))
    accept_seconds = time.time() - started
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        landed = {e["id"]: e for e in stack.standin.state.events_of(user["email"])}
        if len(landed) >= events:
            break
        time.sleep(0.05)
    end_to_end = [
        (datetime.fromisoformat(e["created"].replace("Z", "+00:00")).timestamp() - sent_at[gid]) * 1000
        for gid, e in landed.items() if gid in sent_at
    ]
    return {
        "load": label, "events": events, "concurrency": concurrency, "accepted_per_s": events / accept_seconds,
        "webhook_p50_ms": statistics.median(latencies), "webhook_p99_ms": percentile(latencies, 99),
        "landed": len(end_to_end),
        "e2e_p50_ms": statistics.median(end_to_end), "e2e_p99_ms": percentile(end_to_end, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp)).start()
        try:
            run(stack, 20, 1, "warmup")
            rows = [run(stack, 50, 1, "idle (1 every 200 ms)", pace=0.2),
                    run(stack, args.events, 1, "sequential"),
                    run(stack, args.events, args.concurrency, "concurrent")]
        finally:
            stack.stop()
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
