"""The dead-letter CLI's use case (sync/ops/dead_letters.py) on a fake subscription: listing hands
every message back, a replay republishes with the ordering key and acknowledges only once confirmed."""

import json

from sync.kernel.ports import Received
from sync.ops.dead_letters import DeadLetters
from tests.fakes import FakeDeadLetters, FakePublisher


def letter(n, event_id="ev-1"):
    data = {"schema": 1, "webhook_id": f"wh-{n}", "type": "event.updated", "account_id": "a", "user_id": "u",
            "event": {"id": event_id, "updated_at": f"2026-11-20T13:00:0{n}Z", "title": "Sigilo"}}
    return Received(f"m{n}", f"ack-m{n}", f"2026-11-20T13:00:0{n}+00:00",
                    {"CloudPubSubDeadLetterSourceDeliveryCount": "10"}, json.dumps(data).encode(), 10)


def test_listing_shows_no_contents_and_hands_every_message_back():
    sub = FakeDeadLetters([letter(2), letter(1)])
    rows = DeadLetters(sub, FakePublisher()).listing()
    assert [r["message_id"] for r in rows] == ["m1", "m2"]  # publish order
    assert rows[0]["ordering_key"] == "a/u/ev-1" and "Sigilo" not in json.dumps(rows)
    assert sorted(sub.handed_back) == ["ack-m1", "ack-m2"] and sub.acked == []


def test_a_replay_republishes_with_its_key_and_acknowledges_after_the_confirmation():
    sub, publisher = FakeDeadLetters([letter(1), letter(2)]), FakePublisher()
    outcome = DeadLetters(sub, publisher).replay(["m1", "missing"])
    assert outcome == {"replayed": ["m1"], "failed": [], "not_found": ["missing"]}
    [(data, key, attributes)] = publisher.messages
    assert key == "a/u/ev-1" and attributes == {"replayed_from": "m1"} and json.loads(data)["webhook_id"] == "wh-1"
    assert sub.acked == ["ack-m1"] and "ack-m2" in sub.handed_back


def test_a_replay_that_is_not_confirmed_keeps_the_dead_letter():
    sub, publisher = FakeDeadLetters([letter(1)]), FakePublisher()
    publisher.fail = True
    assert DeadLetters(sub, publisher).replay(None) == {"replayed": [], "failed": ["m1"], "not_found": []}
    assert sub.acked == [] and "m1" in sub.held
