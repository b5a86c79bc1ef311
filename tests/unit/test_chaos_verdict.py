"""The chaos verdict (tests/chaos/verdict.py) names the right side for each kind of wrong event."""

from __future__ import annotations

import json

from local.pusher import Delivery
from tests.chaos.verdict import PRODUCT, QUEUE, Evidence, Wrong, report

V = "2026-11-20T13:00:29.123Z"


class FakePusher:
    def __init__(self, deliveries: list[Delivery]) -> None:
        self.deliveries = deliveries

    def history(self) -> list[Delivery]:
        return self.deliveries


def logs(tmp_path, published: dict[str, str], worker: list[dict]) -> None:
    """handle_webhook accepted ev-<n> at V as message <id>; the worker's lines as given."""
    (tmp_path / "handle_webhook.log").write_text("".join(
        json.dumps({"outcome": "accepted", "account_id": "a", "user_id": "u", "event_id": ev, "version": V,
                    "message_id": mid}) + "\n" for ev, mid in published.items()) + "not json\n")
    (tmp_path / "sync_worker.log").write_text("".join(json.dumps(line) + "\n" for line in worker))


def wrong(event_id: str, version: str | None = V, duplicated: bool = False) -> Wrong:
    return Wrong("u@example.com", "a", "u", event_id, "calendar has 'v28', platform 'v29'", version, duplicated)


def test_each_kind_of_wrong_event_gets_its_side(tmp_path):
    logs(tmp_path, {"ev-acked": "1", "ev-queued": "2", "ev-dead": "3", "ev-unpulled": "4"},
         [{"message_id": "1", "delivery_attempt": 2, "outcome": "stale", "status": 200}])
    pusher = FakePusher([Delivery("1", b"", {}, "k", [(1, "503"), (2, "200")], "acked"),
                         Delivery("2", b"", {}, "k", [(1, "503")], "queued"),
                         Delivery("3", b"", {}, "k", [(n, "400") for n in range(1, 11)], "dead_lettered")])
    evidence = Evidence(tmp_path, [pusher])
    side, why = evidence.verdict(wrong("ev-acked"))
    assert side == PRODUCT and "message 1: attempt 2: stale 200" in why
    side, why = evidence.verdict(wrong("ev-queued"))
    assert side == QUEUE and "still in the subscription" in why and "attempt 1: 503" in why
    side, why = evidence.verdict(wrong("ev-dead"))
    assert side == QUEUE and "dead-lettered" in why and "attempt 10: 400" in why
    side, why = evidence.verdict(wrong("ev-unpulled"))
    assert side == QUEUE and "never pulled" in why
    # No webhook carried it (a snapshot item, a move): the queue's side while it holds anything more.
    side, why = evidence.verdict(wrong("ev-from-a-snapshot"))
    assert side == QUEUE and "still holds 1 undelivered message" in why
    settled = Evidence(tmp_path, [FakePusher([pusher.deliveries[0]])])
    assert settled.verdict(wrong("ev-from-a-snapshot"))[0] == PRODUCT
    assert evidence.verdict(wrong("ev-ghost", version=None))[0] == PRODUCT
    assert evidence.verdict(wrong("ev-queued", duplicated=True))[0] == PRODUCT


def test_the_report_counts_each_side(tmp_path):
    logs(tmp_path, {"ev-acked": "1", "ev-queued": "2"}, [])
    pusher = FakePusher([Delivery("1", b"", {}, "k", [(1, "200")], "acked"),
                         Delivery("2", b"", {}, "k", [(1, "503")], "queued")])
    text = report(tmp_path, [pusher], [wrong("ev-acked"), wrong("ev-queued")])
    assert text.splitlines()[0] == f"2 events wrong; at fault: {PRODUCT} for 1, {QUEUE} for 1"
    assert "[PRODUCT] u@example.com ev-acked" in text and "[QUEUE] u@example.com ev-queued" in text
