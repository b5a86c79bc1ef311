"""The Pub/Sub adapter against the real emulator: ordering keys, attributes, failures."""

import time
import uuid

import pytest
from google.cloud import pubsub_v1

from sync.adapters.pubsub import PubSubPublisher
from sync.kernel.errors import PublishFailed

pytestmark = pytest.mark.integration
PROJECT = "local-project"


def create_topic(name):
    """Topic ``name`` and its ordered subscription ``name-sub``."""
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher.create_topic(name=publisher.topic_path(PROJECT, name))
    subscriber.create_subscription(request={
        "name": subscriber.subscription_path(PROJECT, name + "-sub"), "topic": publisher.topic_path(PROJECT, name),
        "enable_message_ordering": True})
    subscriber.close()


@pytest.fixture
def topic(emulator_hosts):
    name = "it-" + uuid.uuid4().hex[:8]
    create_topic(name)
    return name


def pull_all(sub_name, expected, timeout=20):
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(PROJECT, sub_name)
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        response = subscriber.pull(request={"subscription": path, "max_messages": 100}, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(request={"subscription": path,
                                            "ack_ids": [m.ack_id for m in response.received_messages]})
        got += [m.message for m in response.received_messages]
    subscriber.close()
    return got


def test_publish_confirms_and_carries_ordering_key_and_attributes(topic):
    publisher = PubSubPublisher(PROJECT, topic)
    message_id = publisher.publish(b'{"x":1}', "acct/u/ev-1", {"webhook_id": "msg_1", "event_id": "ev-1"})
    assert message_id
    [msg] = pull_all(topic + "-sub", 1)
    assert msg.data == b'{"x":1}' and msg.ordering_key == "acct/u/ev-1"
    assert dict(msg.attributes) == {"webhook_id": "msg_1", "event_id": "ev-1"}
    assert msg.message_id == message_id


def test_a_message_the_protobuf_refuses_fails_the_publish_and_sends_nothing(topic):
    """Text that is no UTF-8 (a lone surrogate) in the key or an attribute: PublishFailed, as a
    refused publish, and nothing reaches the topic; the next message goes through."""
    publisher = PubSubPublisher(PROJECT, topic)
    for key, attributes in (("acct/u/\ud800", {}), ("acct/u/ev-1", {"event_id": "\udfff"})):
        with pytest.raises(PublishFailed, match="UnicodeEncodeError"):
            publisher.publish(b"refused", key, attributes)
    publisher.publish(b"sent", "acct/u/ev-1", {"event_id": "ev-1"})
    assert [m.data for m in pull_all(topic + "-sub", 1)] == [b"sent"]


def test_messages_of_one_key_arrive_in_publish_order(topic):
    publisher = PubSubPublisher(PROJECT, topic)
    for i in range(30):
        publisher.publish(str(i).encode(), "acct/u/ev-order", {})
    got = pull_all(topic + "-sub", 30)
    assert [int(m.data) for m in got] == list(range(30))


def test_unconfirmed_publish_raises_and_leaves_the_key_usable(emulator_hosts):
    # A topic that does not exist: the emulator refuses, nothing is confirmed.
    publisher = PubSubPublisher(PROJECT, "no-such-topic-" + uuid.uuid4().hex[:6], timeout=3)
    with pytest.raises(PublishFailed):
        publisher.publish(b"x", "acct/u/ev", {})
    with pytest.raises(PublishFailed):  # refused again, not wedged on a paused key
        publisher.publish(b"x", "acct/u/ev", {})


def test_unreachable_pubsub_fails_within_the_timeout(monkeypatch, emulator_hosts):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens on the discard port
    publisher = PubSubPublisher(PROJECT, "calendar-sync", timeout=2)
    with pytest.raises(PublishFailed):  # the webhook answers 503 and the sender retries
        publisher.publish(b"x", "acct/u/ev", {})
    with pytest.raises(PublishFailed):
        publisher.publish(b"y", "acct/u/ev", {})


def test_a_refused_batch_leaves_its_keys_usable(emulator_hosts):
    # The batcher pauses a key whose batch failed; once the topic exists, the same keys publish again.
    name = "late-" + uuid.uuid4().hex[:8]
    publisher = PubSubPublisher(PROJECT, name, timeout=3)
    batch = [(b"x", "acct/u/ev", {}), (b"y", "acct/u/ev-2", {})]
    with pytest.raises(PublishFailed):
        publisher.publish_many(batch)
    create_topic(name)
    assert publisher.publish_many(batch) == 2
    assert sorted(m.data for m in pull_all(name + "-sub", 2)) == [b"x", b"y"]


def test_many_threads_publishing_at_once_are_each_confirmed(topic):
    from concurrent.futures import ThreadPoolExecutor

    publisher = PubSubPublisher(PROJECT, topic)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: publisher.publish(str(i).encode(), f"acct/u/ev-{i % 5}", {"n": str(i)}),
                            range(40)))
    assert len(set(ids)) == 40
    got = pull_all(topic + "-sub", 40)
    assert sorted(int(m.data) for m in got) == list(range(40))
    assert {m.message_id for m in got} == set(ids)
    assert all(m.attributes["n"] == m.data.decode() and m.ordering_key == f"acct/u/ev-{int(m.data) % 5}"
               for m in got)


def test_a_key_the_batcher_paused_is_refused_as_publish_failed_then_resumed(emulator_hosts):
    # A batch of the key failed outside publish_many (the topic did not exist yet): the batcher
    # paused the key, and refuses it in the future it returns. publish_many says PublishFailed (the
    # caller's retry) and resumes the key, so the next try goes through.
    name = "paused-" + uuid.uuid4().hex[:8]
    publisher = PubSubPublisher(PROJECT, name, timeout=3)
    assert publisher.client.publish(publisher.topic_path, b"lost", ordering_key="acct/u/~drift").exception(timeout=10)
    create_topic(name)
    with pytest.raises(PublishFailed, match="PublishToPausedOrderingKeyException"):
        publisher.publish_many([(b"x", "acct/u/~drift", {})])
    assert publisher.publish_many([(b"x", "acct/u/~drift", {})]) == 1
