"""The notification outbox on the real Firestore emulator (docs/notifications.md#delivery): staged with the
transition, published after the commit, kept when the publish fails, swept when a flush died."""

import json
import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from sync.adapters.firestore.connections import FirestoreConnections
from sync.adapters.firestore.mappings import FirestoreMappings
from sync.adapters.firestore.outbox import FirestoreOutbox
from sync.apply.service import SyncService
from sync.kernel import notification as notes
from sync.kernel.errors import PublishFailed, Retryable
from sync.kernel.model import ConnectionStatus
from sync.kernel.payload import parse_change
from tests.fakes import FakeCalendar, FakePublisher, active_connection
from tests.helpers import connect, payload

pytestmark = pytest.mark.integration


@pytest.fixture
def db(emulator_hosts):
    return firestore.Client(project="local-project")


@pytest.fixture
def world(db):
    """A connection's stores with notifications on (PLATFORM_WEBHOOK_URL set): the mappings (the
    worker's side) and the connections (the connect flow's), on one outbox."""
    publisher = FakePublisher()
    outbox = FirestoreOutbox(db, lambda: publisher, enabled=True)
    store = FirestoreMappings(db, outbox)
    account = "ntf-" + uuid.uuid4().hex[:8]
    connect(db, active_connection(account_id=account, calendar_id="cal@example.com"), outbox)
    publisher.messages.clear()  # the import's own connection.activated
    return store, publisher, account


def published(publisher, type_=None):
    out = [json.loads(data) for data, _, _ in publisher.messages]
    return [m for m in out if type_ is None or m["type"] == type_]


def outbox_docs(db, account):
    return FirestoreOutbox(db).pending(account, "u-42")


def change(account, event_id, updated=1):
    return parse_change(payload(account_id=account, event_id=event_id, updated=updated), f"m-{event_id}-{updated}")


def test_500_changes_meeting_a_revoked_grant_make_one_notification(db, world):
    store, publisher, account = world
    calendar = FakeCalendar()
    calendar.revoked = True
    service = SyncService(store, calendar, lease_seconds=60)
    pending = [change(account, f"ev-{i}") for i in range(500)]
    lock = threading.Lock()

    def drain() -> None:
        rng = random.Random()
        while True:
            with lock:
                if not pending:
                    return
                c = pending.pop()
            try:
                service.apply(c)
            except Retryable:
                time.sleep(rng.uniform(0, 0.2))  # redelivered after a jittered backoff, as Pub/Sub
                with lock:                        # spaces them: not in step with its contenders
                    pending.append(c)

    threads = [threading.Thread(target=drain) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    [m] = published(publisher)
    assert m["type"] == "connection.needs_reauth" and m["data"]["reason"] == "invalid_grant"
    assert m["data"] == {"account_id": account, "user_id": "u-42", "google_email": "user@example.com",
                         "reason": "invalid_grant"}
    assert [k for _, k, _ in publisher.messages] == [f"{account}/u-42"]
    assert outbox_docs(db, account) == []
    assert store.get_connection(account, "u-42").status is ConnectionStatus.NEEDS_REAUTH


def test_a_failed_publish_keeps_the_notification_for_the_redelivery(db, world):
    store, publisher, account = world
    calendar = FakeCalendar()
    calendar.revoked = True
    service = SyncService(store, calendar, lease_seconds=60)
    c = change(account, "ev-1")
    publisher.fail = True  # committed, then the publish fails (or the process dies right there)
    with pytest.raises(Retryable):
        service.apply(c)
    [kept] = outbox_docs(db, account)
    assert kept.type == "connection.needs_reauth" and published(publisher) == []
    publisher.fail = False
    with pytest.raises(Retryable):  # the redelivery comes too soon: the stager may still be publishing
        service.apply(c)
    assert published(publisher) == []
    # Later, the redelivery of the same change finds the transition made and flushes the outbox.
    assert FirestoreOutbox(db, lambda: publisher, enabled=True).flush_pending(
        account, "u-42", now=datetime.now(timezone.utc) + timedelta(seconds=10)) == 1
    [m] = published(publisher)
    assert m["webhook_id"] == kept.id and outbox_docs(db, account) == []
    assert service.apply(c).name == "duplicate" and len(published(publisher)) == 1


def test_the_sweep_publishes_only_what_was_left_behind(db, world):
    store, publisher, account = world
    old = notes.disconnected(account, "u-42", 0, ("old",), datetime.now(timezone.utc) - timedelta(minutes=5))
    young = notes.disconnected(account, "u-42", 0, ("young",))
    outbox = FirestoreOutbox(db, lambda: publisher, enabled=True)
    batch = db.batch()
    assert outbox.stage(batch, old) and outbox.stage(batch, young)
    batch.commit()
    counts = outbox.republish_stale()
    assert counts["notifications_republished"] >= 1
    assert old.id in [m["webhook_id"] for m in published(publisher)]
    assert young.id not in [m["webhook_id"] for m in published(publisher)]
    assert [n.id for n in outbox_docs(db, account)] == [young.id]


def disconnect(db, publisher, account, removed=0, enabled=True):
    """A DELETE's transition, then (nothing to remove) its end, through the disconnect's store."""
    from sync.adapters.firestore.disconnects import FirestoreDisconnects as DisconnectStore
    from sync.adapters.firestore.drift import FirestoreDriftStore
    from sync.adapters.firestore.moves import FirestoreMoves
    from sync.adapters.firestore.snapshots import FirestoreSnapshots

    store = DisconnectStore(db, FirestoreDriftStore(db), FirestoreSnapshots(db), FirestoreMoves(db),
                            FirestoreOutbox(db, lambda: publisher, enabled=enabled))
    now = datetime.now(timezone.utc)
    begun = store.begin(account, "u-42", False, now)
    if begun.kind == "started":
        store.update(account, "u-42", begun.record["disconnect_id"], {"removed": removed})
        store.finish(begun.record, now)
    return begun.kind


def test_activation_switch_and_disconnect_are_one_notification_each(db, world):
    _, publisher, account = world
    store = FirestoreConnections(db, FirestoreOutbox(db, lambda: publisher, enabled=True))
    store.activate(account, "u-42", "team@example.com", "local_tokens/t2", "user@example.com")
    assert disconnect(db, publisher, account, removed=3) == "started"
    assert disconnect(db, publisher, account) == "disconnected"  # a repeated DELETE: no transition
    store.activate(account, "u-42", "user@example.com", "local_tokens/t3", "user@example.com")
    got = [(m["type"], m["data"].get("calendar_id"), m["data"].get("previous_calendar_id"),
            m["data"].get("events_removed")) for m in published(publisher)]
    assert got == [("connection.activated", "team@example.com", "cal@example.com", None),
                   ("connection.disconnected", None, None, 3),
                   ("connection.activated", "user@example.com", None, None)]
    assert len({m["webhook_id"] for m in published(publisher)}) == 3
    assert outbox_docs(db, account) == []


def test_nothing_is_staged_without_a_platform_url(db):
    publisher = FakePublisher()
    outbox = FirestoreOutbox(db, lambda: publisher, enabled=False)  # PLATFORM_WEBHOOK_URL unset
    store = FirestoreMappings(db, outbox)
    account = "off-" + uuid.uuid4().hex[:8]
    connect(db, active_connection(account_id=account, calendar_id="cal"), outbox)
    calendar = FakeCalendar()
    calendar.revoked = True
    assert SyncService(store, calendar).apply(change(account, "ev-1")).name == "parked_needs_reauth"
    assert disconnect(db, publisher, account, enabled=False) == "started"
    assert publisher.messages == [] and outbox_docs(db, account) == []


def test_any_transaction_can_stage_a_notification(db, world):
    """The API the snapshot and drift features use: stage inside their own transaction, flush after."""
    store, publisher, account = world
    note = notes.snapshot_completed(account, "u-42", "snap-1", {"created": 2, "deleted": 1})
    ref = db.collection("it_snapshots").document(uuid.uuid4().hex)

    outbox = FirestoreOutbox(db, lambda: publisher, enabled=True)

    @firestore.transactional
    def finish(txn):
        txn.get(ref)
        txn.set(ref, {"state": "done"})
        outbox.stage(txn, note)

    finish(db.transaction())
    assert [n.id for n in outbox_docs(db, account)] == [note.id]
    assert outbox.publish([note]) == []
    assert published(publisher)[0]["data"]["counts"] == {"created": 2, "deleted": 1}
    assert outbox_docs(db, account) == []


class FailsOnce(FakePublisher):
    """Refuses the first publish of one ordering key, then publishes everything."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def publish(self, data, ordering_key, attributes):
        if ordering_key == self.key:
            self.key = None
            raise PublishFailed("pubsub: unavailable")
        return super().publish(data, ordering_key, attributes)


def test_a_connection_whose_notification_failed_publishes_none_after_it_until_the_flush(db):
    # Pub/Sub keeps a key's order as it receives them: a later notification published while an
    # earlier one waits in the outbox would reach the platform first ("activated" after "disconnected").
    account = "ntf-" + uuid.uuid4().hex[:8]
    base = datetime.now(timezone.utc) - timedelta(minutes=5)
    first = notes.disconnected(account, "u-42", 0, ("first",), base)
    second = notes.disconnected(account, "u-42", 0, ("second",), base + timedelta(seconds=1))
    other = notes.disconnected(account, "u-7", 0, ("other",), base + timedelta(seconds=2))
    publisher = FailsOnce(first.ordering_key)
    outbox = FirestoreOutbox(db, lambda: publisher, enabled=True)
    batch = db.batch()
    for n in (first, second, other):
        outbox.stage(batch, n)
    batch.commit()
    assert outbox.publish([first, second, other]) == [first.id, second.id]
    assert [m["webhook_id"] for m in published(publisher)] == [other.id]  # other connections go on
    assert outbox.flush_pending(account, "u-42") == 2
    assert [m["webhook_id"] for m in published(publisher)] == [other.id, first.id, second.id]
    assert outbox_docs(db, account) == []
