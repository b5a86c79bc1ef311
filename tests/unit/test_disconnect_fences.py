"""What a write that began before a disconnect may do once the connection is gone (docs/connections.md#disconnect):
finish recording what it did, but keep no contents, park nothing, flip no status, and a drift
restore never starts."""

from __future__ import annotations

import copy
from dataclasses import replace

from sync.apply.service import SyncService
from sync.drift.check import DriftCheck
from sync.kernel.errors import AuthRevoked
from sync.kernel.model import ConnectionStatus, google_event_id
from sync.kernel.payload import parse_change
from tests.fakes import FakeCalendar, FakeStore, active_connection
from tests.helpers import payload
from tests.unit.test_drift_check import CAL, A, Calendar, Store, U

GONE = ConnectionStatus.DISCONNECTED  # what a disconnect's transition made of the connection (or DISCONNECTING)


def change(event_id="ev-1", updated=0, **fields):
    return parse_change(payload(account_id=A, user_id=U, event_id=event_id, updated=updated, **fields), "wh")


def disconnect(store):
    conn = store.connections[(A, U)]
    store.connections[(A, U)] = replace(conn, status=GONE)


class DisconnectDuring(FakeCalendar):
    """Calendar answers the write, but the connection was disconnected while it was in flight."""

    def __init__(self, store, fault=None):
        super().__init__()
        self.store, self.fault = store, fault

    def insert(self, calendar_id, body, **kw):
        disconnect(self.store)
        if self.fault:
            raise self.fault
        return super().insert(calendar_id, body, **kw)


def test_a_write_in_flight_records_its_event_but_keeps_no_contents():
    store = FakeStore()
    store.save_connection(active_connection(A, U, CAL))
    calendar = DisconnectDuring(store)
    assert SyncService(store, calendar).apply(change(title="Sigilo")).name == "created"
    mapping = store.mappings[(A, U, "ev-1")]
    assert mapping.google_exists and mapping.lease is None  # the disconnect removes this event
    assert mapping.applied is None and mapping.ends_at is None  # and nothing of it is kept


def test_a_write_in_flight_that_meets_a_revoked_grant_parks_nothing_and_flips_no_status():
    store = FakeStore()
    store.save_connection(active_connection(A, U, CAL))
    calendar = DisconnectDuring(store, AuthRevoked("invalid_grant"))
    SyncService(store, calendar).apply(change(title="Sigilo"))
    assert store.connections[(A, U)].status is GONE  # not needs_reauth: the disconnect stays
    mapping = store.mappings[(A, U, "ev-1")]
    assert mapping.parked is None and mapping.lease is None and store.notifications == []


def test_a_drift_restore_never_starts_once_the_connection_is_gone():
    """The check listed while connected; the disconnect's own delete is on the list as a cancelled
    event: it is not restored, and no event.drift_repaired is staged."""
    store, calendar = Store(), Calendar()
    store.save_connection(active_connection(A, U, CAL))
    SyncService(store, calendar).apply(change())
    calendar.delete(CAL, google_event_id(A, U, "ev-1"), "none")  # the disconnect removing it
    listed = calendar.list_events

    def list_then_disconnect(*args):
        page = copy.deepcopy(listed(*args))
        disconnect(store)
        return page

    calendar.list_events = list_then_disconnect
    calendar.calls.clear()
    result = DriftCheck(store, store, calendar).run(A, U)
    assert [c for c in calendar.calls if c != "list"] == [] and result.counts["restored"] == 0
    assert store.notices == []
    assert calendar.event("ev-1")["status"] == "cancelled"
