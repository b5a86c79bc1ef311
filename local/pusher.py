"""Pub/Sub push, as the cloud does it, on top of the emulator's pull (which, unlike the
emulator's push, honours ordering keys and dead-letter policies).

Streams from a pull subscription and POSTs each message to an endpoint in the push envelope
format, ``orderingKey`` and ``deliveryAttempt`` included; 2xx acks, anything else (or no
answer) nacks, so the subscription's attempts and dead-lettering apply. The emulator redelivers
a nacked message at once, ignoring the subscription's retry policy, so the pusher applies that
policy itself: exponential backoff before each nack. Used by the chaos suite.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from typing import Any

import requests
from google.cloud import pubsub_v1  # type: ignore[attr-defined]


def create_subscription(project: str, topic: str, name: str, dead_letter_topic: str | None,
                        max_delivery_attempts: int = 5, ordered: bool = False) -> str:
    """A pull subscription for the pusher. Unordered by default: the emulator never forwards dead
    letters from an ordered subscription (it just stops delivering the key), and the service's
    correctness does not rest on ordering."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, name)
    request: dict[str, Any] = {"name": path, "topic": f"projects/{project}/topics/{topic}",
                               "enable_message_ordering": ordered, "ack_deadline_seconds": 30,
                               "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 2}}}
    if dead_letter_topic:
        request["dead_letter_policy"] = {"dead_letter_topic": f"projects/{project}/topics/{dead_letter_topic}",
                                         "max_delivery_attempts": max_delivery_attempts}
    subscriber.create_subscription(request=request)
    subscriber.close()
    return path


class Pusher:
    def __init__(self, subscription_path: str, endpoint: str, timeout: float = 30.0, concurrency: int = 16,
                 min_backoff: float = 1.0, max_backoff: float = 8.0) -> None:
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.path = subscription_path
        self.endpoint = endpoint
        self.timeout = timeout
        self.subscriber = pubsub_v1.SubscriberClient()
        self.flow = pubsub_v1.types.FlowControl(max_messages=concurrency)
        self.http = threading.local()
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.future: Any = None

    def _session(self) -> requests.Session:
        if not hasattr(self.http, "session"):
            self.http.session = requests.Session()
        return self.http.session  # type: ignore[no-any-return]

    def _deliver(self, message: Any) -> None:
        attempt = int(message.delivery_attempt or 1)
        envelope: dict[str, Any] = {
            "message": {"data": base64.b64encode(message.data).decode(), "attributes": dict(message.attributes),
                        "messageId": message.message_id, "publishTime": message.publish_time.isoformat(),
                        "orderingKey": message.ordering_key},
            "subscription": self.path,
            "deliveryAttempt": attempt,
        }
        try:
            ok = self._session().post(self.endpoint, json=envelope, timeout=self.timeout).status_code < 300
        except requests.RequestException:
            ok = False
        with self.lock:
            self.stats["ack" if ok else "nack"] += 1
        if ok:
            message.ack()
            return
        time.sleep(min(self.max_backoff, self.min_backoff * 2 ** (attempt - 1)))  # the retry policy
        message.nack()

    def start(self) -> Pusher:
        self.future = self.subscriber.subscribe(self.path, callback=self._deliver, flow_control=self.flow)
        return self

    def stop(self) -> None:
        if self.future is not None:
            self.future.cancel()
            try:
                self.future.result(timeout=10)
            except Exception:  # noqa: BLE001 - cancelled streaming pull ends with an error by design
                pass
        self.subscriber.close()
