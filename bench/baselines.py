"""Baselines for the ingest benchmark, served by functions-framework like the real thing.

``bare``: returns 202 and does nothing else. ``publish_only``: publishes the same body with the
same ordering key through the same kind of client and waits for the confirmation; no signature,
no validation. The real handle_webhook is measured against both.
"""

import json
import os

import functions_framework

_publisher = None
_topic = None


@functions_framework.http
def bare(request):  # type: ignore[no-untyped-def]
    request.get_data()
    return '{"status":"accepted"}', 202, {"Content-Type": "application/json"}


@functions_framework.http
def publish_only(request):  # type: ignore[no-untyped-def]
    global _publisher, _topic
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    if _publisher is None:
        _publisher = pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.005),
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
        _topic = _publisher.topic_path(os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["SYNC_TOPIC"])
    body = request.get_data()
    data = json.loads(body)
    key = f"{data['account_id']}/{data['user_id']}/{data['event']['id']}"
    _publisher.publish(_topic, body, ordering_key=key).result(timeout=10)
    return '{"status":"accepted"}', 202, {"Content-Type": "application/json"}
