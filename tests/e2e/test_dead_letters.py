"""python -m sync.ops dead-letters list | show | replay, against the emulator and the stack."""

import json
import subprocess
import sys

import pytest

from local.stack import PROJECT, ROOT
from sync.adapters.pubsub import PubSubPublisher
from tests.helpers import payload, wait_for

TITLE = "Reunião confidencial 9f3c"


def ops(stack, *args):
    return subprocess.run([sys.executable, "-m", "sync.ops", "dead-letters", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**stack.env, "PATH": "/usr/bin:/bin"})


@pytest.fixture
def dead_letters(stack, user):
    """Three changes and one poison message, as Pub/Sub would have forwarded them."""
    dlq = PubSubPublisher(PROJECT, stack.topic + "-dead-letter")
    ids = {}
    for name, kind, event_id, version, title in [("v1", "event.created", "ev-dl", 1, TITLE),
                                                ("v2", "event.updated", "ev-dl", 2, TITLE + " v2"),
                                                ("other", "event.created", "ev-other", 1, TITLE)]:
        change = {"schema": 1, "webhook_id": f"msg-{name}",
                  **payload(kind, account_id=user["account_id"], user_id=user["user_id"], event_id=event_id,
                            updated=version, title=title)}
        ids[name] = dlq.publish(json.dumps(change).encode(), f"{user['account_id']}/{user['user_id']}/{event_id}",
                                {"webhook_id": f"msg-{name}", "CloudPubSubDeadLetterSourceDeliveryCount": "15"})
    ids["poison"] = dlq.publish(b"\xff not json", "x/y/z", {"webhook_id": "msg-poison"})
    return ids


def listed(stack):
    out = ops(stack, "list")
    assert out.returncode == 0, out.stderr
    return {row["message_id"]: row for row in map(json.loads, out.stdout.splitlines())}


def test_list_show_and_replay(stack, platform, user, dead_letters):
    rows = wait_for(lambda: (r := listed(stack)) and set(dead_letters.values()) <= set(r) and r,
                    what="the dead letters listed")
    v1 = rows[dead_letters["v1"]]
    assert v1["ordering_key"] == f"{user['account_id']}/{user['user_id']}/ev-dl" and v1["type"] == "event.created"
    assert v1["source_deliveries"] == "15" and rows[dead_letters["poison"]]["decodable"] is False
    assert TITLE not in json.dumps(rows)  # the listing never shows event contents

    shown = ops(stack, "show", dead_letters["v2"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["data"]["event"]["title"] == TITLE + " v2"
    assert ops(stack, "show", "no-such-id").returncode == 1

    # The cause is fixed (here: the user is connected): replay the changes, not the poison.
    out = ops(stack, "replay", dead_letters["v2"], dead_letters["v1"], dead_letters["other"])
    assert out.returncode == 0, out.stderr
    assert sorted(json.loads(out.stdout)["replayed"]) == sorted([dead_letters["v1"], dead_letters["v2"],
                                                                  dead_letters["other"]])
    wait_for(lambda: (e := platform.event(user, "ev-dl")) and e["summary"] == TITLE + " v2", what="replayed v2")
    wait_for(lambda: platform.event(user, "ev-other"), what="replayed other")
    remaining = listed(stack)
    assert dead_letters["poison"] in remaining and dead_letters["v1"] not in remaining

    missing = ops(stack, "replay", "no-such-id")
    assert missing.returncode == 1 and json.loads(missing.stdout)["not_found"] == ["no-such-id"]
    assert ops(stack, "replay").returncode == 2  # names or --all, never nothing
