"""CPU per request of ``handle_webhook`` in this process, no network: ``python -m bench.ingest_cpu``.

The mixed load of ``bench/mixed.py`` (signed, each webhook distinct) is handed to the real route
(``sync/web/webhook.py``, its container's publisher replaced by one that builds the product's
Publish request and only counts) and to the publish-only baseline's work (``bench/baselines.py``:
read the body, decode it, build the ordering key, hand it to the same counting publisher, answer
202), one request after the other in one thread, timed with ``time.thread_time``: CPU, not wall
clock, so the figure holds on a loaded machine. What sending the request costs (the gRPC call
and the client's threads) is the same for both and left out; ``bench.run``'s mixed section
measures it with wrk. Then the route's stages one by one, on the same requests: where the CPU
goes. ``--profile`` adds cProfile's top entries.

Log lines are formatted and written to /dev/null (formatting is part of the cost; the terminal
is not).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Request, Response
from werkzeug.test import EnvironBuilder

from bench.mixed import mixed_payloads, signed
from sync import bootstrap
from sync.adapters.pubsub import publish_request
from sync.config import Settings
from sync.kernel import logs
from sync.kernel.payload import parse_body, parse_change
from sync.kernel.signature import decode_secrets, verify
from sync.web import http, webhook

TOPIC = "projects/bench/topics/ingest"
SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="


class CountingPublisher:
    """The Publisher port, keeping nothing: the harness measures the route, not a list growing. It
    builds the Publish request the product's publisher builds (sync/adapters/pubsub.py), and sends
    nothing."""

    def __init__(self) -> None:
        self.count = 0

    def publish(self, data: bytes, ordering_key: str, attributes: dict[str, str]) -> str:
        publish_request(TOPIC, data, ordering_key, attributes)
        self.count += 1
        return str(self.count)

    def publish_many(self, messages: Any) -> int:  # pragma: no cover - not on this path
        raise NotImplementedError


def environs(n: int, users: int, seed: int) -> list[dict[str, Any]]:
    """WSGI environs of ``n`` mixed webhooks, signed now (each request reads its own copy)."""
    out = []
    for body, headers in signed(SECRET, mixed_payloads(n, f"cpu{seed}", users, seed=seed)):
        out.append(EnvironBuilder(method="POST", path="/", data=body, headers=list(headers.items())).get_environ())
    return out


def fresh(environ: dict[str, Any]) -> Request:
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(environ["wsgi.input"].getvalue())
    return Request(env)


def container() -> bootstrap.Container:
    c = bootstrap.Container(Settings.from_env({"GOOGLE_CLOUD_PROJECT": "bench", "SECRETS_BACKEND": "env",
                                               "WEBHOOK_SIGNING_SECRET": SECRET}))
    c.override(publisher=CountingPublisher())
    return c


def publish_only(request: Request, publisher: CountingPublisher) -> Response:
    """What bench/baselines.py's publish_only does, with the same publisher as the route."""
    body = request.get_data()
    data = json.loads(body)
    key = f"{data['account_id']}/{data['user_id']}/{data['event']['id']}"
    publisher.publish(body, key, {})
    return Response('{"status":"accepted"}', 202, {"Content-Type": "application/json"})


def cpu_us_per_request(runs: dict[str, Callable[[Request], Response]], env: list[dict[str, Any]],
                       chunk: int = 100) -> dict[str, float]:
    """µs of CPU per request of each handler on the same requests, taken in turns ``chunk`` at a
    time, so a change in the machine's load falls on every handler alike."""
    spent = dict.fromkeys(runs, 0.0)
    for at in range(0, len(env), chunk):
        for name, run in runs.items():
            requests = [fresh(e) for e in env[at:at + chunk]]
            t0 = time.thread_time()
            for r in requests:
                run(r)
            spent[name] += time.thread_time() - t0
    return {name: cpu * 1e6 / len(env) for name, cpu in spent.items()}


def stages(c: bootstrap.Container, env: list[dict[str, Any]]) -> dict[str, float]:
    """µs of CPU per request of each step of the route, run alone on the same requests."""
    reqs = [fresh(e) for e in env]
    bodies = [r.get_data() for r in reqs]
    keys = decode_secrets(c.secrets.get("WEBHOOK_SIGNING_SECRET"))
    now = time.time()
    out: dict[str, float] = {}

    def timed(name: str, step: Callable[[int], Any]) -> list[Any]:
        t0 = time.thread_time()
        results = [step(i) for i in range(len(reqs))]
        out[name] = (time.thread_time() - t0) * 1e6 / len(reqs)
        return results

    headers: list[Any] = [r.headers for r in reqs]  # werkzeug's, as the route reads them
    ids = timed("verify signature", lambda i: verify(keys, headers[i], bodies[i], now))
    data = timed("parse_body (json.loads)", lambda i: parse_body(bodies[i]))
    skew = c.settings.max_version_skew
    changes = timed("parse_change", lambda i: parse_change(data[i], ids[i], datetime.now(UTC), skew))
    timed("message (to_message + dumps)", lambda i: json.dumps(changes[i].to_message(), ensure_ascii=False,
                                                               separators=(",", ":")).encode("utf-8"))
    fields = timed("log_fields", lambda i: {"function": "handle_webhook", **changes[i].log_fields(),
                                            "status": 202, "outcome": "accepted", "message_id": "1",
                                            "latency_ms": 0.5})
    timed("log line", lambda i: logs.log(logging.INFO, "webhook handled", fields[i], None))
    timed("answer (Response)", lambda i: http.answer({"status": "accepted", "webhook_id": ids[i]}, 202))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile's top entries of the route")
    args = parser.parse_args()

    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the whole run
    real_stdout, sys.stdout = sys.stdout, devnull  # logs.configure writes to sys.stdout
    try:
        c = container()
        http.configure_logs(c.settings)
        publisher = c.publisher
        assert isinstance(publisher, CountingPublisher)
        route = lambda r: webhook.handle(r, c)  # noqa: E731
        baseline = lambda r: publish_only(r, publisher)  # noqa: E731
        warm = [fresh(e) for e in environs(300, 50, 99)]
        for r in warm:
            assert route(r).status_code == 202
        rows: dict[str, list[float]] = {"publish-only (same publisher)": [], "handle_webhook": []}
        stage_rows: list[dict[str, float]] = []
        for n in range(args.rounds):
            # The route sees each request first (the caches start cold for it, as in service).
            got = cpu_us_per_request({"handle_webhook": route, "publish-only (same publisher)": baseline},
                                     environs(args.requests, 50, n))
            for name, value in got.items():
                rows[name].append(value)
            stage_rows.append(stages(c, environs(args.requests, 50, 100 + n)))  # caches as cold as the route's
        profile = None
        if args.profile:
            reqs = [fresh(e) for e in environs(args.requests, 50, 7)]
            prof = cProfile.Profile()
            prof.enable()
            for r in reqs:
                route(r)
            prof.disable()
            text = io.StringIO()
            stats = pstats.Stats(prof, stream=text)
            calls = stats.total_calls / len(reqs)  # type: ignore[attr-defined]
            text.write(f"{calls:.0f} Python function calls per request (the same on a loaded machine)\n")
            stats.sort_stats("tottime").print_stats(25)
            profile = text.getvalue()
    finally:
        sys.stdout = real_stdout
        devnull.close()

    print(f"### Ingest CPU in process: {args.requests} mixed webhooks (bench/mixed.py), {args.rounds} rounds "
          f"(medians), one thread, no network; Python {sys.version.split()[0]}")
    print()
    print("| handler | cpu_us_per_req | rounds |")
    print("|---|---|---|")
    med = {name: statistics.median(v) for name, v in rows.items()}
    for name, values in rows.items():
        print(f"| {name} | {med[name]:.1f} | {', '.join(f'{v:.0f}' for v in values)} |")
    print()
    base = med["publish-only (same publisher)"]
    print(f"handle_webhook over publish-only: **+{med['handle_webhook'] - base:.1f} µs** per request "
          f"({med['handle_webhook'] / base:.2f}x of the in-process floor).")
    print()
    print("| stage (run alone) | cpu_us_per_req |")
    print("|---|---|")
    for name in stage_rows[0]:
        print(f"| {name} | {statistics.median(s[name] for s in stage_rows):.1f} |")
    print()
    if profile:
        print("```")
        print(profile.strip())
        print("```")


if __name__ == "__main__":
    main()
