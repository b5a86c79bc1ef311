"""local.pusher against the Pub/Sub emulator alone: push envelopes, nacks that always come back,
the retry policy between attempts, dead-lettering after the policy's attempts, a clean stop.

The first test is the regression test of the chaos stall (a nacked change never delivered again,
a poison message never dead-lettered). The emulator (pubsub-emulator 0.8.20, Cloud SDK 528.0.0)
loses track of any call a client resets: ``onRstStreamRead`` → ``ServerImpl$JumpToApplication
ThreadServerStreamListener.closedInternal`` → ``java.lang.NoSuchMethodError: InternalStatus.
asRuntimeException(Status, Metadata, boolean)`` (its gRPC-java 1.68.1 core calls a method its
bundled ``io.grpc`` API lacks), thrown before the listener is told. A StreamingPull that a
client cancelled therefore stays registered and keeps being handed messages: they come back
only when their 60 s stream lease ends, and are then handed to it again. The old pusher drove the
emulator with the client library's streaming pull, and stopping it (or any reset) left such a
stream behind; run once against it, this test failed: of the five messages published after a
restart, one reached the endpoint within 30 s, and its nack never came back. The pusher now uses only unary calls
(``pull`` with ``return_immediately``, ``acknowledge``, ``modify_ack_deadline``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.cloud import pubsub_v1

from local.pusher import Pusher, create_subscription

pytestmark = pytest.mark.integration
PROJECT = "local-project"


class Endpoint:
    """A push endpoint on 127.0.0.1 answering what ``answer(envelope)`` says, recording each push."""

    def __init__(self) -> None:
        self.pushes: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.answer: Any = lambda envelope: 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    endpoint.pushes.append((time.monotonic(), envelope))
                status = endpoint.answer(envelope)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def attempts(self) -> dict[bytes, list[int]]:
        """Message data → the delivery attempts pushed, in order."""
        out: dict[bytes, list[int]] = {}
        with self.lock:
            for _, envelope in self.pushes:
                out.setdefault(base64.b64decode(envelope["message"]["data"]), []).append(envelope["deliveryAttempt"])
        return out

    def wait(self, check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        assert check(), f"{what} within {timeout} s; pushes so far: {self.attempts()}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.stop()


@pytest.fixture
def topic(emulator_hosts):
    name = "push-" + uuid.uuid4().hex[:8]
    publisher = pubsub_v1.PublisherClient(
        publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
    for t in (name, name + "-dead"):
        publisher.create_topic(name=publisher.topic_path(PROJECT, t))

    def publish(data: bytes, key: str = "", **attributes: str) -> str:
        return str(publisher.publish(publisher.topic_path(PROJECT, name), data, ordering_key=key,
                                     **attributes).result(timeout=30))

    yield name, publish
    publisher.stop()


def test_every_message_reaches_a_restarted_pusher_and_every_nack_comes_back(topic, endpoint):
    name, publish = topic
    path = create_subscription(PROJECT, name, name + "-pull", name + "-dead", 5)
    endpoint.answer = lambda envelope: 503 if envelope["deliveryAttempt"] == 1 and \
        base64.b64decode(envelope["message"]["data"]) != b"first" else 200
    first = Pusher(path, endpoint.url, timeout=5, min_backoff=0.2, max_backoff=1).start()
    try:
        publish(b"first")
        endpoint.wait(lambda: b"first" in endpoint.attempts(), 30, "the first message pushed")
    finally:
        first.stop()
    pusher = Pusher(path, endpoint.url, timeout=5, min_backoff=0.2, max_backoff=1).start()
    try:
        ids = {f"m{i}".encode(): publish(f"m{i}".encode(), f"acct/user/ev-{i % 2}", webhook_id=f"wh-{i}")
               for i in range(5)}
        endpoint.wait(lambda: all(endpoint.attempts().get(m) == [1, 2] for m in ids), 30,
                      "each message nacked once, then pushed again and acked")
    finally:
        pusher.stop()
    assert endpoint.attempts() == {b"first": [1], **{m: [1, 2] for m in ids}}  # nothing pushed twice after its ack
    for _, envelope in endpoint.pushes[1:]:
        message = envelope["message"]
        data = base64.b64decode(message["data"])
        assert message["messageId"] == ids[data]
        assert message["orderingKey"] == f"acct/user/ev-{int(data[1:]) % 2}"
        assert message["attributes"] == {"webhook_id": f"wh-{int(data[1:])}"}
        assert envelope["subscription"] == path
        assert datetime.fromisoformat(message["publishTime"].replace("Z", "+00:00")).tzinfo is not None


def test_a_message_failing_every_attempt_is_dead_lettered_after_the_policy_s_attempts(topic, endpoint):
    name, publish = topic
    subscriber = pubsub_v1.SubscriberClient()
    inspect = subscriber.subscription_path(PROJECT, name + "-dead-inspect")
    subscriber.create_subscription(request={"name": inspect, "topic": f"projects/{PROJECT}/topics/{name}-dead"})
    path = create_subscription(PROJECT, name, name + "-pull", name + "-dead", 5)
    endpoint.answer = lambda envelope: 400
    pusher = Pusher(path, endpoint.url, timeout=5, min_backoff=0.5, max_backoff=1).start()
    try:
        message_id = publish(b"poison", "acct/user/poison")
        endpoint.wait(lambda: endpoint.attempts().get(b"poison") == [1, 2, 3, 4, 5], 60, "five attempts")
        dead: list[Any] = []
        deadline = time.monotonic() + 30
        while not dead and time.monotonic() < deadline:
            dead = list(subscriber.pull(request={"subscription": inspect, "max_messages": 10,
                                                 "return_immediately": True}, timeout=10).received_messages)
            time.sleep(0.1)
        assert [m.message.data for m in dead] == [b"poison"]
        assert dead[0].message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
        time.sleep(2)  # longer than any backoff: a sixth attempt would have come by now
        assert endpoint.attempts()[b"poison"] == [1, 2, 3, 4, 5]
        [entry] = [d for d in pusher.history() if d.message_id == message_id]
        assert entry.state == "dead_lettered" and entry.answers == [(n, "400") for n in range(1, 6)]
    finally:
        pusher.stop()
        subscriber.close()
    # The retry policy between attempts: at least min_backoff * 2 ** (n - 1), capped (in whole seconds).
    times = [t for t, e in endpoint.pushes]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= pusher.backoff(n) for n, gap in enumerate(gaps, start=1)), gaps


def test_stop_lets_the_delivery_in_flight_finish_and_acks_it(topic, endpoint):
    name, publish = topic
    path = create_subscription(PROJECT, name, name + "-pull", None)
    started = threading.Event()

    def slow(envelope: dict[str, Any]) -> int:
        started.set()
        time.sleep(1)
        return 204

    endpoint.answer = slow
    pusher = Pusher(path, endpoint.url, timeout=5).start()
    message_id = publish(b"slow")
    assert started.wait(30), "never pushed"
    pusher.stop()
    assert [(d.message_id, d.state) for d in pusher.history()] == [(message_id, "acked")]
    assert "deliveryAttempt" not in endpoint.pushes[0][1]  # counted by Pub/Sub only under a dead-letter policy
    assert not [t for t in threading.enumerate() if name + "-pull" in t.name], "pusher threads left"
    subscriber = pubsub_v1.SubscriberClient()
    try:
        left = subscriber.pull(request={"subscription": path, "max_messages": 10, "return_immediately": True},
                               timeout=10).received_messages
    finally:
        subscriber.close()
    assert not left


def test_one_request_at_a_time_per_ordering_key_and_concurrently_across_keys(topic, endpoint):
    """As the cloud's ordered subscriptions deliver: the pull subscription is unordered, the pusher
    keeps each key's messages one at a time (and every key flowing)."""
    name, publish = topic
    path = create_subscription(PROJECT, name, name + "-pull", name + "-dead", 5)
    busy: dict[str, int] = {}
    most = {"per key": 0, "overall": 0}
    lock = threading.Lock()

    def answer(envelope: dict[str, Any]) -> int:
        key = envelope["message"]["orderingKey"]
        with lock:
            busy[key] = busy.get(key, 0) + 1
            most["per key"] = max(most["per key"], busy[key])
            most["overall"] = max(most["overall"], sum(busy.values()))
        time.sleep(0.2)
        with lock:
            busy[key] -= 1
        nacked_once = int(base64.b64decode(envelope["message"]["data"])[1:]) % 3 == 0
        return 503 if nacked_once and envelope["deliveryAttempt"] == 1 else 200

    endpoint.answer = answer
    for i in range(24):
        publish(f"m{i:02d}".encode(), f"acct/user/ev-{i % 4}")
    pusher = Pusher(path, endpoint.url, timeout=5, concurrency=8, min_backoff=0.2, max_backoff=1).start()
    try:
        endpoint.wait(lambda: sum(d.state == "acked" for d in pusher.history()) == 24, 60, "all 24 acked")
    finally:
        pusher.stop()
    assert [len(a) for m, a in sorted(endpoint.attempts().items())] == [2 if i % 3 == 0 else 1 for i in range(24)]
    assert most["per key"] == 1, most
    assert most["overall"] > 1, most  # the four keys did flow side by side
