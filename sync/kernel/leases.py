"""The lease on one event's mapping, its whole lifecycle written once: claim → finish | release.

Firestore's read locks are shared, so a transaction around a Calendar call would let two writers
of one event both write, the older last. Every writer of an event's Google copy (the worker's
apply, a calendar move, a drift restore) therefore:

    claim    in one transaction, looks at the connection and the mapping and, if it is to write,
             stamps a short lease on the mapping (another writer of the event meanwhile sees it
             ``held`` and waits, or gives way);
    ...      calls Calendar outside any transaction;
    finish   records what it did in a second transaction, only while the lease is still its own
             (it may have run out and another writer taken over), and clears it;
    release  or, when the call failed, gives the event back: the lease cleared and, when Calendar
             was called, the event marked uncertain (its outcome is unknown).

The disconnect's removal waits for ``held`` leases before deleting an event, so no write lands
after its event was removed.

As in aws-powertools' idempotency layer (the base writes in-progress → completed / deleted, each
backend supplies its record operations), this module does the lifecycle and each writer supplies
the small parts: ``judge`` (take a lease, or pass and say why) and ``record`` (what finishing
writes). The store is the ``MappingStore`` port: one transaction per step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sync.kernel.clock import utcnow
from sync.kernel.model import Connection, ConnectionStatus, Lease, Mapping, StatusChange, Version
from sync.kernel.notification import Notification
from sync.kernel.ports import MappingStore

T = TypeVar("T")

# What finishing stores: the mapping (its lease cleared here), a new connection status, and the
# notifications of that transition (staged in the same transaction).
Record = tuple[Mapping | None, ConnectionStatus | StatusChange | None, Sequence[Notification]]


@dataclass(frozen=True)
class Take(Generic[T]):
    """The judge's verdict: lease ``mapping`` for a write of ``version``; ``value`` is the writer's."""

    value: T
    mapping: Mapping
    version: Version


@dataclass(frozen=True)
class Pass(Generic[T]):
    """The judge's verdict: no lease; ``value`` is the writer's, and ``mapping`` (a tombstone, a
    parked change) is stored as it is when given."""

    value: T
    mapping: Mapping | None = None


Judge = Callable[[Connection | None, Mapping | None, datetime], "Take[T] | Pass[T]"]


@dataclass(frozen=True)
class Claim(Generic[T]):
    """What a claim found and decided. ``lease_id`` None: no lease was taken."""

    account_id: str
    user_id: str
    event_id: str
    value: T
    connection: Connection | None
    found: Mapping | None  # the mapping as the claim read it
    lease_id: str | None = None
    leased: Mapping | None = None  # the mapping as the claim stored it, lease included

    @property
    def held(self) -> bool:
        return self.lease_id is not None


def held(lease: Lease | None, now: datetime) -> bool:
    """A lease that has not run out: its writer may still be writing."""
    return lease is not None and held_until(lease.until, now)


def held_until(until: datetime | None, now: datetime) -> bool:
    """A lease that runs until ``until`` (None: no lease) has not run out."""
    return until is not None and until > now


def still_activated(claim: Claim[T], conn: Connection | None) -> bool:
    """The connection is in the activation the claim read: no reconnect since. A writer's verdict
    on the grant or calendar (revoked, gone) stands only then: after a reconnect, the activation's
    resume of parked changes may already have run, so nothing may be parked or flipped on it."""
    return claim.connection is not None and claim.connection.same_activation(conn)


def ours(mapping: Mapping | None, lease_id: str | None) -> bool:
    return mapping is not None and mapping.lease is not None and lease_id is not None \
        and mapping.lease.id == lease_id


class Leases:
    def __init__(self, store: MappingStore, seconds: float = 120.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.ttl = timedelta(seconds=seconds)
        self.clock = clock

    def claim(self, account_id: str, user_id: str, event_id: str, judge: Judge[T]) -> Claim[T]:
        """One transaction: ``judge(connection, mapping, now)`` decides; a ``Take`` stamps the lease."""
        now = self.clock()
        lease_id = uuid.uuid4().hex

        def work(conn: Connection | None, mapping: Mapping | None) -> tuple[Claim[T], Mapping | None, None]:
            verdict = judge(conn, mapping, now)
            if isinstance(verdict, Pass):
                return Claim(account_id, user_id, event_id, verdict.value, conn, mapping), verdict.mapping, None
            leased = replace(verdict.mapping, lease=Lease(lease_id, verdict.version, now + self.ttl))
            return Claim(account_id, user_id, event_id, verdict.value, conn, mapping, lease_id, leased), leased, None

        return self.store.update_event(account_id, user_id, event_id, work)

    def finish(self, claim: Claim[T], record: Callable[[Connection | None, Mapping], Record | None],
               when_lost: Callable[[Connection | None, Mapping | None], Record] | None = None) -> bool:
        """One transaction: while the lease is ``claim``'s, store what ``record`` returns with the
        lease cleared (None: nothing to record, only the lease cleared); True then. Once it is
        lost, ``when_lost`` (if given) decides what is stored, the other writer's lease untouched."""

        def work(conn: Connection | None, mapping: Mapping | None) -> tuple[
                bool, Mapping | None, ConnectionStatus | StatusChange | None, Sequence[Notification]]:
            if not ours(mapping, claim.lease_id):
                if when_lost is None:
                    return False, None, None, ()
                return (False, *when_lost(conn, mapping))
            assert mapping is not None
            recorded = record(conn, mapping)
            if recorded is None:
                return False, replace(mapping, lease=None), None, ()
            new, status, notes = recorded
            return True, replace(new, lease=None) if new is not None else None, status, notes

        return self.store.update_event(claim.account_id, claim.user_id, claim.event_id, work)

    def renew(self, claim: Claim[T]) -> bool:
        """One transaction: while the lease is still ``claim``'s and has not run out, run it for
        another full term; True then. False once it ran out or another writer took the event: a
        call begun now could land after the other writer's, or after the disconnect's removal
        (which does not wait for a lease that ran out). For a writer about to make more calls
        than it claimed the event for (a 412's read and rewrite)."""
        now = self.clock()

        def work(conn: Connection | None, mapping: Mapping | None) -> tuple[bool, Mapping | None, None]:
            if not ours(mapping, claim.lease_id) or mapping is None or not held(mapping.lease, now):
                return False, None, None
            assert mapping.lease is not None
            return True, replace(mapping, lease=replace(mapping.lease, until=now + self.ttl)), None

        return self.store.update_event(claim.account_id, claim.user_id, claim.event_id, work)

    def release(self, claim: Claim[T], attempted: bool = False, status: ConnectionStatus | None = None,
                hold: timedelta | None = None) -> bool:
        """One transaction: give the event back after a failure, while the lease is ``claim``'s.
        ``attempted``: Calendar was called, so its outcome is unknown (the mapping says so).
        ``hold``: a request got no answer and Calendar may still apply it: the lease is kept that
        much longer instead of given back, so no other write of the event (a redelivery, a newer
        version, a calendar move, a removal) is made before that request can have landed.
        ``status``: the connection's new status (the grant turned out revoked), set either way,
        unless the connection was activated again since the claim read it (reconnected: the
        status is about a grant or calendar no longer in use). Returns False in that case."""

        def work(conn: Connection | None, mapping: Mapping | None) -> tuple[
                bool, Mapping | None, ConnectionStatus | None]:
            current = still_activated(claim, conn)
            flip = status if current else None
            if not ours(mapping, claim.lease_id):
                return current, None, flip
            assert mapping is not None
            lease = None
            if hold is not None and mapping.lease is not None:
                lease = replace(mapping.lease, until=self.clock() + hold)
            tried = mapping.attempted
            if attempted and mapping.lease is not None and (tried is None or mapping.lease.version > tried):
                tried = mapping.lease.version  # Calendar may show this version, unrecorded
            return current, replace(mapping, lease=lease, attempted=tried,
                                    google_uncertain=mapping.google_uncertain or attempted), flip

        return self.store.update_event(claim.account_id, claim.user_id, claim.event_id, work)
