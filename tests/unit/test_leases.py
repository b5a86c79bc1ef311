"""The lease lifecycle (sync/kernel/leases.py) on the fake mapping store: a claim takes the lease
only when its judge says so, finishing records only while the lease is still the writer's own,
and a release gives the event back (uncertain when Calendar was called)."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from sync.kernel.leases import Leases, Pass, Take, held, ours
from sync.kernel.model import ConnectionStatus, Lease, Mapping, Version
from tests.fakes import FakeStore, active_connection

A, U, E = "acme-consulting", "u-42", "ev-1"
T0 = datetime(2026, 11, 20, 13, tzinfo=timezone.utc)
V1 = Version.parse("2026-11-20T12:00:00Z")


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def world(mapping=None):
    store, clock = FakeStore(), Clock()
    store.save_connection(active_connection(A, U))
    if mapping is not None:
        store.mappings[(A, U, E)] = mapping
    return store, Leases(store, seconds=60, clock=clock), clock


def take(conn, mapping, now):
    return Take("write", mapping or Mapping(E, "gid"), V1)


def test_a_take_stamps_a_lease_for_the_writer_and_its_version():
    store, leases, _ = world()
    claim = leases.claim(A, U, E, take)
    stored = store.mappings[(A, U, E)]
    assert claim.held and claim.value == "write" and claim.found is None
    assert stored.lease == Lease(claim.lease_id, V1, T0 + timedelta(seconds=60)) and claim.leased == stored
    assert held(stored.lease, T0 + timedelta(seconds=59)) and not held(stored.lease, T0 + timedelta(seconds=60))


def test_a_pass_takes_no_lease_and_stores_only_what_it_is_given():
    store, leases, _ = world(Mapping(E, "gid", version=V1))
    claim = leases.claim(A, U, E, lambda c, m, now: Pass("stale"))
    assert not claim.held and claim.value == "stale" and store.mappings[(A, U, E)].lease is None
    tomb = Mapping(E, "gid", version=V1, deleted=True)
    leases.claim(A, U, E, lambda c, m, now: Pass("tombstone", tomb))
    assert store.mappings[(A, U, E)] == tomb


def test_finish_records_and_clears_the_lease_while_it_is_ours():
    store, leases, _ = world()
    claim = leases.claim(A, U, E, take)
    done = leases.finish(claim, lambda c, m: (replace(m, etag='"7"'), None, ()))
    stored = store.mappings[(A, U, E)]
    assert done and stored.etag == '"7"' and stored.lease is None


def test_finish_records_nothing_once_another_writer_took_over():
    store, leases, clock = world()
    first = leases.claim(A, U, E, take)
    clock.now += timedelta(seconds=61)  # the first writer's lease ran out…
    second = leases.claim(A, U, E, take)  # …and another took the event
    assert not leases.finish(first, lambda c, m: (replace(m, etag='"late"'), None, ()))
    stored = store.mappings[(A, U, E)]
    assert stored.etag is None and ours(stored, second.lease_id)  # the second writer's lease untouched


def test_when_lost_decides_what_a_late_finish_stores_without_touching_the_other_lease():
    store, leases, clock = world()
    first = leases.claim(A, U, E, take)
    clock.now += timedelta(seconds=61)
    second = leases.claim(A, U, E, take)
    leases.finish(first, lambda c, m: (m, None, ()),
                  when_lost=lambda c, m: (replace(m, parked={"x": 1}), ConnectionStatus.NEEDS_REAUTH, ()))
    stored = store.mappings[(A, U, E)]
    assert stored.parked == {"x": 1} and ours(stored, second.lease_id)
    assert store.connections[(A, U)].status is ConnectionStatus.NEEDS_REAUTH


def test_a_record_of_none_only_clears_the_lease():
    store, leases, _ = world()
    claim = leases.claim(A, U, E, take)
    assert not leases.finish(claim, lambda c, m: None)
    assert store.mappings[(A, U, E)].lease is None and store.mappings[(A, U, E)].etag is None


def test_release_gives_the_event_back_uncertain_when_calendar_was_called():
    store, leases, _ = world()
    leases.release(leases.claim(A, U, E, take))
    assert store.mappings[(A, U, E)].lease is None and not store.mappings[(A, U, E)].google_uncertain
    leases.release(leases.claim(A, U, E, take), attempted=True)
    assert store.mappings[(A, U, E)].google_uncertain


def test_release_sets_the_status_even_when_the_lease_is_lost_and_leaves_the_other_lease():
    store, leases, clock = world()
    first = leases.claim(A, U, E, take)
    clock.now += timedelta(seconds=61)
    second = leases.claim(A, U, E, take)
    leases.release(first, attempted=True, status=ConnectionStatus.NEEDS_REAUTH)
    stored = store.mappings[(A, U, E)]
    assert ours(stored, second.lease_id) and not stored.google_uncertain
    assert store.connections[(A, U)].status is ConnectionStatus.NEEDS_REAUTH
