"""Usage-limit retries on the real Firestore emulator (docs/errors-and-limits.md#usage-limits): the park
transaction sets the status with its retry and stages one connection.usage_limited; the due query
(a single-field range, no composite index) finds it; two maintenance runs at once try it once; a
reconnect drops the retry; a resume stages connection.resumed with the status change."""

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from sync.adapters.firestore.connections import FirestoreConnections
from sync.adapters.firestore.limits import FirestoreUsageLimits
from sync.adapters.firestore.mappings import FirestoreMappings
from sync.adapters.firestore.outbox import FirestoreOutbox
from sync.apply.service import SyncService
from sync.kernel import notification as notes
from sync.kernel.errors import Retryable
from sync.kernel.model import ConnectionStatus
from sync.kernel.payload import parse_change
from sync.limits.retry import UsageRetry
from tests.fakes import FakeCalendar, FakePublisher, active_connection
from tests.helpers import connect, payload

pytestmark = pytest.mark.integration
U, CAL, FIRST = "u-42", "cal@example.com", 900.0


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self):
        return self.now


class World:
    def __init__(self, db):
        self.db, self.clock = db, Clock()
        self.notifications, self.live = FakePublisher(), FakePublisher()
        outbox = FirestoreOutbox(db, lambda: self.notifications, enabled=True)
        self.store = FirestoreMappings(db, outbox)
        self.connections = FirestoreConnections(db, outbox)
        self.limits = FirestoreUsageLimits(db, outbox)
        self.account = "lim-" + uuid.uuid4().hex[:8]
        connect(db, active_connection(account_id=self.account, calendar_id=CAL), outbox)
        self.notifications.messages.clear()  # the connection.activated of the set-up
        self.calendar = FakeCalendar()
        self.service = SyncService(self.store, self.calendar, lease_seconds=30, clock=self.clock,
                                   usage_first_pause=FIRST)
        self.retry = self.new_retry()

    def new_retry(self):
        return UsageRetry(self.limits, self.store, lambda: self.service, self.live, first_pause=FIRST,
                          clock=self.clock)

    def apply(self, updated, event_id="ev-1", kind="event.created"):
        return self.service.apply(parse_change(payload(kind, account_id=self.account, event_id=event_id,
                                                       updated=updated), f"wh-{event_id}-{updated}"))

    def doc(self):
        return self.store.connection_ref(self.account, U).get().to_dict()

    def published(self, type_):
        return [m for m in (json.loads(d) for d, _, _ in self.notifications.messages) if m["type"] == type_]


@pytest.fixture
def world(emulator_hosts):
    return World(firestore.Client(project="local-project"))


def test_the_park_sets_the_status_and_its_retry_in_one_transaction(world):
    world.calendar.usage_limited = True
    assert world.apply(1).name == "parked_usage_limited"
    assert world.apply(2, "ev-2").name == "park"
    doc = world.doc()
    assert doc["status"] == "usage_limited" and doc["usage_retry_step"] == 0
    retry_at = world.clock.now + timedelta(seconds=FIRST)
    assert doc["usage_retry_at"] == retry_at
    [limited] = world.published(notes.USAGE_LIMITED)
    assert limited["data"]["retry_at"] == notes.rfc3339(retry_at)
    conn = world.store.get_connection(world.account, U)
    assert (conn.status, conn.retry_at) == (ConnectionStatus.USAGE_LIMITED, retry_at)
    assert (world.account, U) not in world.limits.due(retry_at - timedelta(seconds=1), 1000)
    assert (world.account, U) in world.limits.due(retry_at, 1000)


def test_two_runs_at_once_try_once_and_the_retry_moves_out(world):
    world.calendar.usage_limited = True
    world.apply(1)
    world.clock.now = world.doc()["usage_retry_at"]
    writes = len(world.calendar.calls)
    verdicts = []
    runs = [world.new_retry() for _ in range(2)]
    threads = [threading.Thread(target=lambda r=r: verdicts.append(r.try_calendar(world.account, U)))
               for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(map(str, verdicts)) == ["None", "limited"]
    assert len(world.calendar.calls) == writes + 1  # one try reached Calendar
    doc = world.doc()
    assert doc["usage_retry_step"] == 1 and "usage_retry_lease" not in doc
    assert doc["usage_retry_at"] == world.clock.now + timedelta(seconds=2 * FIRST)
    assert len(world.published(notes.USAGE_LIMITED)) == 1


def test_a_reconnect_drops_the_retry_and_a_try_in_flight_changes_nothing(world):
    world.calendar.usage_limited = True
    world.apply(1)
    world.clock.now = world.doc()["usage_retry_at"]
    lease = "run-1"
    assert world.limits.begin_try(world.account, U, lease, world.clock.now, world.clock.now + timedelta(seconds=60))
    world.connections.activate(world.account, U, CAL, "local_tokens/new", "user@example.com")
    doc = world.doc()
    assert doc["status"] == "active" and not {"usage_retry_at", "usage_retry_lease"} & set(doc)
    assert not world.limits.resume(world.account, U, lease, notes.resumed(world.account, U, CAL, (lease,)))
    assert world.published(notes.RESUMED) == []
    assert (world.account, U) not in world.limits.due(world.clock.now, 1000)


def test_a_resume_makes_it_active_with_one_connection_resumed_and_sends_the_parked_changes(world):
    world.calendar.usage_limited = True
    world.apply(1)
    world.apply(2, "ev-2")
    world.apply(3, "ev-3")
    world.calendar.usage_limited = False
    world.clock.now = world.doc()["usage_retry_at"]
    # (the emulator is shared by the session: other tests' connections may be due too)
    assert (world.account, U) in world.limits.due(world.clock.now, 1000)
    assert world.retry.try_calendar(world.account, U) == "resumed"
    doc = world.doc()
    assert doc["status"] == "active" and not {"usage_retry_at", "usage_retry_step"} & set(doc)
    [resumed] = world.published(notes.RESUMED)
    assert resumed["data"] == {"account_id": world.account, "user_id": U, "calendar_id": CAL}
    assert [key.rsplit("/", 1)[1] for _, key, _ in world.live.messages] == ["ev-2", "ev-3"]
    assert (world.account, U) not in world.limits.due(world.clock.now, 1000)
    assert world.retry.try_calendar(world.account, U) is None


def test_a_hand_back_that_failed_is_done_by_the_next_run(world):
    world.calendar.usage_limited = True
    world.apply(1)
    world.apply(2, "ev-2")
    world.calendar.usage_limited = False
    world.clock.now = world.doc()["usage_retry_at"]
    world.live.fail = True
    with pytest.raises(Retryable):
        world.retry.try_calendar(world.account, U)
    doc = world.doc()
    assert doc["status"] == "active" and doc["usage_resuming"] is True  # announced, not yet handed back
    assert len(world.published(notes.RESUMED)) == 1
    world.live.fail = False
    world.clock.now += timedelta(seconds=121)  # past the failed run's lease
    assert (world.account, U) in world.limits.due(world.clock.now, 1000)
    assert world.retry.try_calendar(world.account, U) == "resumed"
    assert [key.rsplit("/", 1)[1] for _, key, _ in world.live.messages] == ["ev-2"]
    assert not {"usage_retry_at", "usage_resuming", "usage_retry_lease"} & set(world.doc())
    assert len(world.published(notes.RESUMED)) == 1
