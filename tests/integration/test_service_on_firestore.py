"""The worker's core on the real Firestore emulator: concurrent deliveries of one event."""

import random
import threading
import time
import uuid

import pytest
from google.cloud import firestore

from sync.adapters.firestore.mappings import FirestoreMappings
from sync.apply.service import SyncService
from sync.kernel.errors import Retryable
from sync.kernel.model import google_event_id
from sync.kernel.payload import parse_change
from tests.fakes import FakeCalendar, active_connection
from tests.helpers import connect, payload

pytestmark = pytest.mark.integration


class SlowCalendar(FakeCalendar):
    """Widens the window between the claim and the record, where a race would bite."""

    def insert(self, calendar_id, body, **kw):
        time.sleep(0.05)
        super().insert(calendar_id, body, **kw)

    def update(self, calendar_id, event_id, body, if_match=None, **kw):
        time.sleep(0.05)
        return super().update(calendar_id, event_id, body, if_match, **kw)


def deliver_until_acknowledged(service, change, deadline):
    """Deliver until acknowledged, each redelivery after a growing, jittered backoff, as Pub/Sub's
    retry policy spaces them. A fixed 0.1 s sent the contenders back in step: the emulator has no
    wound-wait (Firestore lets the oldest transaction through), so their transactions deadlocked
    again until its lock timeout, every time, for the whole 120 s on a loaded CI machine."""
    rng, backoff = random.Random(), 0.1
    while time.monotonic() < deadline:
        try:
            if service.apply(change).acknowledge:
                return
        except Retryable:
            pass
        time.sleep(rng.uniform(0, backoff))
        backoff = min(backoff * 2, 2.0)
    raise AssertionError("not acknowledged before the deadline")


@pytest.mark.parametrize("seed", [1, 2])
def test_concurrent_out_of_order_deliveries_end_on_the_newest_version(emulator_hosts, seed):
    store = FirestoreMappings(firestore.Client(project="local-project"))
    account = "race-" + uuid.uuid4().hex[:6]
    connect(store.db, active_connection(account_id=account, calendar_id="cal"))
    calendar = SlowCalendar()
    service = SyncService(store, calendar, lease_seconds=30)
    changes = [parse_change(payload("event.updated", account_id=account, updated=i, title=f"v{i}"), f"m{i}")
               for i in range(1, 5)]
    random.Random(seed).shuffle(changes)
    deadline = time.monotonic() + 120
    threads = [threading.Thread(target=deliver_until_acknowledged, args=(service, c, deadline)) for c in changes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=130)
    gid = google_event_id(account, "u-42", "ev-1001")
    assert calendar.live("cal")[gid]["summary"] == "v4"
    assert len(calendar.live("cal")) == 1
    mapping = store.get_mappings(account, "u-42", ["ev-1001"])["ev-1001"]
    assert mapping.version == changes[0].version.__class__.parse("2026-11-20T13:00:04.123Z")
    assert mapping.lease is None


class VerySlowCalendar(FakeCalendar):
    def update(self, calendar_id, event_id, body, if_match=None, **kw):
        time.sleep(1.0)
        return super().update(calendar_id, event_id, body, if_match, **kw)

    def insert(self, calendar_id, body, **kw):
        time.sleep(1.0)
        super().insert(calendar_id, body, **kw)


def test_an_older_delivery_during_a_newer_write_never_overwrites_it(emulator_hosts):
    """Firestore read locks are shared: without the lease both would write and the older win."""
    store = FirestoreMappings(firestore.Client(project="local-project"))
    account = "inflight-" + uuid.uuid4().hex[:6]
    connect(store.db, active_connection(account_id=account, calendar_id="cal"))
    calendar = VerySlowCalendar()
    service = SyncService(store, calendar, lease_seconds=30)
    newer = parse_change(payload("event.updated", account_id=account, updated=9, title="newer"), "m9")
    older = parse_change(payload("event.updated", account_id=account, updated=1, title="older"), "m1")
    outcomes = {}
    first = threading.Thread(target=lambda: outcomes.setdefault("newer", service.apply(newer)))
    first.start()
    time.sleep(0.5)  # the newer change is now claimed and inside its Calendar call
    outcomes["older"] = service.apply(older)
    first.join(timeout=60)
    assert outcomes["older"].name == "stale" and outcomes["newer"].name == "created"
    gid = google_event_id(account, "u-42", "ev-1001")
    assert calendar.live("cal")[gid]["summary"] == "newer"
    assert calendar.calls == ["insert"]
