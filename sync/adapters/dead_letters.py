"""The DeadLetterSubscription port on Pub/Sub: the inspection subscription of a dead-letter topic,
pulled without consuming (what is not replayed is handed straight back)."""

from __future__ import annotations

from collections.abc import Sequence

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from sync.kernel.ports import Received


class PubSubDeadLetters:
    def __init__(self, project: str, subscription: str, client: pubsub_v1.SubscriberClient | None = None) -> None:
        self.client = client or pubsub_v1.SubscriberClient()
        self.path = self.client.subscription_path(project, subscription)

    def pull(self, max_messages: int, timeout: float) -> list[Received]:
        try:
            response = self.client.pull(request={"subscription": self.path, "max_messages": max_messages},
                                        timeout=timeout)
        except (gexc.DeadlineExceeded, gexc.ServiceUnavailable):
            return []
        return [Received(m.message.message_id, m.ack_id, m.message.publish_time.isoformat(),
                         dict(m.message.attributes), bytes(m.message.data), m.delivery_attempt)
                for m in response.received_messages]

    def hand_back(self, ack_ids: Sequence[str]) -> None:
        if ack_ids:
            self.client.modify_ack_deadline(request={"subscription": self.path, "ack_ids": list(ack_ids),
                                                     "ack_deadline_seconds": 0})

    def acknowledge(self, ack_ids: Sequence[str]) -> None:
        self.client.acknowledge(request={"subscription": self.path, "ack_ids": list(ack_ids)})


def cloud_errors() -> tuple[type[BaseException], ...]:
    """Google's auth and API errors: the CLI says them in one line (no credentials, no access)."""
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    return GoogleAuthError, GoogleAPIError
