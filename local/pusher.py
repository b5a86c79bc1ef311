"""Pub/Sub push, as the cloud does it, on top of the emulator's pull (which, unlike the
emulator's push, honours ordering keys and dead-letter policies).

Pulls from a pull subscription and POSTs each message to an endpoint in the push envelope
format, ``orderingKey`` and ``deliveryAttempt`` included; 2xx acks, anything else (or no
answer within ``timeout``) nacks, so the subscription's delivery attempts and dead-lettering
apply. One request at a time per ordering key, as the cloud's ordered subscriptions deliver
(the pull subscription is unordered, see ``create_subscription``): a message whose key is busy
waits, its lease renewed. Used by the chaos suite and by the local stack for notifications.

Only unary calls (``pull`` with ``return_immediately``, ``acknowledge``,
``modify_ack_deadline``), never the client library's streaming pull: the emulator (0.8.20)
bundles a gRPC-java server core (1.68.1) calling ``InternalStatus.asRuntimeException(Status,
Metadata, boolean)`` that its bundled ``io.grpc.InternalStatus`` lacks, so every call a client
resets (RST_STREAM: a stream cancelled, a deadline missed) ends in ``NoSuchMethodError`` in
``onRstStreamRead`` *before* the server's listener hears of it. A reset StreamingPull stays
registered as a live stream and keeps being handed messages, which then come back only when
their lease ends, and are handed to it again (tests/integration/test_pusher.py shows it). A
unary pull with ``return_immediately`` is answered at once, well within its deadline: no call
is left for the emulator to lose, and a message it hands out comes back when its lease ends.

The retry policy is applied here, exactly: a failed delivery is nacked with
``modify_ack_deadline(backoff)``, ``backoff = min(max_backoff, min_backoff * 2 ** (attempt - 1))``,
and the emulator hands the message out again when that lease ends. (The emulator's own
``retry_policy`` redelivers the first nack at once and does not grow the delay exponentially,
so subscriptions made by ``create_subscription`` carry none.) Dead-lettering is the emulator's:
once a message has had the dead-letter policy's ``max_delivery_attempts``, the emulator forwards
it to the dead-letter topic instead of handing it out again.

Every delivery is kept in a bounded ledger (``history``) so a test can say, for a change that
did not land, whether the queue still holds it or the endpoint acknowledged it.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections import Counter, OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_transient_error
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

PULL_TIMEOUT = 10.0  # seconds; a pull with return_immediately is answered in milliseconds
# Acknowledge and modify_ack_deadline retry a transient error for a few seconds, not the client's
# default minute: an emulator gone (stopped, or SIGKILLed by a second Ctrl-C) must not hold stop()
# a minute per delivery in flight; a call that still fails is counted, and the message comes back
# when its lease ends.
ACK_RETRY = Retry(predicate=if_transient_error, initial=0.1, maximum=1.0, multiplier=2.0, timeout=3.0)
IDLE_WAITS = (0.02, 0.25)  # seconds between empty pulls: from, doubling up to
LEASE_MARGIN = 10  # seconds a lease outlives the delivery's HTTP timeout
LEDGER_SIZE = 20_000  # deliveries remembered (oldest settled ones are forgotten first)


def _order(message_id: str) -> tuple[int, str]:
    """The emulator's message ids count up; order by them among messages published together."""
    return (int(message_id), "") if message_id.isdigit() else (0, message_id)


def create_subscription(project: str, topic: str, name: str, dead_letter_topic: str | None,
                        max_delivery_attempts: int = 5, ordered: bool = False) -> str:
    """A pull subscription for the pusher. Unordered by default: the emulator never forwards dead
    letters from an ordered subscription (it just stops delivering the key), and the service's
    correctness does not rest on ordering. No retry policy: the pusher applies it (see above)."""
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, name)
    request: dict[str, Any] = {"name": path, "topic": f"projects/{project}/topics/{topic}",
                               "enable_message_ordering": ordered, "ack_deadline_seconds": 30}
    if dead_letter_topic:
        request["dead_letter_policy"] = {"dead_letter_topic": f"projects/{project}/topics/{dead_letter_topic}",
                                         "max_delivery_attempts": max_delivery_attempts}
    subscriber.create_subscription(request=request)
    subscriber.close()
    return path


@dataclass
class Delivery:
    """One message as the pusher saw it: every attempt's answer, and where it stands now."""

    message_id: str
    data: bytes
    attributes: dict[str, str]
    ordering_key: str
    answers: list[tuple[int, str]] = field(default_factory=list)  # (delivery attempt, status or error)
    state: str = "in_flight"  # in_flight · queued (to be delivered again) · acked · dead_lettered

    @property
    def settled(self) -> bool:
        return self.state in ("acked", "dead_lettered")


class Pusher:
    """Pushes ``subscription_path``'s messages to ``endpoint``: ``concurrency`` requests at most,
    and one at a time per ordering key, as the cloud's ordered subscriptions do (the pull
    subscription itself is unordered; see ``create_subscription``). Up to ``max_outstanding``
    messages are held (leases renewed) while their key is busy or every request slot is taken."""

    def __init__(self, subscription_path: str, endpoint: str, timeout: float = 30.0, concurrency: int = 16,
                 min_backoff: float = 1.0, max_backoff: float = 8.0, max_outstanding: int | None = None) -> None:
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.path = subscription_path
        self.endpoint = endpoint
        self.timeout = timeout
        self.concurrency = concurrency
        self.max_outstanding = max_outstanding or 4 * concurrency
        self.lease = math.ceil(timeout) + LEASE_MARGIN
        self.subscriber = pubsub_v1.SubscriberClient()
        self.http = threading.local()
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.max_attempts: int | None = None  # from the subscription's dead-letter policy
        self._ledger: OrderedDict[str, Delivery] = OrderedDict()
        self._leases: dict[str, float] = {}  # ack id → when its lease ends (monotonic), until settled
        self._held: dict[str, deque[Any]] = {}  # ordering key → messages waiting for it (its key busy)
        self._posting = 0
        self._room = threading.Condition(self.lock)  # notified when a message is settled
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Pusher:
        policy = self.subscriber.get_subscription(request={"subscription": self.path}).dead_letter_policy
        self.max_attempts = (policy.max_delivery_attempts or 5) if policy.dead_letter_topic else None  # 5: the default
        name = self.path.rsplit("/", 1)[-1]
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"push-{name}")
        self._thread = threading.Thread(target=self._run, name=f"pull-{name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pulling, let the deliveries in flight and held finish (each bounded by
        ``timeout``) and settle them, then close the client. Messages not pulled yet stay in the
        subscription."""
        self._stopping.set()
        with self._room:
            self._room.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=PULL_TIMEOUT + 5)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.subscriber.close()

    # -- what happened ---------------------------------------------------------------------
    def history(self) -> list[Delivery]:
        """Every delivery remembered, oldest first (copies: safe to read while pushing)."""
        with self.lock:
            return [Delivery(d.message_id, d.data, dict(d.attributes), d.ordering_key, list(d.answers), d.state)
                    for d in self._ledger.values()]

    def in_flight(self) -> int:
        """How many requests to the endpoint are under way right now."""
        with self.lock:
            return self._posting

    # -- the pull loop ---------------------------------------------------------------------
    def _run(self) -> None:
        idle = IDLE_WAITS[0]
        while not self._stopping.is_set():
            self._renew_leases()
            with self._room:
                free = self.max_outstanding - len(self._leases)
                if free <= 0:  # wait for a message to be settled (or for stop, or a lease to renew)
                    self._room.wait(timeout=0.5)
                    continue
            try:
                received = self.subscriber.pull(
                    request={"subscription": self.path, "max_messages": free, "return_immediately": True},
                    timeout=PULL_TIMEOUT, retry=None).received_messages
            except gexc.GoogleAPIError as exc:
                received = []
                with self.lock:
                    self.stats[f"pull_error:{type(exc).__name__}"] += 1
            if received:
                self._take(received)
                idle = IDLE_WAITS[0]
            else:
                self._stopping.wait(idle)
                idle = min(IDLE_WAITS[1], idle * 2)

    def _take(self, received: Any) -> None:
        now = time.monotonic()
        self._modack([r.ack_id for r in received], self.lease)  # the push request's time, not the default
        start = []
        with self.lock:
            for r in sorted(received, key=lambda r: (r.message.publish_time, _order(r.message.message_id))):
                self._leases[r.ack_id] = now + self.lease
                key = r.message.ordering_key
                if key and key in self._held:  # its key is busy: wait for it, in publish order
                    self._held[key].append(r)
                    continue
                if key:
                    self._held[key] = deque()
                start.append(r)
        assert self._pool is not None
        for r in start:
            self._pool.submit(self._deliver, r)

    def _settled(self, received: Any) -> Any:
        """``received`` is acked or nacked: free its lease, and hand its key to the next message."""
        with self._room:
            self._leases.pop(received.ack_id, None)
            self._room.notify_all()
            key = received.message.ordering_key
            if not key:
                return None
            waiting = self._held.get(key)
            if waiting and not self._stopping.is_set():
                return waiting.popleft()
            self._held.pop(key, None)
            left = list(waiting or ())
            for r in left:  # stopping: what waited goes back to the subscription at once
                self._leases.pop(r.ack_id, None)
        if left:
            self._modack([r.ack_id for r in left], 0)
        return None

    def _renew_leases(self) -> None:
        now = time.monotonic()
        with self.lock:
            due = [ack_id for ack_id, until in self._leases.items() if until - now < LEASE_MARGIN / 2]
            for ack_id in due:
                self._leases[ack_id] = now + self.lease
        if due:
            self._modack(due, self.lease)

    def _modack(self, ack_ids: list[str], seconds: int) -> bool:
        try:
            self.subscriber.modify_ack_deadline(
                request={"subscription": self.path, "ack_ids": ack_ids, "ack_deadline_seconds": seconds},
                timeout=PULL_TIMEOUT, retry=ACK_RETRY)
            return True
        except gexc.GoogleAPIError as exc:  # the lease then ends on its own: the message comes back
            with self.lock:
                self.stats[f"modack_error:{type(exc).__name__}"] += 1
            return False

    # -- one delivery ----------------------------------------------------------------------
    def backoff(self, attempt: int) -> int:
        """The retry policy's delay after a failed ``attempt`` (whole seconds: a lease's unit)."""
        return max(1, math.ceil(min(self.max_backoff, self.min_backoff * 2 ** (attempt - 1))))

    def _session(self) -> requests.Session:
        if not hasattr(self.http, "session"):
            self.http.session = requests.Session()
        return self.http.session  # type: ignore[no-any-return]

    def _deliver(self, received: Any) -> None:
        while received is not None:  # then the next message of its ordering key, if one waits
            try:
                self._push(received)
            except Exception as exc:  # noqa: BLE001 - a pusher defect: counted and shown in the ledger
                with self.lock:
                    self.stats[f"push_error:{type(exc).__name__}"] += 1
                    entry = self._ledger.get(received.message.message_id)
                    if entry is not None:
                        entry.answers.append((int(received.delivery_attempt or 1), f"pusher {type(exc).__name__}"))
                        entry.state = "queued"  # its lease ends and it comes back
            received = self._settled(received)

    def _push(self, received: Any) -> None:
        message = received.message
        with self.lock:
            entry = self._ledger.get(message.message_id)
            if entry is None:
                entry = Delivery(message.message_id, bytes(message.data), dict(message.attributes),
                                 message.ordering_key)
                self._remember(entry)
            entry.state = "in_flight"
            # Pub/Sub counts attempts only under a dead-letter policy; without one, count them here
            # (for the backoff; the envelope then has no deliveryAttempt, as in the cloud).
            attempt = int(received.delivery_attempt or len(entry.answers) + 1)
        envelope: dict[str, Any] = {
            "message": {"data": base64.b64encode(message.data).decode(), "attributes": dict(message.attributes),
                        "messageId": message.message_id, "publishTime": message.publish_time.rfc3339(),
                        "orderingKey": message.ordering_key},
            "subscription": self.path,
        }
        if self.max_attempts is not None:
            envelope["deliveryAttempt"] = attempt
        with self.lock:
            self._posting += 1
        try:
            status = self._session().post(self.endpoint, json=envelope, timeout=self.timeout).status_code
            answer, ok = str(status), status < 300
        except requests.RequestException as exc:
            answer, ok = type(exc).__name__, False
        finally:
            with self.lock:
                self._posting -= 1
        with self.lock:
            entry.answers.append((attempt, answer))
            self.stats["ack" if ok else "nack"] += 1
        if ok:
            try:
                self.subscriber.acknowledge(request={"subscription": self.path, "ack_ids": [received.ack_id]},
                                            timeout=PULL_TIMEOUT, retry=ACK_RETRY)
                state = "acked"
            except gexc.GoogleAPIError as exc:  # it comes back when its lease ends, and is pushed again
                state = "queued"
                with self.lock:
                    self.stats[f"ack_error:{type(exc).__name__}"] += 1
        else:
            self._modack([received.ack_id], self.backoff(attempt))  # the retry policy, then redelivery
            state = "dead_lettered" if self.max_attempts and attempt >= self.max_attempts else "queued"
        with self.lock:
            entry.state = state

    def _remember(self, entry: Delivery) -> None:
        """Called with the lock held."""
        self._ledger[entry.message_id] = entry
        while len(self._ledger) > LEDGER_SIZE:
            oldest = next((k for k, d in self._ledger.items() if d.settled), None)
            self._ledger.pop(oldest if oldest is not None else next(iter(self._ledger)))
