"""Notifications to the platform (docs/notifications.md), each from its real cause, on the local stack:
the worker and the connect flow stage them, local.pusher feeds deliver_notification, and the
platform stand-in (local/receiver.py) verifies every one with the standardwebhooks library."""

import json
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from local.stack import ROOT
from local.standin import Fault
from sync.kernel.model import google_event_id
from tests.e2e.conftest import Browser
from tests.e2e.test_integrations_flow import disconnect, ids, status
from tests.helpers import new_secret, payload, version, wait_for

TITLE = "Consulta sigilosa 71c2"


def received(stack, user, type_=None, delivered_only=True):
    receiver = stack.receiver.receiver
    records = receiver.delivered() if delivered_only else list(receiver.received)
    return [r for r in records if r["body"] and r["body"]["data"]["account_id"] == user["account_id"]
            and r["body"]["data"]["user_id"] == user["user_id"] and (type_ is None or r["body"]["type"] == type_)]


def wait_received(stack, user, type_, count=1, timeout=60):
    return wait_for(lambda: len(r := received(stack, user, type_)) >= count and r, timeout=timeout,
                    what=f"{count} × {type_} for {user['user_id']}")


def data(record):
    return {k: v for k, v in record["body"]["data"].items() if k not in ("account_id", "user_id")}


def moved(stack, user, calendar_id):
    """Wait for the calendar switch to ``calendar_id`` to have moved every event."""
    wait_for(lambda: (m := status(stack, user)["moving"]) and m["calendar_id"] == calendar_id and m["state"] == "done",
             what=f"the move to {calendar_id}")


def test_every_connection_and_event_type_from_its_real_cause(stack, platform, google_user):
    user = google_user
    browser = Browser(stack)
    browser.connect(user, calendar_id=user["team"])  # first time
    [first] = wait_received(stack, user, "connection.activated")
    assert data(first) == {"google_email": user["email"], "calendar_id": user["team"], "previous_calendar_id": None}

    platform.wait_outcome(platform.accepted(ids(user, event_id="ev-1", title=TITLE)), "created")
    Browser(stack).connect(user, calendar_id=user["email"])  # switch
    switched = wait_received(stack, user, "connection.activated", 2)[1]
    assert data(switched)["previous_calendar_id"] == user["team"] and data(switched)["calendar_id"] == user["email"]
    # The switch moves ev-1 on the bulk lane: over before the grant is revoked below, or the move
    # (not the next change) meets the revoke and that change is merely parked ("park").
    moved(stack, user, user["email"])

    # Calendar refuses an event for good (400): event.failed, without the title.
    with stack.standin.state.lock:
        stack.standin.state.faults.append(Fault(400, "invalid", ("events.insert",), count=1, users=(user["email"],)))
    hook = platform.accepted(ids(user, event_id="ev-bad", updated=7, title=TITLE))
    platform.wait_outcome(hook, "failed_permanent")
    [failed] = wait_received(stack, user, "event.failed")
    assert data(failed) == {"event_id": "ev-bad", "version": "2026-11-20T13:00:07.123Z",
                            "reason": "calendar 400 invalid"}

    # The user revokes our access in Google; the next change meets it.
    stack.standin.state.revoke_user(user["email"])
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", event_id="ev-1", updated=1)),
                          "parked_needs_reauth")
    [reauth] = wait_received(stack, user, "connection.needs_reauth")
    assert data(reauth)["google_email"] == user["email"] and "invalid_grant" in data(reauth)["reason"]

    Browser(stack).connect(user, calendar_id=user["team"])  # reconnect (to the team calendar)
    wait_received(stack, user, "connection.activated", 3)
    gid = google_event_id(user["account_id"], user["user_id"], "ev-1")
    wait_for(lambda: (e := platform.events(user["team"]).get(gid))
             and e["extendedProperties"]["private"]["source_updated_at"] == version(1),
             what="the parked change applied after the reconnect")
    moved(stack, user, user["team"])  # and the reconnect's move too, before the calendar is deleted

    # The team calendar is deleted in Google; the next change meets it.
    requests.delete(f"{stack.standin.url}_admin/calendars/{user['team']}", timeout=10)
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", event_id="ev-1", updated=2)),
                          "parked_calendar_unavailable")
    [gone] = wait_received(stack, user, "connection.calendar_unavailable")
    assert data(gone) == {"calendar_id": user["team"]}

    assert disconnect(stack, user).status_code == 200
    [bye] = wait_received(stack, user, "connection.disconnected")
    assert data(bye) == {"events_removed": 0}
    assert disconnect(stack, user).status_code == 200  # again: no transition, no notification

    time.sleep(2)
    every = received(stack, user)
    assert sorted(r["body"]["type"] for r in every) == sorted(
        ["connection.activated"] * 3 + ["event.failed", "connection.needs_reauth",
                                        "connection.calendar_unavailable", "connection.disconnected"])
    assert len({r["webhook_id"] for r in every}) == len(every)  # one delivery per transition
    assert all(r["verified_with"] == [0] for r in every)  # by the standardwebhooks reference library
    assert TITLE not in json.dumps([r["body"] for r in every])
    stamps = [r["body"]["timestamp"] for r in every]
    assert all(s.endswith("Z") for s in stamps)


def test_500_failing_changes_are_one_needs_reauth(stack, platform, user):
    from sync import bootstrap

    stack.standin.state.revoke_user(user["email"])
    bodies = [json.dumps(payload(account_id=user["account_id"], user_id=user["user_id"], event_id=f"ev-{i}"))
              for i in range(500)]

    def send(chunk):
        session = requests.Session()
        from tests.helpers import signed_headers

        for body in chunk:
            r = session.post(stack.url("handle_webhook"), data=body, timeout=30,
                             headers=signed_headers(stack.env["WEBHOOK_SIGNING_SECRET"], body))
            assert r.status_code == 202

    threads = [threading.Thread(target=send, args=(bodies[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    bootstrap.reset()
    store = bootstrap.container().connections
    wait_for(lambda: store.status_figures(user["account_id"], user["user_id"])["counts"]["parked"] == 500,
             timeout=240, interval=1, what="all 500 changes parked")
    [reauth] = wait_received(stack, user, "connection.needs_reauth")
    time.sleep(3)  # anything late would show up now
    attempts = received(stack, user, "connection.needs_reauth", delivered_only=False)
    assert [r["webhook_id"] for r in attempts] == [reauth["webhook_id"]]
    assert status(stack, user)["status"] == "needs_reauth"


@pytest.fixture
def platform_mode(stack):
    yield stack.receiver.receiver.set_mode
    stack.receiver.receiver.set_mode(200)


def test_a_platform_failing_for_a_while_gets_it_once_it_recovers(stack, user, platform_mode):
    wait_received(stack, user, "connection.activated")  # the fixture's import-connection, out of the way
    platform_mode(500)
    assert disconnect(stack, user).status_code == 200
    wait_for(lambda: len(received(stack, user, "connection.disconnected", delivered_only=False)) >= 3, timeout=60,
             what="three refused attempts")
    platform_mode(200)
    [got] = wait_received(stack, user, "connection.disconnected")
    attempts = received(stack, user, "connection.disconnected", delivered_only=False)
    assert {r["webhook_id"] for r in attempts} == {got["webhook_id"]}  # the same webhook-id on every retry
    assert [r["answered"] for r in attempts][:3] == [500, 500, 500] and attempts[-1]["answered"] == 200
    time.sleep(2)
    assert len(received(stack, user, "connection.disconnected")) == 1  # delivered once


def ops(stack, *args):
    return subprocess.run([sys.executable, "-m", "sync.ops", "dead-letters", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**stack.env, "PATH": "/usr/bin:/bin"})


def listed(stack):
    out = ops(stack, "list", "--topic", "notifications")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_a_platform_down_for_good_dead_letters_and_the_cli_replays(stack, user, platform_mode):
    wait_received(stack, user, "connection.activated")
    platform_mode(503)
    assert disconnect(stack, user).status_code == 200
    mine = f"{user['account_id']}/{user['user_id']}"
    [row] = wait_for(lambda: [r for r in listed(stack) if r["ordering_key"] == mine], timeout=120, interval=2,
                     what="the notification in the notifications dead-letter topic")
    assert row["type"] == "connection.disconnected" and row["source_deliveries"] == "5"
    attempts = received(stack, user, "connection.disconnected", delivered_only=False)
    assert len(attempts) == 5 and {r["webhook_id"] for r in attempts} == {row["webhook_id"]}
    shown = ops(stack, "--topic", "notifications", "show", row["message_id"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["data"]["data"]["events_removed"] == 0

    platform_mode(200)  # the platform is back: replay
    out = ops(stack, "replay", "--topic", "notifications", row["message_id"])
    assert out.returncode == 0 and json.loads(out.stdout)["replayed"] == [row["message_id"]], out.stderr
    [got] = wait_received(stack, user, "connection.disconnected")
    assert got["webhook_id"] == row["webhook_id"]  # the platform can tell it is the same notification
    assert not [r for r in listed(stack) if r["ordering_key"] == mine]


def test_during_a_secret_rotation_each_secret_signs(stack, google_user):
    receiver = stack.receiver.receiver
    old, new = stack.env["PLATFORM_WEBHOOK_SECRET"], new_secret()
    stack.env["PLATFORM_WEBHOOK_SECRET"] = f"{old} {new}"
    stack.stop_function("deliver_notification")
    stack.start_function("deliver_notification")
    try:
        users = []
        for platform_secrets in ([new], [old]):  # a platform already on the new secret, then one still on the old
            receiver.secrets = platform_secrets
            user = {**google_user, "user_id": "rot-" + uuid.uuid4().hex[:6]}
            Browser(stack).connect(user)
            [got] = wait_received(stack, user, "connection.activated")
            assert got["signatures"] == 2 and got["verified_with"] == [0]
            users.append(user)
    finally:
        receiver.secrets = [old]
        stack.env["PLATFORM_WEBHOOK_SECRET"] = old
        stack.stop_function("deliver_notification")
        stack.start_function("deliver_notification")
