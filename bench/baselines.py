"""Baselines for the ingest benchmark, served by functions-framework like the real thing.

``bare``: returns 202 and does nothing else. ``publish_only``: publishes the same body with the
same ordering key the way the product does (one Publish call, its request built as raw protobuf:
sync/adapters/pubsub.py) and waits for the confirmation; no signature, no validation.
``publish_batching``: the same through the client's batching ``publish`` and its future, the way
the product published before (a row of its own: what that path costs). The real handle_webhook
is measured against them.
"""

import json
import os

import functions_framework

_publisher_and_topic = None


def _publisher():  # type: ignore[no-untyped-def]
    """The client and the topic's path, made on the first request (as the product does: not per request)."""
    global _publisher_and_topic
    if _publisher_and_topic is None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        client = pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.005),
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
        _publisher_and_topic = client, client.topic_path(os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["SYNC_TOPIC"])
    return _publisher_and_topic


def _key(body: bytes) -> str:
    data = json.loads(body)
    return f"{data['account_id']}/{data['user_id']}/{data['event']['id']}"


@functions_framework.http
def bare(request):  # type: ignore[no-untyped-def]
    request.get_data()
    return '{"status":"accepted"}', 202, {"Content-Type": "application/json"}


@functions_framework.http
def publish_only(request):  # type: ignore[no-untyped-def]
    from google.pubsub_v1.services.publisher import PublisherClient as GapicPublisherClient

    from sync.adapters.pubsub import publish_request  # the request built as the product builds it

    client, topic = _publisher()
    body = request.get_data()
    GapicPublisherClient.publish(client, request=publish_request(topic, body, _key(body), {}), timeout=10)
    return '{"status":"accepted"}', 202, {"Content-Type": "application/json"}


@functions_framework.http
def publish_batching(request):  # type: ignore[no-untyped-def]
    client, topic = _publisher()
    body = request.get_data()
    client.publish(topic, body, ordering_key=_key(body)).result(timeout=10)
    return '{"status":"accepted"}', 202, {"Content-Type": "application/json"}
