"""The notification outbox on the real Firestore emulator (CONTRACT §8): staged with the
transition, published after the commit, kept when the publish fails, swept when a flush died."""

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from sync.adapters.firestore_integrations import IntegrationsStore
from sync.apply.service import SyncService
from sync.config import settings
from sync.kernel import notification as notes
from sync.kernel.errors import Retryable
from sync.kernel.model import ConnectionStatus
from sync.kernel.payload import parse_change
from sync.notifications import outbox
from tests.fakes import FakeCalendar, FakePublisher, active_connection
from tests.helpers import payload

pytestmark = pytest.mark.integration


@pytest.fixture
def notifications_on(monkeypatch, emulator_hosts):
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", "http://127.0.0.1:9/hooks")
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture
def db(emulator_hosts):
    return firestore.Client(project="local-project")


@pytest.fixture
def world(db, notifications_on):
    publisher = FakePublisher()
    store = IntegrationsStore(db, lambda: publisher)
    account = "ntf-" + uuid.uuid4().hex[:8]
    store.save_connection(active_connection(account_id=account, calendar_id="cal@example.com"))
    publisher.messages.clear()  # the import's own connection.activated
    return store, publisher, account


def published(publisher, type_=None):
    out = [json.loads(data) for data, _, _ in publisher.messages]
    return [m for m in out if type_ is None or m["type"] == type_]


def outbox_docs(db, account):
    return outbox.pending(db, account, "u-42")


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
        while True:
            with lock:
                if not pending:
                    return
                c = pending.pop()
            try:
                service.apply(c)
            except Retryable:
                with lock:
                    pending.append(c)  # redelivered, as Pub/Sub would

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
    assert outbox.flush_pending(db, publisher, account, "u-42",
                                now=datetime.now(timezone.utc) + timedelta(seconds=10)) == 1
    [m] = published(publisher)
    assert m["webhook_id"] == kept.id and outbox_docs(db, account) == []
    assert service.apply(c).name == "duplicate" and len(published(publisher)) == 1


def test_the_sweep_publishes_only_what_was_left_behind(db, world):
    store, publisher, account = world
    old = notes.disconnected(account, "u-42", 0, ("old",), datetime.now(timezone.utc) - timedelta(minutes=5))
    young = notes.disconnected(account, "u-42", 0, ("young",))
    batch = db.batch()
    assert outbox.stage(batch, db, old) and outbox.stage(batch, db, young)
    batch.commit()
    counts = outbox.republish_stale(db, publisher)
    assert counts["notifications_republished"] >= 1
    assert old.id in [m["webhook_id"] for m in published(publisher)]
    assert young.id not in [m["webhook_id"] for m in published(publisher)]
    assert [n.id for n in outbox_docs(db, account)] == [young.id]


def disconnect(db, publisher, account, removed=0):
    """A DELETE's transition, then (nothing to remove) its end, through the disconnect's store."""
    from sync.disconnect.store import DisconnectStore
    from sync.drift.store import FirestoreDriftStore
    from sync.snapshots.store import SnapshotStore

    store = DisconnectStore(db, FirestoreDriftStore(db), SnapshotStore(db), lambda: publisher)
    now = datetime.now(timezone.utc)
    begun = store.begin(account, "u-42", False, now)
    if begun.kind == "started":
        store.update(account, "u-42", begun.record["disconnect_id"], {"removed": removed})
        store.finish(begun.record, now)
    return begun.kind


def test_activation_switch_and_disconnect_are_one_notification_each(db, world):
    store, publisher, account = world
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


def test_nothing_is_staged_without_a_platform_url(db, monkeypatch, emulator_hosts):
    monkeypatch.delenv("PLATFORM_WEBHOOK_URL", raising=False)
    settings.cache_clear()
    publisher = FakePublisher()
    store = IntegrationsStore(db, lambda: publisher)
    account = "off-" + uuid.uuid4().hex[:8]
    store.save_connection(active_connection(account_id=account, calendar_id="cal"))
    calendar = FakeCalendar()
    calendar.revoked = True
    assert SyncService(store, calendar).apply(change(account, "ev-1")).name == "parked_needs_reauth"
    assert disconnect(db, publisher, account) == "started"
    assert publisher.messages == [] and outbox_docs(db, account) == []


def test_any_transaction_can_stage_a_notification(db, world):
    """The API the snapshot and drift features use: stage inside their own transaction, flush after."""
    store, publisher, account = world
    note = notes.snapshot_completed(account, "u-42", "snap-1", {"created": 2, "deleted": 1})
    ref = db.collection("it_snapshots").document(uuid.uuid4().hex)

    @firestore.transactional
    def finish(txn):
        txn.get(ref)
        txn.set(ref, {"state": "done"})
        outbox.stage(txn, db, note)

    finish(db.transaction())
    assert [n.id for n in outbox_docs(db, account)] == [note.id]
    assert outbox.flush(db, publisher, [note]) == []
    assert published(publisher)[0]["data"]["counts"] == {"created": 2, "deleted": 1}
    assert outbox_docs(db, account) == []
