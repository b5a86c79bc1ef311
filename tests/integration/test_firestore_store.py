"""The Firestore adapter against the real emulator."""

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from sync.adapters.firestore.connections import FirestoreConnections
from sync.adapters.firestore.mappings import FirestoreMappings
from sync.adapters.secrets import FirestoreTokenVault
from sync.kernel.errors import AuthRevoked
from sync.kernel.model import Connection, ConnectionStatus, Lease, Mapping, Version, connection_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(emulator_hosts):
    return firestore.Client(project="local-project")


@pytest.fixture
def store(db):
    return FirestoreMappings(db)


@pytest.fixture
def conn(store):
    c = Connection(f"acct/{uuid.uuid4().hex[:6]}", "user:1", ConnectionStatus.ACTIVE, "cal@example.com",
                   "local_tokens/x", "cal@example.com")
    FirestoreConnections(store.db).activate(c.account_id, c.user_id, c.calendar_id, c.token_ref, c.google_email)
    return c


def test_connection_round_trip_with_awkward_ids(store, conn):
    assert store.get_connection(conn.account_id, conn.user_id) == conn
    assert store.get_connection(conn.account_id, "someone-else") is None


def test_update_event_writes_mapping_and_status_in_one_transaction(store, conn):
    now = datetime.now(timezone.utc)
    m = Mapping("ev/1", "gid", version=Version.parse("2026-11-20T13:00:00.000000001Z"), google_exists=True,
                calendar_id="cal", synced_at=now,
                lease=Lease("L1", Version.parse("2026-11-20T13:00:00Z"), now + timedelta(seconds=30)),
                parked={"schema": 1, "event": {"title": "x"}}, parked_version=Version.parse("2026-11-21T00:00:00Z"))

    def write(c, existing):
        assert c == conn and existing is None
        return "done", m, ConnectionStatus.NEEDS_REAUTH

    assert store.update_event(conn.account_id, conn.user_id, "ev/1", write) == "done"
    seen = []
    store.update_event(conn.account_id, conn.user_id, "ev/1", lambda c, e: (seen.append((c, e)), None, None))
    stored_conn, stored = seen[0]
    assert stored_conn.status is ConnectionStatus.NEEDS_REAUTH
    assert stored == m  # every field survives, the nanosecond version included
    assert [p.event_id for p in store.parked(conn.account_id, conn.user_id)] == ["ev/1"]


def test_concurrent_transactions_serialise_read_modify_write(store, conn):
    """Three threads each add one to a counter kept in the mapping, twice: no update is lost."""

    def bump(c, existing):
        count = int(existing.last_error or 0) if existing else 0
        base = existing or Mapping("counter", "gid")
        return None, replace(base, last_error=str(count + 1)), None

    errors = []

    def run():
        for _ in range(2):
            try:
                store.update_event(conn.account_id, conn.user_id, "counter", bump)
            except Exception as exc:  # noqa: BLE001 - recorded and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    retried = len(errors)
    final = store.get_mappings(conn.account_id, conn.user_id, ["counter"])["counter"]
    assert int(final.last_error) == 6 - retried
    assert all(type(e).__name__ == "Retryable" for e in errors)


def test_token_vault_keeps_one_version_and_destroys(db):
    vault = FirestoreTokenVault(db)
    key = connection_key("acct", uuid.uuid4().hex)
    first = vault.store_refresh_token(key, "1//first")
    second = vault.store_refresh_token(key, "1//second")
    assert vault.read_refresh_token(first) == "1//first"  # still usable until the new one is in use
    vault.retire_others(second)
    assert vault.read_refresh_token(second) == "1//second"
    with pytest.raises(AuthRevoked):
        vault.read_refresh_token(first)  # the reconnect replaced it
    vault.destroy(second)
    with pytest.raises(AuthRevoked):
        vault.read_refresh_token(second)


def test_a_connection_write_outlasts_a_transaction_holding_its_read_lock(db, store, conn):
    """The emulator aborts a plain write after 2 s behind a read lock ("Transaction lock
    timeout"); the write is retried until the transaction is done instead of failing."""
    import time

    held = threading.Event()

    def slow_worker(c, existing):
        held.set()
        time.sleep(4)  # a worker transaction that reads the connection and takes its time
        return None, None, None

    worker = threading.Thread(target=store.update_event, args=(conn.account_id, conn.user_id, "slow", slow_worker))
    worker.start()
    held.wait(10)
    FirestoreConnections(db).activate(conn.account_id, conn.user_id, "new-calendar", conn.token_ref,
                                      conn.google_email)  # would raise Aborted without the retry
    worker.join(timeout=30)
    assert store.get_connection(conn.account_id, conn.user_id).calendar_id == "new-calendar"
