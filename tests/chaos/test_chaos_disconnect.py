"""A disconnect with remove_events while changes and pings are in flight (``make chaos``): webhooks
keep coming for every user, hand edits in Google keep pinging (DRIFT_POLICY=restore), Calendar
fails some calls and stalls others past the worker's timeout; two users disconnect mid-storm, one
with few events (removed within the request) and one with many (the bulk lane).

Invariant, once quiet: the disconnected users' calendars hold none of the service's events, nothing
is stored for them but their connection document (disconnected, no grant), and no
event.drift_repaired was staged for them after their disconnect began; the user who stayed
connected still converges (test_chaos.py's invariant).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import pytest
import requests

from local.pusher import Pusher, create_subscription
from local.stack import PROJECT, Stack
from local.standin import Fault
from sync.kernel.model import connection_key
from tests.chaos.stacks import chaos_stack
from tests.chaos.test_chaos import Platform, stream
from tests.chaos.test_chaos_drift import hand_editor
from tests.e2e.snapshots_client import token

pytestmark = pytest.mark.chaos
TOPIC = "chaos-disconnect"


@pytest.fixture(scope="module")
def disconnect_chaos(emulator_hosts):
    stack = chaos_stack(emulator_hosts, "chaos-disconnect", TOPIC, DRIFT_POLICY="restore").start()
    live = create_subscription(PROJECT, TOPIC, f"{TOPIC}-worker-pull", f"{TOPIC}-dead-letter", 10)
    bulk = create_subscription(PROJECT, f"{TOPIC}-bulk", f"{TOPIC}-bulk-pull", f"{TOPIC}-dead-letter", 20)
    pushers = [Pusher(path, stack.url("sync_worker"), timeout=10).start() for path in (live, bulk)]
    try:
        yield stack
    finally:
        for pusher in pushers:
            pusher.stop()
        stack.stop()


def api(stack: Stack, user: dict[str, str]) -> tuple[str, dict[str, str]]:
    url = f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}"
    return url, {"Authorization": "Bearer " + token(stack.env, user["account_id"], user["user_id"])}


def disconnect(stack: Stack, user: dict[str, str], answers: list[int]) -> None:
    """The platform's DELETE, retried as it would be until it is answered 200 or 202."""
    url, headers = api(stack, user)
    for _ in range(60):
        r = requests.delete(url, params={"remove_events": "true"}, headers=headers, timeout=60)
        answers.append(r.status_code)
        if r.status_code in (200, 202):
            return
        time.sleep(0.5)
    raise AssertionError(f"DELETE never answered 200/202: {answers}")


def removal_finished(stack: Stack, user: dict[str, str]) -> bool:
    url, headers = api(stack, user)
    body = requests.get(url, headers=headers, timeout=30).json()
    return bool(body["status"] == "disconnected" and body["removing"] is None)


def ours_live(stack: Stack, user: dict[str, str]) -> list[str]:
    assert stack.standin is not None
    return [e["id"] for e in stack.standin.state.events_of(user["email"])
            if e["status"] != "cancelled" and e.get("extendedProperties", {}).get("private", {}).get(
                "source_user_id") == user["user_id"]]


def stored_for(user: dict[str, str]) -> list[str]:
    """Every Firestore document that names the user (by id or by connection key), but its connection."""
    from google.cloud import firestore

    from sync.adapters.secrets import token_secret_id
    from tests.e2e.test_disconnect import all_documents

    db = firestore.Client(project=PROJECT)
    key = connection_key(user["account_id"], user["user_id"])
    own, grant = f"{db._database_string}/documents/connections/{key}", token_secret_id(key)
    return [doc.name for doc in all_documents(db)
            if doc.name != own and (key in doc.name or grant in str(doc) or user["user_id"] in str(doc))]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def disconnecting_logged(stack: Stack, user: dict[str, str]) -> datetime:
    """When integrations logged that ``user``'s disconnect had begun (after its transaction committed)."""
    times = [instant(entry["time"]) for line in (stack.log_dir / "integrations.log").read_text().splitlines()
             if '"disconnecting"' in line and line.startswith("{") and (entry := json.loads(line)).get("outcome")
             == "disconnecting" and entry.get("user_id") == user["user_id"]
             and entry.get("account_id") == user["account_id"]]
    assert times, f"{user['user_id']}: no disconnect began"
    return min(times)


def test_a_disconnect_with_removal_during_a_storm_leaves_nothing(disconnect_chaos):
    stack = disconnect_chaos
    assert stack.standin is not None and stack.receiver is not None
    state = stack.standin.state
    platform = Platform(stack)
    stays, few, many = platform.user(), platform.user(), platform.user()
    users = [stays, few, many]
    for user, n in ((few, 12), (many, 90)):  # 90: more than a request removes, so the bulk lane's
        for i in range(n):
            platform.send(user, f"ev-{i}", "event.created", platform.next_version(user, f"ev-{i}"), f"ev-{i} v1")
    platform.settle(users, timeout=240)
    with state.lock:
        state.faults += [Fault(503, "backendError", rate=0.05), Fault(429, "rateLimitExceeded", rate=0.03,
                                                                        retry_after=1),
                         Fault(0, "", rate=0.03, delay=3.0)]  # over the worker's 2 s timeout
    stop, edits = threading.Event(), []
    editor = threading.Thread(target=hand_editor, args=(stack, users, stop, 11, edits))
    editor.start()
    answers: dict[str, list[int]] = {few["user_id"]: [], many["user_id"]: []}
    try:
        stream(platform, users, 40, seed=30, pause=0.05, events_per_user=12)
        callers = [threading.Thread(target=disconnect, args=(stack, user, answers[user["user_id"]]))
                   for user in (few, many)]
        for caller in callers:
            caller.start()
        started = time.monotonic()
        seed = 31
        while time.monotonic() - started < 20:  # the platform keeps sending for everyone meanwhile
            stream(platform, users, 20, seed=seed, pause=0.05, events_per_user=12)
            seed += 1
        for caller in callers:
            caller.join(timeout=120)
    finally:
        stop.set()
        editor.join(timeout=30)
        with state.lock:
            state.faults.clear()
    assert len(edits) > 10  # pings were in flight
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not all(removal_finished(stack, u) for u in (few, many)):
        time.sleep(1)
    assert all(removal_finished(stack, u) for u in (few, many)), answers
    platform.settle([stays], timeout=240)
    time.sleep(5)  # whatever was still queued for them has been refused by now

    for user in (few, many):
        assert ours_live(stack, user) == [], f"{user['user_id']}: events left in the calendar"
        assert stored_for(user) == [], f"{user['user_id']}: documents left"
        from google.cloud import firestore

        conn = firestore.Client(project=PROJECT).collection("connections").document(
            connection_key(user["account_id"], user["user_id"])).get().to_dict() or {}
        assert conn["status"] == "disconnected" and not conn.get("token_ref")
        # The disconnect takes effect when its first transaction commits (the connection refuses
        # writes from then on); a restore committed before that may still be announced.
        # ``disconnect_requested_at`` is the request's clock, read before that transaction, so a
        # restore committed between the two would look late: the boundary is the commit, which the
        # "disconnecting" line follows. A restore's notice is timed before its own commit.
        began = disconnecting_logged(stack, user)
        assert began >= conn["disconnect_requested_at"]
        late = [r for r in stack.receiver.receiver.received if r["body"]
                and r["body"]["type"] == "event.drift_repaired" and r["body"]["data"]["user_id"] == user["user_id"]
                and instant(r["body"]["timestamp"]) > began]
        assert late == [], f"{user['user_id']}: drift repaired after the disconnect"
        notes = [r for r in stack.receiver.receiver.delivered() if r["body"]
                 and r["body"]["type"] == "connection.disconnected"
                 and r["body"]["data"]["user_id"] == user["user_id"]]
        assert notes and notes[0]["body"]["data"]["events_removed"] >= 1
    assert not platform.problems([stays])
