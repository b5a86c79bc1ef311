"""``make bench``: the service's numbers, measured side by side in one run on this machine.

Prints markdown tables (and writes them to bench/results.md): ingest against two baselines,
webhook-to-Calendar latency, worker throughput against the stand-in's own capacity, cost per
change, cold start, and how latency and throughput move with 1 to 1,000 connected users.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import requests

from local import emulators, function_server, ports, shutdown
from local.stack import CLIENT_ID, PROJECT, ROOT, Stack
from sync.kernel.model import google_event_id
from tests.helpers import payload, signed_headers, wait_for

OUT: list[str] = []
Batch = list[tuple[bytes, dict[str, str]]]  # (body, headers) of each webhook


def emit(line: str = "") -> None:
    print(line, flush=True)
    OUT.append(line)


def table(rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    emit("| " + " | ".join(cols) + " |")
    emit("|" + "---|" * len(cols))
    for row in rows:
        emit("| " + " | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    emit()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load(url: str, requests_: Batch, concurrency: int,
         expect: int = 202) -> dict[str, float]:
    """POST every (body, headers) with ``concurrency`` clients; throughput and latency."""
    local = threading.local()
    latencies: list[float] = []
    lock = threading.Lock()

    def one(item: tuple[bytes, dict[str, str]]) -> None:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        t0 = time.perf_counter()
        r = local.s.post(url, data=item[0], headers=item[1], timeout=30)
        took = (time.perf_counter() - t0) * 1000
        assert r.status_code == expect, r.text
        with lock:
            latencies.append(took)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, requests_))
    elapsed = time.perf_counter() - started
    return {"req_per_s": len(requests_) / elapsed, "p50_ms": statistics.median(latencies),
            "p99_ms": pct(latencies, 99)}


def signed_batch(stack: Stack, n: int, account: str, users: int = 50) -> Batch:
    out = []
    for i in range(n):
        body = json.dumps(payload(account_id=account, user_id=f"u{i % users}", event_id=f"e{i}"))
        out.append((body.encode(), signed_headers(stack.env["WEBHOOK_SIGNING_SECRET"], body)))
    return out


# -- 1. ingest ------------------------------------------------------------------------------------
INGEST_TOPIC = "bench-ingest"  # no subscription: ingest must not leave a backlog for the worker
HANDLERS = {"bare 202": ("bare", "bench/baselines.py"), "publish-only": ("publish_only", "bench/baselines.py"),
            "publish-only, batching client": ("publish_batching", "bench/baselines.py"),
            "handle_webhook": ("handle_webhook", "main.py")}


class Handler(NamedTuple):
    proc: subprocess.Popen[bytes]
    sock: socket.socket  # its listening socket, bound here (local/ports.py)
    log_path: Path


def raise_if_dead(procs: dict[str, Handler]) -> None:
    """Raise with the exit status and the end of the log of every handler that has exited."""
    dead = {name: h for name, h in procs.items() if h.proc.poll() is not None}
    if dead:
        raise RuntimeError("; ".join(f"{name} exited with {h.proc.returncode}" for name, h in dead.items())
                           + "".join(emulators.log_tail(h.log_path) for h in dead.values()))


def start_handlers(stack: Stack, handlers: dict[str, tuple[str, str]] = HANDLERS,
                   ) -> tuple[dict[str, str], dict[str, Handler]]:
    """``handlers`` (name → (target, source)), each in its own functions-framework process, on the
    ingest topic."""
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    try:
        pubsub_v1.PublisherClient().create_topic(name=f"projects/{PROJECT}/topics/{INGEST_TOPIC}")
    except AlreadyExists:
        pass
    env = {**os.environ, **stack.env, "SYNC_TOPIC": INGEST_TOPIC}
    urls: dict[str, str] = {}
    procs: dict[str, Handler] = {}
    try:
        for i, (name, (target, source)) in enumerate(handlers.items()):
            sock = ports.listening_socket()  # ours until the handler stops (local/ports.py)
            log_path = stack.log_dir / f"bench-{i}-{target}.log"  # two copies of one target: a log each
            try:
                # A process that dies before serving raises with the end of its log (and is stopped).
                proc = function_server.serve(target, source, sock, name, ROOT, env, log_path)
            except BaseException:
                sock.close()
                raise
            procs[name] = Handler(proc, sock, log_path)
            urls[name] = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    except BaseException:
        stop_handlers(procs)  # the ones already serving do not outlive a failed start
        raise
    return urls, procs


def stop_handlers(procs: dict[str, Handler]) -> None:
    for name, handler in procs.items():
        emulators.Process(name, handler.proc, "").stop()
        handler.sock.close()


@contextlib.contextmanager
def serving(stack: Stack, handlers: dict[str, tuple[str, str]] = HANDLERS,
            ) -> Iterator[tuple[dict[str, str], dict[str, Handler]]]:
    """The handlers started (``start_handlers``) and, on the way out, stopped; a handler that died
    raises with the end of its log, whether the load failed (its log, not just the refused
    requests, the load's error chained to it) or every request was answered."""
    urls, procs = start_handlers(stack, handlers)
    try:
        try:
            yield urls, procs
        finally:
            raise_if_dead(procs)
    finally:
        stop_handlers(procs)


def bench_ingest(stack: Stack, n: int, concurrency: int) -> None:
    with serving(stack) as (urls, _):
        for url in urls.values():  # warm up each (first publish creates the client)
            load(url, signed_batch(stack, 50, "warm"), concurrency)
        results = {name: load(url, signed_batch(stack, n, "ingest-" + name.split()[0]), concurrency)
                   for name, url in urls.items()}
    real, pub, bare = results["handle_webhook"], results["publish-only"], results["bare 202"]
    batching = results["publish-only, batching client"]
    emit(f"### Ingest: {n} signed webhooks, {concurrency} concurrent clients, Pub/Sub emulator "
         "(each handler in its own functions-framework process, same topic)")
    emit()
    table([{"handler": name, **r} for name, r in results.items()])
    emit(f"handle_webhook / publish-only: throughput **{real['req_per_s'] / pub['req_per_s']:.2f}x** "
         f"(target >= 0.9), p99 **{real['p99_ms'] / pub['p99_ms']:.2f}x** (target <= 1.2); "
         f"vs bare: throughput {real['req_per_s'] / bare['req_per_s']:.2f}x, "
         f"p99 {real['p99_ms'] / bare['p99_ms']:.2f}x; vs publish-only through the batching client: "
         f"throughput {real['req_per_s'] / batching['req_per_s']:.2f}x, "
         f"p99 {real['p99_ms'] / batching['p99_ms']:.2f}x.")
    emit()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time so far of every live process in a process group (Linux /proc)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk_round(url: str, batch: Batch, connections: int, pgid: int,
              threads: int = 2) -> dict[str, float]:
    """Replay ``batch`` once with wrk; latency from wrk, CPU from the handler's process group."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8") as f:
        for body, h in batch:
            f.write(f"{h['webhook-id']}\t{h['webhook-timestamp']}\t{h['webhook-signature']}\t{body.decode()}\n")
    done = tempfile.mkdtemp()
    try:
        cpu0 = group_cpu_seconds(pgid)
        proc = subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", "-d300s", "--timeout", "30s",
                                 "-s", str(ROOT / "bench" / "replay.lua"), url], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "REPLAY_FILE": f.name, "REPLAY_THREADS": str(threads),
                                     "REPLAY_DONE": done})
        deadline = time.monotonic() + 240
        while len(os.listdir(done)) < threads and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        cpu = group_cpu_seconds(pgid) - cpu0
        proc.send_signal(signal.SIGINT)  # every request answered: report now
        stdout, _ = proc.communicate(timeout=30)
    finally:
        os.unlink(f.name)
        shutil.rmtree(done, ignore_errors=True)
    r = json.loads(stdout.strip().splitlines()[-1])
    assert r["non_202"] == 0 and r["errors"] == 0, stdout
    return {"req_per_s": r["requests"] / r["seconds"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
            "cpu_ms_per_req": cpu * 1000 / r["requests"]}


def side_by_side(urls: dict[str, str], procs: dict[str, Handler], batches: dict[str, Batch],
                 connections: int) -> dict[str, dict[str, float]]:
    """One wrk round against every handler at the same moment, ``batches[name]`` each: a swing of
    the machine (a neighbour's load, CPU steal) falls on all of them alike, so their CPU per request
    compares within a few per cent in the median of rounds, where rounds taken in turns move by ±15 %."""
    results: dict[str, dict[str, float]] = {}
    failed: list[BaseException] = []

    def one(name: str) -> None:
        try:
            results[name] = wrk_round(urls[name], batches[name], connections, procs[name].proc.pid)
        except BaseException as exc:  # raised below, in the caller's thread
            failed.append(exc)

    threads = [threading.Thread(target=one, args=(name,), name=f"wrk-{name}") for name in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]
    return {name: results[name] for name in batches}


def bench_ingest_mixed(stack: Stack, n: int = 3000, users: int = 50, connections: int = 16,
                       rounds: int = 5) -> None:
    """The mixed load: ``n`` distinct signed webhooks (bench/mixed.py) over ``users`` users, replayed by
    wrk against each handler in turn, ``rounds`` times (the order rotating); medians of the rounds."""
    from bench.mixed import mixed_payloads, signed

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the mixed ingest load: scripts/check-tools.sh bench installs it")
    secret = stack.env["WEBHOOK_SIGNING_SECRET"]
    per_round: dict[str, list[dict[str, float]]] = {name: [] for name in HANDLERS}
    with serving(stack) as (urls, procs):
        for name, url in urls.items():  # warm up: clients made, code paths hot
            wrk_round(url, signed(secret, mixed_payloads(300, "warm", users, seed=99)), connections,
                      procs[name].proc.pid)
        names = list(urls)
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                batch = signed(secret, mixed_payloads(n, f"mixed{r}-{name.split()[0]}", users, seed=r))
                per_round[name].append(wrk_round(urls[name], batch, connections, procs[name].proc.pid))
        side = [side_by_side(urls, procs, {name: signed(secret, mixed_payloads(n, f"side{r}-{name.split()[0]}", users,
                                                                                 seed=100 + r))
                                           for name in SIDE_BY_SIDE}, connections) for r in range(rounds)]
    med = {name: {k: statistics.median(x[k] for x in rows) for k in rows[0]} for name, rows in per_round.items()}
    emit(f"### Ingest, mixed load: {n} distinct signed webhooks over {users} users, wrk with {connections} "
         f"connections, {rounds} rounds (medians)")
    emit()
    emit("Creates, updates and deletes; timed events in 8 zones, all-day events, series with exceptions, "
         "attendees, reminders (bench/mixed.py). CPU: the handler's processes, user + system, per request.")
    emit()
    table([{"handler": name, **r} for name, r in med.items()])
    real, pub, batching = med["handle_webhook"], med["publish-only"], med["publish-only, batching client"]
    ratios = [w["p99_ms"] / p["p99_ms"] for w, p in zip(per_round["handle_webhook"], per_round["publish-only"],
                                                         strict=True)]
    emit(f"handle_webhook / publish-only: throughput **{real['req_per_s'] / pub['req_per_s']:.2f}x** "
         f"(target >= 0.9), p99 **{real['p99_ms'] / pub['p99_ms']:.2f}x** (target <= 1.2; per round: "
         f"{', '.join(f'{x:.2f}' for x in ratios)}), CPU per request "
         f"{real['cpu_ms_per_req']:.2f} vs {pub['cpu_ms_per_req']:.2f} ms "
         f"(**{real['cpu_ms_per_req'] / pub['cpu_ms_per_req']:.2f}x**, target <= 1.10). Against publish-only through "
         f"the batching client (the former path): throughput {real['req_per_s'] / batching['req_per_s']:.2f}x, "
         f"CPU {real['cpu_ms_per_req'] / batching['cpu_ms_per_req']:.2f}x.")
    emit()
    ratio = emit_side_by_side(side, "publish-only")["handle_webhook"]
    emit(f"handle_webhook / publish-only, side by side: CPU per request **{ratio:.2f}x** (target <= 1.10).")
    emit()


SIDE_BY_SIDE = ("publish-only", "publish-only, batching client", "handle_webhook")


def emit_side_by_side(rounds: list[dict[str, dict[str, float]]], base: str) -> dict[str, float]:
    """The CPU of handlers loaded at the same moment: medians, and each one's ratio to ``base``'s
    round by round; returns the median ratios (bench/ab.py prints the same for any handlers)."""
    emit(f"Side by side: the same handlers loaded at the same moment, {len(rounds)} rounds (each its own "
         "webhooks), so swings of the machine fall on all alike.")
    emit()
    rows, medians = [], {}
    for name in rounds[0]:
        ratios = [r[name]["cpu_ms_per_req"] / r[base]["cpu_ms_per_req"] for r in rounds]
        medians[name] = statistics.median(ratios)
        rows.append({"handler": name, "cpu_ms_per_req": statistics.median(r[name]["cpu_ms_per_req"] for r in rounds),
                     "req_per_s": statistics.median(r[name]["req_per_s"] for r in rounds),
                     "p99_ms": statistics.median(r[name]["p99_ms"] for r in rounds),
                     f"cpu / {base}": f"{medians[name]:.2f}x (" + ", ".join(f"{x:.2f}" for x in ratios) + ")"})
    table(rows)
    return medians


# -- 2/6. end to end and scale ---------------------------------------------------------------------
def connect_users(stack: Stack, account: str, count: int) -> list[dict[str, str]]:
    from sync import bootstrap

    bootstrap.reset()
    users = []
    for i in range(count):
        u = {"account_id": account, "user_id": f"u{i}", "email": f"{account}-u{i}@example.com"}
        token = stack.add_google_user(u["email"])
        bootstrap.container().activation.import_grant(account, u["user_id"], u["email"], token)
        users.append(u)
    return users


def end_to_end(stack: Stack, users: list[dict[str, str]], changes: int, concurrency: int,
               pace: float = 0.0, prefix: str = "e2e") -> dict[str, float]:
    sent: dict[tuple[str, str], float] = {}
    lock = threading.Lock()
    session = threading.local()

    def send(i: int) -> None:
        u = users[i % len(users)]
        body = json.dumps(payload(account_id=u["account_id"], user_id=u["user_id"], event_id=f"{prefix}-{i}"))
        if not hasattr(session, "s"):
            session.s = requests.Session()
        t0 = time.time()
        r = session.s.post(stack.url("handle_webhook"), data=body,
                           headers=signed_headers(stack.env["WEBHOOK_SIGNING_SECRET"], body), timeout=30)
        assert r.status_code == 202
        with lock:
            sent[(u["email"], google_event_id(u["account_id"], u["user_id"], f"{prefix}-{i}"))] = t0
        if pace:
            time.sleep(pace)

    started = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, range(changes)))

    def landed() -> dict[tuple[str, str], float]:
        out = {}
        for email in {u["email"] for u in users}:
            for e in stack.standin.state.events_of(email):
                if (email, e["id"]) in sent:
                    out[(email, e["id"])] = datetime.fromisoformat(e["created"].replace("Z", "+00:00")).timestamp()
        return out

    done = wait_for(lambda: (d := landed()) and len(d) == len(sent) and d, timeout=300, interval=0.2,
                    what="every change in the calendars")
    lat = [(done[k] - sent[k]) * 1000 for k in sent]
    return {"changes": changes, "changes_per_s": changes / (max(done.values()) - started),
            "e2e_p50_ms": statistics.median(lat), "e2e_p99_ms": pct(lat, 99)}


# -- 3. worker throughput vs the stand-in's own capacity -------------------------------------------
def standin_capacity(stack: Stack, n: int, concurrency: int) -> float:
    assert stack.standin is not None
    email = "capacity@example.com"
    stack.standin.state.add_user(email)
    token = requests.post(stack.env["OAUTH_TOKEN_URI"], data={
        "grant_type": "refresh_token", "refresh_token": stack.add_google_user(email), "client_id": CLIENT_ID,
        "client_secret": stack.env["OAUTH_CLIENT_SECRET"]}, timeout=10).json()["access_token"]
    from sync.kernel.payload import parse_change
    from sync.kernel.planner import event_body

    bodies = [json.dumps(event_body(parse_change(payload(event_id=f"cap-{i}"), "m"),
                                    google_event_id("cap", "cap", f"cap-{i}"))) for i in range(n)]
    url = f"{stack.standin.url}calendar/v3/calendars/{email}/events"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return load(url, [(b.encode(), headers) for b in bodies], concurrency, expect=200)["req_per_s"]


# -- 4. cost per change ----------------------------------------------------------------------------
def cost_per_change(stack: Stack) -> list[dict[str, Any]]:
    """The worker's core in this process, with Firestore calls counted and Calendar calls read off
    the stand-in: what one change of each kind costs."""
    from google.cloud.firestore_v1 import transaction as fs_txn

    from local.standin import Fault
    from sync import bootstrap
    from sync.kernel.errors import Retryable
    from sync.kernel.payload import parse_change

    counts = {"reads": 0, "writes": 0, "transactions": 0}
    originals = (fs_txn.Transaction.get_all, fs_txn.Transaction._add_write_pbs, fs_txn.Transaction._begin)

    def get_all(self: Any, refs: list[Any], *a: Any, **k: Any) -> Any:
        counts["reads"] += len(refs)
        return originals[0](self, refs, *a, **k)

    def add_writes(self: Any, pbs: list[Any]) -> None:
        counts["writes"] += len(pbs)
        originals[1](self, pbs)

    def begin(self: Any, *a: Any, **k: Any) -> Any:
        counts["transactions"] += 1
        return originals[2](self, *a, **k)

    fs_txn.Transaction.get_all, fs_txn.Transaction._add_write_pbs, fs_txn.Transaction._begin = \
        get_all, add_writes, begin  # type: ignore[method-assign]
    try:
        [u] = connect_users(stack, "cost", 1)
        service = bootstrap.container().sync_service
        assert stack.standin is not None
        calls = stack.standin.state.calls
        rows = []
        steps = [("create", "event.created", 1), ("update", "event.updated", 2), ("duplicate", "event.updated", 2),
                 ("stale", "event.updated", 1), ("delete", "event.deleted", 3), ("re-create", "event.created", 4),
                 ("delete of unseen", "event.deleted", 1)]
        warm = parse_change(payload(account_id=u["account_id"], user_id=u["user_id"], event_id="warm"), "m")
        service.apply(warm)  # the first call refreshes the access token: kept out of the count
        def measure(name: str, change: Any) -> None:
            before_calls = sum(n for k, n in calls.items() if k.startswith("events."))
            before, mails = dict(counts), calls["mails.sent"]
            try:
                name_ = service.apply(change).name
            except Retryable as exc:
                name_ = f"retry ({exc})"
            rows.append({"change": name, "outcome": name_,
                         "calendar_calls": sum(n for k, n in calls.items() if k.startswith("events.")) - before_calls,
                         **{f"firestore_{k}": counts[k] - before[k] for k in counts},
                         "guest_mails": calls["mails.sent"] - mails})

        for name, kind, v in steps:
            event_id = "unseen" if name == "delete of unseen" else "cost-2"
            measure(name, parse_change(payload(kind, account_id=u["account_id"], user_id=u["user_id"],
                                               event_id=event_id, updated=v), "m"))
        # Guest mails (docs/guests.md): two guests, notify_attendees "all"; the ambiguous retry is the
        # redelivery of an update Calendar applied (and mailed) before answering 503: its one read.
        def guests(v: int, **fields: Any) -> Any:
            return parse_change(payload("event.updated", account_id=u["account_id"], user_id=u["user_id"],
                                        event_id="cost-guests", updated=v, notify_attendees="all",
                                        attendees=[{"email": "cliente@clientex.com.br"},
                                                   {"email": "socia@outra.example"}], **fields), "m")

        service.apply(guests(1))
        measure("guest-visible update", guests(2, title="Remarcada"))
        measure("reminders-only update", guests(3, title="Remarcada", reminders_minutes=[5]))
        stack.standin.state.faults.append(Fault(503, "backendError", methods=("events.update",), count=1,
                                                users=(u["email"],), applied=True))
        measure("update answered 503 once applied", guests(4, title="Outra vez"))
        measure("ambiguous retry (its extra read)", guests(4, title="Outra vez"))
        rows += meet_costs(stack, u, counts)
        return rows
    finally:
        fs_txn.Transaction.get_all, fs_txn.Transaction._add_write_pbs, fs_txn.Transaction._begin = originals


def meet_costs(stack: Stack, u: dict[str, str], counts: dict[str, int]) -> list[dict[str, Any]]:
    """Creating a Google Meet event (docs/events.md#google-meet): settled in the write's answer, and
    pending (the write, then the conference_check job's read that settles it), each counted whole."""
    from sync import bootstrap
    from sync.apply.service import SyncService
    from sync.kernel.payload import parse_change

    class Jobs:  # the follow-up job, run here rather than by the stack's worker (its calls counted)
        def __init__(self) -> None:
            self.jobs: list[dict[str, Any]] = []

        def publish(self, data: bytes, ordering_key: str, attributes: dict[str, str]) -> str:
            self.jobs.append(json.loads(data))
            return str(len(self.jobs))

        def publish_many(self, messages: Any) -> int:
            for data, key, attributes in messages:
                self.publish(data, key, attributes)
            return len(messages)

    assert stack.standin is not None
    c, calls, jobs = bootstrap.container(), stack.standin.state.calls, Jobs()
    service = SyncService(c.mappings, c.calendars, followups=lambda: jobs)
    rows = []
    for name, creation in (("create with Meet (settled at once)", "immediate"), ("create with Meet (pending)",
                                                                                   "pending")):
        stack.standin.state.configure_conferences(u["email"], creation=creation, after_reads=1)
        change = parse_change(payload(account_id=u["account_id"], user_id=u["user_id"], event_id=f"meet-{creation}",
                                      conference={"type": "google_meet"}), "m")
        before_calls = sum(n for k, n in calls.items() if k.startswith("events."))
        before, mails = dict(counts), calls["mails.sent"]
        outcome = service.apply(change).name
        while jobs.jobs:  # each follow-up read until settled
            outcome += " → " + c.conference_followup.check(jobs.jobs.pop(0)).name
        rows.append({"change": name, "outcome": outcome,
                     "calendar_calls": sum(n for k, n in calls.items() if k.startswith("events.")) - before_calls,
                     **{f"firestore_{k}": counts[k] - before[k] for k in counts},
                     "guest_mails": calls["mails.sent"] - mails})
    stack.standin.state.configure_conferences(u["email"], creation="immediate")
    return rows


# -- 5. cold start ---------------------------------------------------------------------------------
COLD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import main
imported = time.perf_counter()
from functions_framework import create_app
client = create_app(sys.argv[1], "main.py").test_client()
ready = time.perf_counter()
kind = sys.argv[1]
if kind == "handle_webhook":
    r = client.post("/", data=sys.argv[2], headers=json.loads(sys.argv[3]))
elif kind == "sync_worker":
    r = client.post("/", json=json.loads(sys.argv[2]))
else:
    r = client.get("/connect?token=x")
first = time.perf_counter()
print(json.dumps({"status": r.status_code, "import_main_ms": (imported - t0) * 1000,
                  "first_request_ms": (first - ready) * 1000,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "modules": len(sys.modules)}))
"""


def cold_start(stack: Stack) -> list[dict[str, Any]]:
    from tests.helpers import push_envelope

    body = json.dumps(payload(account_id="cold", user_id="cold"))
    args = {"handle_webhook": [body, json.dumps(signed_headers(stack.env["WEBHOOK_SIGNING_SECRET"], body))],
            "sync_worker": [json.dumps(push_envelope({"schema": 1, "webhook_id": "cold",
                                                      **payload(account_id="cold", user_id="cold")}))],
            "integrations": []}
    rows = []
    for target, extra in args.items():
        runs = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", COLD, target, *extra], cwd=ROOT, capture_output=True,
                                 text=True, env={**os.environ, **stack.env}, timeout=120, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in runs) for k in ("import_main_ms", "first_request_ms", "rss_mb",
                                                                   "modules")}
        rows.append({"function": target, "status": runs[0]["status"], **med})
    return rows


def main() -> None:
    only = sys.argv[1:]  # e.g. `python -m bench.run mixed`: that scenario alone
    shutdown.install()
    emit(f"Measured {datetime.now().strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, "
         f"Python {platform.python_version()}; everything local (emulators, stand-in) on the same machine.")
    emit()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), extra_env={"CALENDAR_USER_RATE_PER_MINUTE": "6000", "CALENDAR_USER_BURST": "100"})
        stack.start()
        try:
            if only == ["mixed"]:
                bench_ingest_mixed(stack)
                return
            if only == ["cost"]:  # `python -m bench.run cost`: the cost-per-change table alone (not saved)
                table(cost_per_change(stack))
                return
            bench_ingest(stack, n=600, concurrency=16)
            bench_ingest_mixed(stack)

            emit("### End to end: webhook sent → event written in the stand-in calendar")
            emit()
            users = connect_users(stack, "e2e", 5)
            # The stack's own webhook and worker have served nothing yet (ingest ran handlers of its
            # own): the first change pays for their cold start and the emulators', kept in a row of
            # its own instead of in the idle row's p99 (of 40 changes, the slowest one).
            cold = end_to_end(stack, users[:1], 1, 1, prefix="cold")
            end_to_end(stack, users, 20, 4, prefix="warm")  # every user's token refreshed, paths warm
            rows = [{"load": "first change after start (cold instances)", **cold},
                    {"load": "idle (1 every 200 ms)", **end_to_end(stack, users, 40, 1, pace=0.2, prefix="idle")},
                    # its own events: the idle row's ids again would be duplicates, "landed" before they were sent
                    {"load": "burst (8 clients)", **end_to_end(stack, users, 300, 8, prefix="burst")}]
            table(rows)

            capacity = standin_capacity(stack, 400, 8)
            burst = rows[2]["changes_per_s"]
            emit(f"### Worker throughput: **{burst:.1f} changes/s** applied (burst above), against the "
                 f"stand-in's own capacity of **{capacity:.1f} inserts/s** (8 clients, same run): "
                 f"{burst / capacity:.2f}x.")
            emit()

            emit("### Cost per change (worker core, Firestore emulator, stand-in Calendar)")
            emit()
            table(cost_per_change(stack))

            emit("### Cold start (fresh process each; median of 3)")
            emit()
            table(cold_start(stack))

            emit("### Scale: connected users (300 changes, 8 clients, spread over the users)")
            emit()
            scale = []
            for count in (1, 10, 100, 1000):
                t0 = time.perf_counter()
                population = connect_users(stack, f"scale{count}", count)
                connect_s = time.perf_counter() - t0
                result = end_to_end(stack, population, 300, 8)
                scale.append({"users": count, "connect_s": connect_s, **result})
            table(scale)
            __import__("bench.drift", fromlist=["bench_drift"]).bench_drift(stack)  # drift repair (§9)
            __import__("bench.notifications").notifications.report(stack, emit, table)
        except BaseException:
            stack.raise_if_dead()  # a process of the stack that died: which, and the end of its log
            raise
        else:
            stack.raise_if_dead()
        finally:
            stack.stop()
    from bench.snapshots import bench_snapshots  # stacks of its own (paced as Calendar's quota)

    bench_snapshots()
    (ROOT / "bench" / "results.md").write_text("\n".join(OUT) + "\n")


if __name__ == "__main__":
    # `python -m bench.run` runs this file as __main__, a module apart from the `bench.run` that
    # bench/drift.py and bench/snapshots.py import: their sections went to that one's OUT and were
    # missing from bench/results.md. main runs in `bench.run` itself, so every section has one OUT.
    import bench.run

    bench.run.main()
