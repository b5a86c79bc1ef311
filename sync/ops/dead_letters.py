"""Dead letters: list, show and replay what ran out of delivery attempts (docs/configuration.md#operations). On
ports: the dead-letter topic's inspection subscription and the topic's publisher.

Messages are read from ``$SYNC_TOPIC-dead-letter-inspect`` without being consumed (each pull
is handed back at once), and replayed to ``$SYNC_TOPIC`` with their ordering keys, in their
original publish order per key; a dead letter is acknowledged only after its replay is confirmed.
Notifications (``--topic notifications``) work the same way on
``$SYNC_TOPIC-notifications-dead-letter-inspect`` → ``$SYNC_TOPIC-notifications``, keyed by
``{account_id}/{user_id}``; a replay keeps each one's webhook-id, so the platform can deduplicate.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sync.kernel.errors import Retryable
from sync.kernel.model import ordering_key
from sync.kernel.ports import DeadLetterSubscription, Publisher, Received

PULL_BATCH = 100


@dataclass(frozen=True)
class DeadLetter(Received):
    """A dead letter as pulled, read as the change or the notification it carries."""

    notification: bool = False  # from the notifications topic (docs/notifications.md#delivery)

    @property
    def change(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def event(self) -> dict[str, Any]:
        event = (self.change or {}).get("event")
        return event if isinstance(event, dict) else {}

    @property
    def ordering_key(self) -> str:
        """From the change itself (everything the worker needs is in the data); else the attributes."""
        if self.notification:
            data = (self.change or {}).get("data")
            ids = data if isinstance(data, dict) else self.attributes
            account, user = ids.get("account_id"), ids.get("user_id")
            return f"{account}/{user}" if isinstance(account, str) and isinstance(user, str) else ""
        change, event = self.change or {}, self.event
        parts = (change.get("account_id"), change.get("user_id"), event.get("id"))
        if all(isinstance(p, str) and p for p in parts):
            return ordering_key(*parts)  # type: ignore[arg-type]
        a = self.attributes
        return ordering_key(a.get("account_id", ""), a.get("user_id", ""), a.get("event_id", "")) \
            if a.get("event_id") else ""

    def summary(self) -> dict[str, Any]:
        """What an operator needs to triage, without the event's contents."""
        change, event = self.change or {}, self.event
        if self.notification:
            found = change.get("data")
            data: dict[str, Any] = found if isinstance(found, dict) else {}
            return {
                "message_id": self.message_id, "published": self.publish_time, "ordering_key": self.ordering_key,
                "type": change.get("type", self.attributes.get("type")), "timestamp": change.get("timestamp"),
                "webhook_id": change.get("webhook_id", self.attributes.get("webhook_id")),
                "event_id": data.get("event_id"),
                "source_deliveries": self.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount"),
                "decodable": self.change is not None,
            }
        return {
            "message_id": self.message_id, "published": self.publish_time,
            "ordering_key": self.ordering_key, "type": change.get("type", self.attributes.get("type")),
            "version": event.get("updated_at", self.attributes.get("updated_at")),
            "webhook_id": change.get("webhook_id", self.attributes.get("webhook_id")),
            "source_deliveries": self.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount"),
            "decodable": self.change is not None,
        }


class DeadLetters:
    def __init__(self, subscription: DeadLetterSubscription, publisher: Publisher, notifications: bool = False) -> None:
        self.subscription = subscription
        self.publisher = publisher  # the topic's own, ordering on
        self.notifications = notifications

    def _pull_all(self, deadline: float = 20.0) -> list[DeadLetter]:
        """Every message currently held, leased briefly and handed straight back."""
        seen: dict[str, DeadLetter] = {}
        end = time.monotonic() + deadline
        wait = 5.0
        while time.monotonic() < end:
            received = self.subscription.pull(PULL_BATCH, wait)
            if not received:
                break
            fresh = [m for m in received if m.message_id not in seen]
            for m in received:
                seen.setdefault(m.message_id, DeadLetter(m.message_id, m.ack_id, m.publish_time, m.attributes,
                                                         m.data, m.delivery_attempt, self.notifications))
            if not fresh:
                break
            # A partial batch is usually all there is: confirm with a short pull instead of a long one.
            wait = 5.0 if len(received) == PULL_BATCH else 1.5
        return sorted(seen.values(), key=lambda d: d.publish_time)

    def _hand_back(self, letters: list[DeadLetter]) -> None:
        self.subscription.hand_back([d.ack_id for d in letters])

    def listing(self) -> list[dict[str, Any]]:
        letters = self._pull_all()
        self._hand_back(letters)
        return [d.summary() for d in letters]

    def show(self, message_id: str) -> dict[str, Any] | None:
        letters = self._pull_all()
        self._hand_back(letters)
        for d in letters:
            if d.message_id == message_id:
                return {**d.summary(), "attributes": d.attributes,
                        "data": d.change if d.change is not None else d.data.decode("utf-8", "replace")}
        return None

    def replay(self, message_ids: list[str] | None) -> dict[str, list[str]]:
        """Republish the chosen dead letters (all when ``message_ids`` is None), oldest first."""
        letters = self._pull_all()
        chosen = [d for d in letters if message_ids is None or d.message_id in message_ids]
        self._hand_back([d for d in letters if d not in chosen])
        replayed, failed = [], []
        for d in chosen:
            attributes = {k: v for k, v in d.attributes.items() if not k.startswith("CloudPubSubDeadLetter")}
            attributes["replayed_from"] = d.message_id
            try:
                self.publisher.publish(d.data, d.ordering_key, attributes)
            except Retryable:  # not confirmed: reported, and the dead letter stays
                failed.append(d.message_id)
                self._hand_back([d])
                continue
            self.subscription.acknowledge([d.ack_id])
            replayed.append(d.message_id)
        missing: list[str] = sorted(set(message_ids or []) - {d.message_id for d in chosen})
        return {"replayed": replayed, "failed": failed, "not_found": missing}
