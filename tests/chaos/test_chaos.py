"""Fault injection with an invariant checker (``make chaos``).

Delivery goes through local.pusher: the emulator's pull subscription (unordered; each envelope
still carries its ordering key) with a dead-letter policy (10 attempts; the cloud's subscription
has 15), pushed to the worker as Pub/Sub push does. After the system is quiet, every user's
calendar must equal the latest platform state of every event: no change lost, no duplicate, no
ghost. When it does not, the failure names the side at fault for each wrong event: the local
queue (the newest change still undelivered, unacknowledged or dead-lettered) or the product (the
worker acknowledged it, yet the calendar lacks it); see tests/chaos/verdict.py.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests
from google.cloud import pubsub_v1

from local.stack import PROJECT, Stack
from local.standin import Fault
from sync.adapters.pubsub import PubSubPublisher
from tests.chaos import verdict
from tests.chaos.killer import Killer
from tests.chaos.stacks import chaos_stack
from tests.chaos.verdict import Wrong
from tests.helpers import event, payload, signed_headers, version, wait_for

START = event()["start"]["date_time"]  # every change of the stream starts then (local wall time)

pytestmark = pytest.mark.chaos
TOPIC = "chaos-sync"
MAX_ATTEMPTS = 10


@pytest.fixture(scope="module")
def chaos(emulator_hosts):
    stack = chaos_stack(emulator_hosts, "chaos", TOPIC).start()
    try:
        # 10 attempts, not 5: with the worker SIGKILLed mid-request, a change can lose two
        # attempts to kills and three more to the lock its killed transaction leaves in the
        # emulator, and be dead-lettered though nothing is wrong with it (seen once in CI).
        stack.push_lane(TOPIC, f"{TOPIC}-worker-pull", MAX_ATTEMPTS)
        yield stack
    finally:
        stack.stop()


@dataclass
class Platform:
    """The source of truth, and a sender of its webhooks."""

    stack: Stack
    truth: dict[tuple[str, str, str], tuple[int, str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)

    def next_version(self, user: dict[str, str], event_id: str) -> int:
        with self.lock:
            v = self.versions.get((user["user_id"], event_id), 0) + 1
            self.versions[(user["user_id"], event_id)] = v
            return v

    def user(self) -> dict[str, str]:
        tag = uuid.uuid4().hex[:6]
        u = {"account_id": f"chaos-{tag}", "user_id": f"u-{tag}", "email": f"chaos-{tag}@example.com"}
        self.stack.connect(u["account_id"], u["user_id"], u["email"], in_process=True)
        return u

    def send(self, user: dict[str, str], event_id: str, kind: str, v: int, title: str,
             webhook_id: str | None = None) -> None:
        data = payload(kind, account_id=user["account_id"], user_id=user["user_id"], event_id=event_id,
                       updated=v, title=title)
        body = json.dumps(data)
        headers = signed_headers(self.stack.env["WEBHOOK_SIGNING_SECRET"], body, webhook_id=webhook_id)
        url = self.stack.url("handle_webhook")
        for _ in range(50):  # the platform retries until accepted
            if requests.post(url, data=body, headers=headers, timeout=30).status_code == 202:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("webhook never accepted")
        key = (user["account_id"], user["user_id"], event_id)
        with self.lock:
            if key not in self.truth or v > self.truth[key][0]:
                self.truth[key] = (v, kind, title)

    def wrong(self, users: list[dict[str, str]]) -> list[Wrong]:
        """Every event whose calendar copy differs from the platform's newest state."""
        found = []
        for u in users:
            live = [e for e in self.stack.standin.state.events_of(u["email"]) if e["status"] != "cancelled"]
            by_source: dict[str, list[dict]] = {}
            for e in live:
                by_source.setdefault(e["extendedProperties"]["private"]["source_event_id"], []).append(e)
            with self.lock:
                expected = {k[2]: t for k, t in self.truth.items() if k[:2] == (u["account_id"], u["user_id"])}

            def wrong(event_id: str, what: str, v: int | None, duplicated: bool = False,
                      u: dict[str, str] = u) -> Wrong:
                return Wrong(u["email"], u["account_id"], u["user_id"], event_id, what,
                             version(v) if v is not None else None, duplicated)

            for event_id, (v, kind, title) in expected.items():
                got = by_source.get(event_id, [])
                if kind == "event.deleted":
                    if got:
                        found.append(wrong(event_id, "deleted on the platform but in the calendar", v))
                elif len(got) != 1:
                    found.append(wrong(event_id, f"{len(got)} copies in the calendar", v, len(got) > 1))
                elif (got[0]["summary"], got[0]["extendedProperties"]["private"]["source_updated_at"]) != \
                        (title, version(v)):
                    found.append(wrong(event_id, f"calendar has {got[0]['summary']!r}, platform {title!r}", v))
                elif got[0]["start"].get("dateTime", "")[:19] != START:  # a hand edit moves it (drift repair)
                    found.append(wrong(event_id, f"calendar starts {got[0]['start']!r}, platform {START}", v))
            for ghost in set(by_source) - set(expected):
                found.append(wrong(ghost, "in the calendar, unknown to the platform", None))
        return found

    def problems(self, users: list[dict[str, str]]) -> list[str]:
        return [str(w) for w in self.wrong(users)]

    def settle(self, users: list[dict[str, str]], timeout: float = 180) -> None:
        """Wait until every calendar equals the platform; else fail naming the side at fault for
        each wrong event (tests/chaos/verdict.py)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.wrong(users):
                return
            time.sleep(1)
        wrong = self.wrong(users)
        assert not wrong, verdict.report(self.stack.log_dir, getattr(self.stack, "pushers", []), wrong)


def worker_lines(stack: Stack) -> list[dict]:
    """The worker's log records so far (a line still being written is skipped)."""
    out = []
    for line in (stack.log_dir / "sync_worker.log").read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def stream(platform: Platform, users: list[dict[str, str]], changes: int, seed: int, pause: float = 0.0,
           events_per_user: int = 8, on_sent: Callable[[], None] | None = None) -> None:
    """Random creates, updates and deletes, versions increasing per event, sent in order."""
    rng = random.Random(seed)
    for _ in range(changes):
        u = rng.choice(users)
        event_id = f"ev-{rng.randrange(events_per_user)}"
        v = platform.next_version(u, event_id)
        kind = "event.created" if v == 1 else rng.choice(["event.updated"] * 4 + ["event.deleted"])
        platform.send(u, event_id, kind, v, f"{event_id} v{v} ✓")
        if on_sent is not None:
            on_sent()
        if pause:
            time.sleep(pause)


def test_worker_killed_mid_request_repeatedly(chaos):
    platform = Platform(chaos)
    users = [platform.user() for _ in range(3)]
    with chaos.standin.state.lock:
        chaos.standin.state.faults.append(Fault(0, "", rate=1.0, delay=0.2))  # keep requests in flight
    try:
        # Four kills, each while a push is in flight, at set points of the 160 changes.
        with Killer(chaos, "sync_worker", chaos.pushers[0], marks=[32, 64, 96, 128]) as killer:
            stream(platform, users, 160, seed=1, pause=0.1, on_sent=killer.advance)
    finally:
        with chaos.standin.state.lock:
            chaos.standin.state.faults.clear()
    killer.check()
    platform.settle(users)


def test_calendar_failing_20_percent_for_a_minute(chaos):
    platform = Platform(chaos)
    users = [platform.user() for _ in range(4)]
    state = chaos.standin.state
    with state.lock:
        state.faults += [Fault(503, "backendError", rate=0.06), Fault(500, "internalError", rate=0.05),
                         Fault(429, "rateLimitExceeded", rate=0.05, retry_after=1),
                         Fault(0, "", rate=0.05, delay=3.0)]  # over the worker's 2 s timeout
        state.calls["injected_fault"] = 0
    try:
        started = time.monotonic()
        seed = 2
        while time.monotonic() - started < 60:
            stream(platform, users, 20, seed=seed, pause=0.05)
            seed += 1
    finally:
        with state.lock:
            state.faults.clear()
    assert state.calls["injected_fault"] > 20
    platform.settle(users)


def test_the_same_messages_twice_and_out_of_order(chaos):
    platform = Platform(chaos)
    users = [platform.user() for _ in range(2)]
    rng = random.Random(3)
    sends = []
    for u in users:
        for e in range(6):
            for v in range(1, 5):
                kind = "event.created" if v == 1 else ("event.deleted" if (e, v) == (2, 4) else "event.updated")
                sends.append((u, f"ev-{e}", kind, v, f"ev-{e} v{v}", f"wh-{u['user_id']}-{e}-{v}"))
    sends = sends + sends  # each delivered twice, with the same webhook id
    rng.shuffle(sends)
    threads = [threading.Thread(target=lambda chunk=sends[i::4]: [platform.send(*s) for s in chunk]) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    platform.settle(users)


def test_grant_revoked_mid_stream_parks_and_loses_nothing(chaos):
    platform = Platform(chaos)
    users = [platform.user() for _ in range(2)]
    victim = users[0]
    stream(platform, users, 30, seed=4)
    chaos.standin.state.revoke_user(victim["email"])
    stream(platform, users, 30, seed=5)
    wait_for(lambda: any(line.get("user_id") == victim["user_id"] and line.get("outcome") == "parked_needs_reauth"
                         for line in worker_lines(chaos)), timeout=60, what="the worker meeting the revoked grant")
    from sync import bootstrap

    bootstrap.reset()
    token = chaos.standin.state.issue_grant(victim["email"], "local-client.apps.example",
                                            ("https://www.googleapis.com/auth/calendar.events",))
    bootstrap.container().activation.import_grant(victim["account_id"], victim["user_id"], victim["email"], token)
    platform.settle(users)


def test_a_poison_message_is_dead_lettered_while_every_other_key_flows(chaos):
    platform = Platform(chaos)
    user = platform.user()
    subscriber = pubsub_v1.SubscriberClient()
    inspect = subscriber.subscription_path(PROJECT, f"{TOPIC}-dead-letter-inspect")
    poison_key = f"{user['account_id']}/{user['user_id']}/poison"
    poison = b'{"schema": 1, "not": "a change", "n": "' + uuid.uuid4().hex.encode() + b'"}'
    poison_id = PubSubPublisher(PROJECT, TOPIC).publish(poison, poison_key, {"webhook_id": "poison"})
    stream(platform, [user], 30, seed=6)
    platform.settle([user], timeout=120)
    deadline = time.monotonic() + 120
    found = []
    while time.monotonic() < deadline and not found:
        # Answered at once: no call for the client to give up on, which the emulator would lose
        # track of (local/pusher.py), holding what it had handed that call.
        response = subscriber.pull(request={"subscription": inspect, "max_messages": 50, "return_immediately": True},
                                   timeout=10)
        found = [m for m in response.received_messages if m.message.data == poison]
        if not found:
            time.sleep(0.2)
    subscriber.close()
    assert found, f"poison message {poison_id} never reached {TOPIC}-dead-letter"
    assert found[0].message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == str(MAX_ATTEMPTS)
