"""Notifications under fault injection (``make chaos``, docs/notifications.md): deliver_notification and the
worker SIGKILLed mid-request. Every transition must reach the platform, each under one webhook-id
(a redelivery may repeat it, never invent a second one)."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
import requests

from local.stack import Stack
from local.standin import Fault
from tests.chaos.killer import Killer
from tests.chaos.stacks import chaos_stack
from tests.chaos.test_chaos import Platform, stream
from tests.e2e.conftest import api_token
from tests.helpers import wait_for

pytestmark = pytest.mark.chaos
TOPIC = "chaos-notify"


@pytest.fixture(scope="module")
def chaos(emulator_hosts):
    stack = chaos_stack(emulator_hosts, "chaos-notifications", TOPIC)
    stack.notification_attempts = 30  # kills every few seconds must not exhaust a notification's attempts
    stack.start()
    try:
        stack.push_lane(TOPIC, f"{TOPIC}-worker-pull", 10)
        yield stack
    finally:
        stack.stop()


def delivered_ids(stack: Stack, users: list[dict[str, str]]) -> dict[tuple[str, str], set[str]]:
    """(user id, type) → the distinct webhook-ids the platform acknowledged."""
    wanted = {u["user_id"] for u in users}
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    assert stack.receiver is not None
    for r in stack.receiver.receiver.delivered():
        if r["body"] and r["body"]["data"]["user_id"] in wanted:
            out[(r["body"]["data"]["user_id"], r["body"]["type"])].add(r["webhook_id"])
    return out


def sweep_outbox() -> int:
    """The maintenance job's outbox task, as Cloud Scheduler would run it a while later."""
    from sync import bootstrap

    bootstrap.reset()
    return bootstrap.container().outbox.republish_stale(older_than=6)["notifications_republished"]


def test_deliver_notification_killed_mid_request_loses_nothing(chaos):
    assert chaos.receiver is not None
    chaos.receiver.receiver.set_mode(200, hang=0.7)  # keep deliveries in flight when the kill comes
    platform = Platform(chaos)
    users = []
    try:
        # Three kills, each while a notification is being delivered, after the 3rd, 6th and 9th user.
        with Killer(chaos, "deliver_notification", chaos.notification_pusher, marks=[3, 6, 9]) as killer:
            for _ in range(12):
                u = platform.user()  # import-connection: connection.activated
                users.append(u)
                r = requests.delete(f"{chaos.url('integrations')}api/connections/{u['account_id']}/{u['user_id']}",
                                    headers={"Authorization": "Bearer " + api_token(chaos, u["account_id"],
                                                                                    u["user_id"])},
                                    timeout=30)
                assert r.status_code == 200  # connection.disconnected
                killer.advance()
                time.sleep(0.5)
    finally:
        chaos.receiver.receiver.set_mode(200)
    killer.check()
    expected = {(u["user_id"], t) for u in users for t in ("connection.activated", "connection.disconnected")}
    got = wait_for(lambda: (d := delivered_ids(chaos, users)) and set(d) >= expected and d, timeout=180,
                   interval=1, what="every transition delivered")
    assert set(got) == expected
    assert all(len(ids) == 1 for ids in got.values()), {k: v for k, v in got.items() if len(v) != 1}


def test_worker_killed_mid_transition_loses_no_transition(chaos):
    platform = Platform(chaos)
    users = [platform.user() for _ in range(6)]
    for u in users:
        chaos.standin.state.revoke_user(u["email"])
    with chaos.standin.state.lock:
        chaos.standin.state.faults.append(Fault(0, "", rate=1.0, delay=0.2))  # keep requests in flight
    try:
        # Two kills, each while a change is being pushed to the worker, at set points of the stream.
        with Killer(chaos, "sync_worker", chaos.pushers[0], marks=[30, 60]) as killer:
            stream(platform, users, 90, seed=11, pause=0.05, on_sent=killer.advance)
    finally:
        with chaos.standin.state.lock:
            chaos.standin.state.faults.clear()
    killer.check()
    expected = {(u["user_id"], "connection.needs_reauth") for u in users}

    def done() -> dict[tuple[str, str], set[str]] | None:
        got = {k: v for k, v in delivered_ids(chaos, users).items() if k[1] == "connection.needs_reauth"}
        return got if set(got) == expected else None

    try:
        got = wait_for(done, timeout=60, interval=1, what="a needs_reauth per user")
    except AssertionError:  # a kill between commit and publish: the outbox sweep sends it
        time.sleep(7)
        sweep_outbox()
        got = wait_for(done, timeout=60, interval=1, what="a needs_reauth per user after the sweep")
    assert all(len(ids) == 1 for ids in got.values()), got  # one transition, one webhook-id
    time.sleep(7)
    sweep_outbox()  # anything a kill left behind goes out now, under the id it was staged with
    time.sleep(3)
    again = {k: v for k, v in delivered_ids(chaos, users).items() if k[1] == "connection.needs_reauth"}
    assert again == got
    assert not [u for u in users if (u["user_id"], "connection.activated") not in delivered_ids(chaos, users)]
