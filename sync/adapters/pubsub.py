"""The Publisher port on Pub/Sub, with message ordering on."""

from __future__ import annotations

import concurrent.futures
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import pubsub_v1  # type: ignore[attr-defined]
from google.cloud.pubsub_v1.publisher import exceptions as pexc
from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisherClient
from google.pubsub_v1.types import PublishRequest, PubsubMessage

from sync.kernel.errors import PublishFailed

_MESSAGE = PubsubMessage.pb()  # the raw protobuf classes behind the generated client's proto-plus types
_REQUEST = PublishRequest.pb()


def publish_request(topic_path: str, data: bytes, ordering_key: str, attributes: dict[str, str]) -> PublishRequest:
    """The Publish request of one message, built as raw protobuf (in C) and wrapped without a copy.
    Built through proto-plus, each field is marshalled in Python: the attributes map alone cost a
    webhook ~26 µs of CPU, 6 µs this way (README, Benchmarks: the ingest note). ValueError for text
    that is no UTF-8 (a lone surrogate)."""
    return PublishRequest.wrap(_REQUEST(topic=topic_path, messages=[
        _MESSAGE(data=data, ordering_key=ordering_key, attributes=attributes)]))


def new_publisher_client() -> pubsub_v1.PublisherClient:
    """One client per instance, shared by every topic's publisher (it batches and keeps channels)."""
    return pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.005),
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
    )


class Deadline:
    """api_core's timeout decorator, with a deadline: each try of one call gets the time left until
    ``seconds`` after the call began. (A float ``timeout`` becomes api_core's TimeToDeadlineTimeout,
    which gives a try the whole timeout again once less than a second is left: a retried call could
    take twice its timeout, and a webhook outlive its function's.)"""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        deadline = self.clock() + self.seconds  # api_core applies the decorator once per call

        @functools.wraps(func)
        def with_deadline(*args: Any, **kwargs: Any) -> Any:
            kwargs["timeout"] = max(deadline - self.clock(), 0.001)  # past it: the try fails at once
            return func(*args, **kwargs)

        return with_deadline


class PubSubPublisher:
    """Publishes to one topic with ordering keys, waiting for each confirmation: ``publish`` one
    message in one call, ``publish_many`` many through the client's batcher (one batch per key)."""

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
        """One message, confirmed: a single Publish call in the caller's thread, retried on the
        transient errors until ``timeout`` after it began (a deadline for all the tries together).

        Not the client's batching ``publish``: one webhook is one message, on a key of its own, so
        the batcher made a batch, a commit thread and a future for each, and that machinery cost
        more CPU than the call itself (README, Benchmarks: the ingest rows). Order is what Pub/Sub
        gives a key: the order it receives the messages in; a caller waits for each confirmation,
        so one caller's messages of one key arrive in the order it sent them.
        """
        try:
            request = publish_request(self.topic_path, data, ordering_key, attributes)
            # The generated client's Publish (the subclass's ``publish`` is the batcher's).
            response = GapicPublisherClient.publish(self.client, request=request, retry=self._retry,
                                                    timeout=Deadline(self.timeout))
        except (gexc.GoogleAPIError, ValueError) as exc:
            # GoogleAPIError: refused, or the deadline passed with the transient errors retried
            # (RetryError); ValueError: a closed channel, or a message the protobuf refuses (text
            # that is no UTF-8, such as a lone surrogate).
            raise PublishFailed(f"pubsub: {type(exc).__name__}") from exc
        ids = response.message_ids
        if len(ids) != 1:
            raise PublishFailed("pubsub: no message id confirmed")
        return str(ids[0])

    def publish_many(self, messages: Sequence[tuple[bytes, str, dict[str, str]]]) -> int:
        """Publish all at once and wait for every confirmation (the fan-out of bulk work); return
        how many. PublishFailed if any was not confirmed: publishing them all again is safe."""
        futures = [(key, self.client.publish(self.topic_path, data, ordering_key=key, retry=self._retry,
                                             timeout=self.timeout, **attributes))
                   for data, key, attributes in messages]
        return len(self._settle(futures))

    def _settle(self, futures: list[tuple[str, object]]) -> list[str]:
        ids, failed = [], None
        for key, future in futures:
            try:
                ids.append(str(future.result(timeout=self.timeout)))  # type: ignore[attr-defined]
            except (gexc.GoogleAPIError, concurrent.futures.TimeoutError, pexc.MessageTooLargeError,
                    pexc.PublishToPausedOrderingKeyException, RuntimeError) as exc:
                # Paused: an earlier batch of this key failed, and the batcher refuses the key (in
                # the future, not at the call) until it is resumed. Resumed here in every case, so
                # publishing them all again goes through.
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
