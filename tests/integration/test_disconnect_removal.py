"""A disconnect's removal on the Firestore emulator (docs/connections.md#disconnect): a write that claimed its event
before the transition and reaches Calendar after it is waited for, then its event removed too; the
grant is revoked only after that, and nothing is left stored."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import pytest
from google.cloud import firestore

from sync.adapters.firestore.disconnects import FirestoreDisconnects as DisconnectStore
from sync.adapters.firestore.drift import FirestoreDriftStore
from sync.adapters.firestore.mappings import FirestoreMappings
from sync.adapters.firestore.moves import FirestoreMoves
from sync.adapters.firestore.snapshots import FirestoreSnapshots
from sync.apply.service import SyncService
from sync.connections.removal import Removal
from sync.kernel.model import Connection, ConnectionStatus, google_event_id
from sync.kernel.payload import parse_change
from tests.fakes import FakeCalendar, FakeOAuth, FakeWatches
from tests.helpers import connect, payload

pytestmark = pytest.mark.integration
CAL = "cal@example.com"


class HeldInsert(FakeCalendar):
    """Calendar holding one insert until told (a slow write in flight during the disconnect)."""

    def __init__(self, held_id: str):
        super().__init__()
        self.held_id, self.entered, self.go = held_id, threading.Event(), threading.Event()

    def session_for_ref(self, ref):
        return self

    def list_own(self, calendar_id, account_id, user_id, page_token):
        self.calls.append("list_own")
        private = {"sync_source": "evolutto", "source_account_id": account_id, "source_user_id": user_id}
        return {"items": [e for (cal, _), e in self.events.items() if cal == calendar_id
                          and all(e["extendedProperties"]["private"].get(k) == v for k, v in private.items())]}

    def insert(self, calendar_id, body, **kw):
        if body["id"] == self.held_id:
            self.entered.set()
            assert self.go.wait(30)
        return super().insert(calendar_id, body, **kw)


class Vault:
    def __init__(self):
        self.destroyed: list[str] = []

    def read_refresh_token(self, ref):
        return "rt-" + ref

    def destroy(self, ref):
        self.destroyed.append(ref)


@pytest.fixture(scope="module")
def db(emulator_hosts):
    return firestore.Client(project="local-project")


def connected(db) -> tuple[str, str, FirestoreMappings]:
    """A fresh user, connected (active) to CAL."""
    tag = uuid.uuid4().hex[:8]
    a, u = f"acct-{tag}", f"u-{tag}"
    store = FirestoreMappings(db)
    connect(db, Connection(a, u, ConnectionStatus.ACTIVE, CAL, "local_tokens/x", CAL))
    return a, u, store


def disconnect_store(db) -> DisconnectStore:
    return DisconnectStore(db, FirestoreDriftStore(db), FirestoreSnapshots(db), FirestoreMoves(db))


def test_a_write_in_flight_is_waited_for_and_its_event_removed_before_the_revoke(db):
    a, u, store = connected(db)
    calendar = HeldInsert(google_event_id(a, u, "slow"))
    service = SyncService(store, calendar, lease_seconds=120)

    def change(event_id):
        return parse_change(payload(account_id=a, user_id=u, event_id=event_id, title="Sigilo"), "wh-" + event_id)

    assert service.apply(change("done")).name == "created"
    writer = threading.Thread(target=lambda: service.apply(change("slow")))
    writer.start()
    assert calendar.entered.wait(30)  # claimed (leased) before the disconnect, not answered yet

    removals = disconnect_store(db)
    vault = Vault()
    slept: list[float] = []
    oauth = FakeOAuth()
    revoked = oauth.revoked
    disconnects = Removal(removals, calendar, vault, oauth, FakeWatches(), sleep=slept.append, sweep_grace=0)
    begun = removals.begin(a, u, True, datetime.now(timezone.utc))
    assert begun.kind == "started"
    try:
        # The lease has ~120 s to go, more than the step's 30: it is left for a later step.
        first = disconnects.step(begun.record, seconds=30.0)
        assert not first.finished and first.record["removed"] == 1  # "done" removed, "slow" waited for
        assert revoked == [] and vault.destroyed == [] and slept == []
    finally:
        calendar.go.set()  # the write lands in Google after the disconnect began
    writer.join(30)
    assert calendar.live(CAL)  # …so it is there now, recorded on its mapping
    final = disconnects.step(removals.get(a, u) or begun.record, seconds=10.0)
    assert final.finished and final.record["removed"] == 2
    assert calendar.live(CAL) == {}
    assert [su for m, _, su in calendar.sent if m == "delete"] == ["none", "none"]  # mails nobody
    assert "list_own" in calendar.calls  # "slow" was in doubt at the disconnect: one last look
    assert revoked == ["rt-local_tokens/x"] and vault.destroyed == ["local_tokens/x"]
    conn = store.connection_ref(a, u).get().to_dict()
    assert conn["status"] == "disconnected" and conn["token_ref"] is None
    assert list(store.connection_ref(a, u).collection("events").stream()) == []
    assert removals.get(a, u) is None


def test_connecting_again_waits_for_the_disconnect_to_finish(db):
    from sync.adapters.firestore.connections import FirestoreConnections
    from sync.kernel.errors import DisconnectInProgress

    tag = uuid.uuid4().hex[:8]
    a, u = f"acct-{tag}", f"u-{tag}"
    store = FirestoreConnections(db)
    store.activate(a, u, CAL, "local_tokens/x", CAL)
    removals = disconnect_store(db)
    begun = removals.begin(a, u, True, datetime.now(timezone.utc))
    for again in (lambda: store.activate(a, u, CAL, "local_tokens/y", CAL),  # the browser flow
                  lambda: connect(db, Connection(a, u, ConnectionStatus.ACTIVE, CAL, "local_tokens/y",
                                                 CAL))):  # import-connection
        with pytest.raises(DisconnectInProgress):
            again()
        assert store.get_connection(a, u).status is ConnectionStatus.DISCONNECTING
    removals.finish(begun.record, datetime.now(timezone.utc))
    store.activate(a, u, CAL, "local_tokens/y", CAL)
    assert store.get_connection(a, u).status is ConnectionStatus.ACTIVE


class LateUpdate(HeldInsert):
    """A write that timed out (its mapping released as uncertain) is applied by Google anyway, just
    after the disconnect deleted its event: the event comes back."""

    def delete(self, calendar_id, event_id, send_updates, if_match=None):
        super().delete(calendar_id, event_id, send_updates, if_match)
        if event_id == self.held_id and not self.go.is_set():
            self.go.set()
            self.events[(calendar_id, event_id)]["status"] = "confirmed"


def test_a_write_that_lands_after_its_event_was_removed_is_removed_before_the_revoke(db):
    from sync.kernel.errors import Retryable

    a, u, store = connected(db)
    calendar = LateUpdate(google_event_id(a, u, "late"))
    calendar.go.set()
    service = SyncService(store, calendar)
    assert service.apply(parse_change(payload(account_id=a, user_id=u, event_id="late"), "wh-1")).name == "created"
    calendar.go.clear()
    calendar.faults.append(Retryable("calendar transport: timeout"))  # no answer: Google may apply it later…
    update = parse_change(payload("event.updated", account_id=a, user_id=u, event_id="late", updated=1), "wh-2")
    with pytest.raises(Retryable):
        service.apply(update)
    assert store.get_mappings(a, u, ["late"])["late"].google_uncertain  # …so its outcome is unknown
    removals = disconnect_store(db)
    oauth = FakeOAuth()
    revoked = oauth.revoked
    disconnects = Removal(removals, calendar, Vault(), oauth, FakeWatches(), sweep_grace=0)
    begun = removals.begin(a, u, True, datetime.now(timezone.utc))
    assert disconnects.step(begun.record, seconds=30.0).finished
    assert calendar.live(CAL) == {} and revoked


def test_a_disconnect_keeps_nothing_it_read_of_the_calendar(db):
    """What the calendar-list entry said of Google Meet is Google user data about a calendar no longer
    connected: dropped with the calendar's id (Limited Use), from the start of the disconnect."""
    from sync.adapters.firestore.connections import FirestoreConnections

    tag = uuid.uuid4().hex[:8]
    a, u = f"acct-{tag}", f"u-{tag}"
    store = FirestoreConnections(db)
    store.activate(a, u, CAL, "local_tokens/x", CAL, can_host_meet=True)
    removals = disconnect_store(db)
    begun = removals.begin(a, u, False, datetime.now(timezone.utc))
    assert store.connection_ref(a, u).get().to_dict().get("can_host_meet") is None
    removals.finish(begun.record, datetime.now(timezone.utc))
    doc = store.connection_ref(a, u).get().to_dict()
    assert doc["status"] == "disconnected" and doc["calendar_id"] is None and doc.get("can_host_meet") is None
