"""The Publisher port on Pub/Sub, with message ordering on."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import pubsub_v1  # type: ignore[attr-defined]
from google.cloud.pubsub_v1.publisher import exceptions as pexc

from sync.kernel.errors import PublishFailed


def new_publisher_client() -> pubsub_v1.PublisherClient:
    """One client per instance, shared by every topic's publisher (it batches and keeps channels)."""
    return pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.005),
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
    )


class PubSubPublisher:
    """Publishes to one topic with ordering keys, waiting for each confirmation."""

    def __init__(self, project: str, topic: str, timeout: float = 10.0,
                 client: pubsub_v1.PublisherClient | None = None) -> None:
        self.client = client or new_publisher_client()
        self.topic_path = self.client.topic_path(project, topic)
        self.timeout = timeout
        self._retry = gretry.Retry(
            initial=0.05, maximum=1.0, multiplier=2.0, timeout=timeout,
            predicate=gretry.if_exception_type(
                gexc.Aborted, gexc.DeadlineExceeded, gexc.InternalServerError,
                gexc.ResourceExhausted, gexc.ServiceUnavailable, gexc.Unknown, gexc.Cancelled,
            ),
        )

    def publish(self, data: bytes, ordering_key: str, attributes: dict[str, str]) -> str:
        for attempt in (1, 2):
            try:
                future = self.client.publish(
                    self.topic_path, data, ordering_key=ordering_key,
                    retry=self._retry, timeout=self.timeout, **attributes,
                )
                return str(future.result(timeout=self.timeout))
            except pexc.PublishToPausedOrderingKeyException:
                # An earlier publish on this key failed; the key stays paused until resumed.
                self._resume(ordering_key)
                if attempt == 2:
                    raise PublishFailed("pubsub: ordering key paused") from None
            except (gexc.GoogleAPIError, concurrent.futures.TimeoutError, pexc.MessageTooLargeError,
                    RuntimeError) as exc:
                # Resume so the next delivery of this key is not refused out of hand.
                self._resume(ordering_key)
                raise PublishFailed(f"pubsub: {type(exc).__name__}") from exc
        raise PublishFailed("pubsub: unreachable")  # pragma: no cover

    def publish_many(self, messages: Sequence[tuple[bytes, str, dict[str, str]]]) -> int:
        """Publish all at once and wait for every confirmation (the fan-out of bulk work); return
        how many. PublishFailed if any was not confirmed: publishing them all again is safe."""
        futures: list[tuple[str, object]] = []
        sent = 0
        for data, key, attributes in messages:
            try:
                futures.append((key, self.client.publish(self.topic_path, data, ordering_key=key,
                                                         retry=self._retry, timeout=self.timeout, **attributes)))
            except pexc.PublishToPausedOrderingKeyException:
                self.publish(data, key, attributes)  # resumes the key, or raises PublishFailed
                sent += 1
        return sent + len(self._settle(futures))

    def _settle(self, futures: list[tuple[str, object]]) -> list[str]:
        ids, failed = [], None
        for key, future in futures:
            try:
                ids.append(str(future.result(timeout=self.timeout)))  # type: ignore[attr-defined]
            except (gexc.GoogleAPIError, concurrent.futures.TimeoutError, pexc.MessageTooLargeError,
                    RuntimeError) as exc:
                self._resume(key)
                failed = exc
        if failed is not None:
            raise PublishFailed(f"pubsub: {type(failed).__name__}") from failed
        return ids

    def _resume(self, ordering_key: str) -> None:
        try:
            self.client.resume_publish(self.topic_path, ordering_key)
        except RuntimeError:
            pass  # not paused (e.g. the publish is still pending after our timeout): nothing to do
