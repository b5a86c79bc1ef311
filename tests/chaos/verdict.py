"""Whose fault is a broken chaos invariant: the local queue's or the product's.

For each event whose calendar copy is wrong, follow the platform's newest change for it:
``handle_webhook``'s log names the message it was published as; the pushers' ledgers
(local.pusher) say what became of that message; the worker's log says what it answered.

* **queue (infrastructure)**: the message was never delivered, is still in the subscription
  (unacknowledged, to be delivered again), or was dead-lettered. The product has not yet said
  it applied the change; in the cloud Pub/Sub would keep delivering it (or ops would replay it
  from the dead-letter topic).
* **product**: the worker acknowledged the newest change (a 2xx, so Pub/Sub forgets it) and
  the calendar lacks it; or a copy or ghost is in the calendar; or no webhook carried the change
  (a snapshot item, a calendar move: bulk work) and the queue holds nothing more.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.pusher import Delivery

QUEUE, PRODUCT = "the local queue (infrastructure)", "the product"


@dataclass
class Wrong:
    """One event whose calendar copy differs from the platform's newest state."""

    email: str
    account_id: str
    user_id: str
    event_id: str
    what: str  # e.g. "calendar has 'ev-0 v28', platform 'ev-0 v29'"
    version: str | None  # the platform's newest updated_at for it; None for a ghost
    duplicated: bool = False  # more than one copy in the calendar

    def __str__(self) -> str:
        return f"{self.email} {self.event_id}: {self.what}"


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


class Evidence:
    """The logs and ledgers of one chaos stack, read once."""

    def __init__(self, log_dir: Path, pushers: list[Any]) -> None:
        self.published: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
        for line in _lines(log_dir / "handle_webhook.log"):
            if line.get("outcome") == "accepted" and line.get("message_id"):
                key = (str(line.get("account_id")), str(line.get("user_id")), str(line.get("event_id")),
                       str(line.get("version")))
                self.published[key].append(str(line["message_id"]))
        self.answers: dict[str, list[str]] = defaultdict(list)
        for line in _lines(log_dir / "sync_worker.log"):
            if line.get("message_id") and line.get("delivery_attempt") is not None:
                self.answers[str(line["message_id"])].append(
                    f"attempt {line['delivery_attempt']}: {line.get('outcome', '?')} {line.get('status', '?')}")
        self.deliveries: dict[str, Delivery] = {}
        self.unsettled: list[Delivery] = []
        for pusher in pushers:
            for d in pusher.history():
                self.deliveries[d.message_id] = d
                if not d.settled:
                    self.unsettled.append(d)

    def verdict(self, wrong: Wrong) -> tuple[str, str]:
        """(side at fault, why) for one wrong event."""
        if wrong.version is None:
            return PRODUCT, "no platform change for it: the product wrote an event the platform does not have"
        if wrong.duplicated:
            return PRODUCT, "the product wrote it more than once"
        ids = self.published.get((wrong.account_id, wrong.user_id, wrong.event_id, wrong.version), [])
        if not ids:  # not a webhook's change (a snapshot item, a calendar move): the bulk lane's work
            if self.unsettled:
                return QUEUE, (f"no webhook carried {wrong.version}; the queue still holds {len(self.unsettled)} "
                               f"undelivered message(s), e.g. {self._describe(self.unsettled[0])}")
            return PRODUCT, f"no webhook carried {wrong.version} and the queue holds nothing more"
        described = []
        for message_id in ids:
            d = self.deliveries.get(message_id)
            if d is not None and d.state == "acked":
                worker = "; ".join(self.answers.get(message_id, [])) or "no worker log line"
                return PRODUCT, (f"the worker acknowledged {wrong.version} (message {message_id}: {worker}) "
                                 "and the calendar does not have it")
            described.append(f"message {message_id} " + (self._describe(d) if d else "published, never pulled"))
        return QUEUE, f"{wrong.version} not acknowledged: " + "; ".join(described)

    @staticmethod
    def _describe(d: Delivery) -> str:
        answers = ", ".join(f"attempt {n}: {a}" for n, a in d.answers) or "no answer yet"
        state = {"in_flight": "being delivered", "queued": "still in the subscription, to be delivered again",
                 "dead_lettered": "dead-lettered"}.get(d.state, d.state)
        return f"{state} ({answers})"


def report(log_dir: Path, pushers: list[Any], wrong: list[Wrong], limit: int = 10) -> str:
    """The assertion message: how many events are wrong, which side is at fault for each."""
    evidence = Evidence(log_dir, pushers)
    verdicts = [(w, *evidence.verdict(w)) for w in wrong]
    product = sum(side == PRODUCT for _, side, _ in verdicts)
    queue = len(verdicts) - product
    head = f"{len(wrong)} events wrong; at fault: {PRODUCT} for {product}, {QUEUE} for {queue}"
    body = [f"  [{'PRODUCT' if side == PRODUCT else 'QUEUE'}] {w}: {why}" for w, side, why in verdicts[:limit]]
    if len(verdicts) > limit:
        body.append(f"  … and {len(verdicts) - limit} more")
    return "\n".join([head, *body])
