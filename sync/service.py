"""Orchestration of one change: claim → one Calendar call → record. Imports no google.*.

Ordering keys make Pub/Sub deliver one event's changes in order in the cloud, but
redeliveries and the emulator's push do not, so correctness rests here: versions compared
inside a transaction, tombstones for deletes, deterministic Google ids, and a short lease so
two deliveries of the same event never write to Calendar at the same time (Firestore read
locks are shared, so a transaction alone would let both write and the older win).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sync.kernel import notification as notes
from sync.kernel.errors import (
    AuthRevoked,
    CalendarConflict,
    CalendarNotFound,
    CalendarUnavailable,
    Permanent,
    RateLimited,
    Retryable,
)
from sync.kernel.model import Change, Connection, ConnectionStatus, Lease, Mapping, google_event_id, ordering_key
from sync.kernel.outcome import Outcome
from sync.kernel.planner import CALENDAR_ACTIONS, Action, Decision, decide, event_body
from sync.kernel.ports import Calendars, CalendarSession, Publisher, Store
from sync.kernel.throttle import UserThrottle


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class _Claim:
    decision: Decision
    connection: Connection | None
    mapping: Mapping | None
    lease_id: str | None = None


class SyncService:
    def __init__(
        self,
        store: Store,
        calendars: Calendars,
        lease_seconds: float = 120.0,
        clock: Callable[[], datetime] = utcnow,
        throttle: UserThrottle | None = None,
        max_wait: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        bulk_max_wait: float = 1.0,
    ) -> None:
        self.store = store
        self.calendars = calendars
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.throttle = throttle
        self.max_wait = max_wait
        self.bulk_max_wait = bulk_max_wait
        self.sleep = sleep
        self._park_locks = [threading.Lock() for _ in range(64)]  # striped by connection

    # -- the worker's one call -------------------------------------------------------------
    def apply(self, change: Change, rewrite_equal: bool = False, bulk: bool = False) -> Outcome:
        """Apply one change. ``rewrite_equal``: write an equal version again (a snapshot's
        repair); ``bulk``: paced behind live changes (the bulk lane, CONTRACT §7)."""
        claim = self._claim(change, rewrite_equal)
        action = claim.decision.action
        if action not in CALENDAR_ACTIONS:
            if _may_follow_a_transition(claim):
                # A redelivery of what made a transition: if the process died between the commit
                # and the publish, its notification is still in the outbox (CONTRACT §8).
                self.store.flush_notifications(change.account_id, change.user_id)
            return Outcome(action.value, acknowledge=action is not Action.BUSY)
        assert claim.connection is not None and claim.lease_id is not None
        calendar_id = claim.decision.calendar_id
        assert calendar_id is not None
        gid = google_event_id(change.account_id, change.user_id, change.event_id)
        self._pace(change, claim.connection.key, claim.lease_id, bulk)
        session = None
        try:
            session = self.calendars.session(claim.connection)
            if claim.decision.move_from:
                move_event(session, claim.decision.move_from, gid, calendar_id)
            name, calls, etag = self._write(session, action, calendar_id, gid, change)
            calls += 1 if claim.decision.move_from else 0
        except AuthRevoked as exc:
            self._park(change, claim.lease_id, ConnectionStatus.NEEDS_REAUTH, str(exc))
            return Outcome("parked_needs_reauth", calendar_calls=1 if session else 0)
        except CalendarUnavailable as exc:
            self._park(change, claim.lease_id, ConnectionStatus.CALENDAR_UNAVAILABLE, str(exc))
            return Outcome("parked_calendar_unavailable", calendar_calls=1)
        except Permanent as exc:
            self._finish(change, claim.lease_id, calendar_id, error=exc.reason)
            return Outcome("failed_permanent", calendar_calls=1)
        except RateLimited as exc:
            if self.throttle is not None:
                self.throttle.cool_down(claim.connection.key, exc.retry_after)
            self._release(change, claim.lease_id, attempted=session is not None)
            raise
        except BaseException:
            self._release(change, claim.lease_id, attempted=session is not None)
            raise
        self._finish(change, claim.lease_id, calendar_id, error=None, etag=etag)
        return Outcome(name, calendar_calls=calls)

    # -- steps -----------------------------------------------------------------------------
    def _pace(self, change: Change, user: str, lease_id: str, bulk: bool = False) -> None:
        """Stay under Calendar's per-user quota: wait a little here, or hand the wait to Pub/Sub.
        Bulk work takes a token only while the bucket keeps a reserve for live changes."""
        if self.throttle is None:
            return
        if bulk:
            wait = self.throttle.wait_bulk_turn(user, self.bulk_max_wait, self.sleep)
        else:
            wait = self.throttle.wait_turn(user, self.max_wait, self.sleep)
        if wait is not None:
            self._release(change, lease_id)
            raise Retryable("throttled", retry_after=wait)

    def _claim(self, change: Change, rewrite_equal: bool = False) -> _Claim:
        now = self.clock()
        lease_id = uuid.uuid4().hex

        def work(conn: Connection | None, mapping: Mapping | None):  # type: ignore[no-untyped-def]
            decision = decide(conn, mapping, change, now, rewrite_equal)
            base = mapping or Mapping(
                event_id=change.event_id,
                google_event_id=google_event_id(change.account_id, change.user_id, change.event_id),
            )
            new: Mapping | None = None
            if decision.action in CALENDAR_ACTIONS:
                new = replace(base, lease=Lease(lease_id, change.version, now + self.lease))
                if decision.action is Action.INSERT and not base.google_exists:
                    new = replace(new, calendar_id=decision.calendar_id)  # where an unfinished insert may land
            elif decision.action is Action.TOMBSTONE:
                new = _clear_parking(replace(base, version=change.version, deleted=True, lease=None,
                                             last_error=None), change)
            elif decision.action is Action.PARK:
                new = replace(base, parked=change.parked_message(), parked_version=change.version, **_span(change))
            return _Claim(decision, conn, mapping, lease_id), new, None

        return self.store.update_event(change.account_id, change.user_id, change.event_id, work)

    def _write(
        self, session: CalendarSession, action: Action, calendar_id: str, gid: str, change: Change
    ) -> tuple[str, int, str | None]:
        """One Calendar call in the steady state; the fallbacks add one more. Returns the outcome,
        the calls made and the etag Calendar gave the event (None for a delete)."""
        if action is Action.DELETE:
            try:
                session.delete(calendar_id, gid)
            except CalendarNotFound:
                return "deleted_already", 1, None
            return "deleted", 1, None
        body = event_body(change, gid)
        if action is Action.UPDATE:
            try:
                return "updated", 1, session.update(calendar_id, gid, body)
            except CalendarNotFound:
                # gone for good (404/410): create it again
                return "recreated", 2, session.insert(calendar_id, body)
        try:
            return "created", 1, session.insert(calendar_id, body)
        except CalendarConflict:
            # The id exists: a redelivery, or an event cancelled by hand. Update brings it back.
            return "restored", 2, session.update(calendar_id, gid, body)

    def _finish(self, change: Change, lease_id: str, calendar_id: str, error: str | None,
                etag: str | None = None) -> None:
        now = self.clock()

        def work(conn: Connection | None, mapping: Mapping | None):  # type: ignore[no-untyped-def]
            if mapping is None or mapping.lease is None or mapping.lease.id != lease_id:
                return None, None, None  # our lease expired and another delivery took over
            applied = error is None
            # A write that began before a disconnect and ends during it: recorded (the disconnect
            # removes the event under this mapping), but nothing of the event's contents is kept.
            keep = conn is not None and not conn.gone
            failed = [] if applied else [notes.event_failed(
                change.account_id, change.user_id, change.event_id, change.version.rfc3339, str(error), now)]
            new = _clear_parking(replace(
                mapping,
                version=change.version,
                deleted=change.is_delete,
                google_exists=(not change.is_delete) if applied else mapping.google_exists,
                google_uncertain=False if applied else mapping.google_uncertain,
                calendar_id=calendar_id if applied else mapping.calendar_id,
                last_error=error,
                error_at=None if applied else now,
                synced_at=now if applied else mapping.synced_at,
                lease=None,
                # What drift repair (sync/drift) needs: our write's etag and the change it applied
                # (in the contract's shape only, as for a parked change: Firestore-safe).
                etag=(etag if applied else mapping.etag),
                applied=(None if change.is_delete or not keep else change.parked_message()) if applied
                else mapping.applied,
                **(_span(change) if applied and keep else {}),
            ), change)
            return None, new, None, failed

        self.store.update_event(change.account_id, change.user_id, change.event_id, work)

    def _park(self, change: Change, lease_id: str, status: ConnectionStatus, reason: str) -> None:
        # One park at a time per connection in this instance: many changes meeting a revoked grant
        # at once would each read the connection and try to flip it, and Firestore's locks turn
        # that into lock timeouts; one at a time, the first flips it and the rest only read.
        with self._park_locks[hash(change.connection_key) % len(self._park_locks)]:
            self._park_locked(change, lease_id, status, reason)

    def _park_locked(self, change: Change, lease_id: str, status: ConnectionStatus, reason: str) -> None:
        now = self.clock()

        def work(conn: Connection | None, mapping: Mapping | None):  # type: ignore[no-untyped-def]
            if conn is None or conn.gone:
                # Disconnected while this change was in flight: nothing to park, no status to flip.
                if mapping is None or mapping.lease is None or mapping.lease.id != lease_id:
                    return None, None, None
                return None, replace(mapping, lease=None), None
            # Only the transaction that changes the status announces it: one notification per
            # transition, however many changes meet the revoked grant (CONTRACT §8).
            flipped = [] if conn is None or conn.status is status else [_status_notification(
                conn, status, reason, lease_id, now)]
            if mapping is None:
                return None, None, status, flipped
            keep = mapping.parked_version is None or change.version > mapping.parked_version
            new = replace(
                mapping,
                lease=None if mapping.lease and mapping.lease.id == lease_id else mapping.lease,
                parked=change.parked_message() if keep else mapping.parked,
                parked_version=change.version if keep else mapping.parked_version,
                **(_span(change) if keep else {}),
            )
            return None, new, status, flipped

        self.store.update_event(change.account_id, change.user_id, change.event_id, work)

    def _release(self, change: Change, lease_id: str, attempted: bool = False) -> None:
        """Give the event back after a failure; if Calendar was called, its outcome is unknown."""

        def work(conn: Connection | None, mapping: Mapping | None):  # type: ignore[no-untyped-def]
            if mapping is None or mapping.lease is None or mapping.lease.id != lease_id:
                return None, None, None
            return None, replace(mapping, lease=None,
                                 google_uncertain=mapping.google_uncertain or attempted), None

        self.store.update_event(change.account_id, change.user_id, change.event_id, work)


def move_event(session: CalendarSession, source: str, gid: str, destination: str) -> bool:
    """Bring an event over from the calendar it lives in (a calendar switch), same id. True when it
    is now in ``destination`` (moved, or already there: the copy left behind is dropped); False
    when it is gone from ``source`` or ``source`` itself is gone, so the next write re-creates it."""
    try:
        session.move(source, gid, destination)
    except CalendarConflict:
        try:
            session.delete(source, gid)
        except (CalendarNotFound, CalendarUnavailable):
            pass
    except (CalendarNotFound, CalendarUnavailable):
        return False
    return True


def resume_parked(store: Store, publisher: Publisher, account_id: str, user_id: str) -> int:
    """After a reconnect, send every parked change back through the queue; return how many.

    They stay parked until the worker applies them, so a failed publish loses nothing.
    """
    sent = 0
    for mapping in store.parked(account_id, user_id):
        if mapping.parked is None:
            continue
        message = mapping.parked
        publisher.publish(
            json.dumps(message, separators=(",", ":")).encode("utf-8"),
            ordering_key(account_id, user_id, mapping.event_id),
            {"account_id": account_id, "user_id": user_id, "event_id": mapping.event_id,
             "webhook_id": str(message.get("webhook_id", "")), "replay": "parked"},
        )
        sent += 1
    return sent


def _span(change: Change) -> dict[str, Any]:
    """The mapping's ``ends_at`` / ``open_ended`` for this change's event (unchanged for deletes)."""
    if change.event is None:
        return {}
    from sync.kernel.span import event_span

    span = event_span(change.event)
    return {"ends_at": span.ends_at, "open_ended": span.open_ended}


def _may_follow_a_transition(claim: _Claim) -> bool:
    """A change that did nothing now, but whose earlier delivery may have made a transition."""
    action, conn, mapping = claim.decision.action, claim.connection, claim.mapping
    if action is Action.PARK:
        return True
    return action is Action.DUPLICATE and ((conn is not None and not conn.can_write)
                                           or (mapping is not None and mapping.last_error is not None))


def _status_notification(conn: Connection, status: ConnectionStatus, reason: str, lease_id: str,
                         now: datetime) -> notes.Notification:
    """The connection's transition to ``status``, named by the claim (lease) that made it."""
    if status is ConnectionStatus.NEEDS_REAUTH:
        return notes.needs_reauth(conn.account_id, conn.user_id, conn.google_email, reason, (lease_id,), now)
    return notes.calendar_unavailable(conn.account_id, conn.user_id, conn.calendar_id, (lease_id,), now)


def _clear_parking(mapping: Mapping, change: Change) -> Mapping:
    """Drop a parked change once a version at least as new has been applied."""
    if mapping.parked_version is not None and change.version >= mapping.parked_version:
        return replace(mapping, parked=None, parked_version=None)
    return mapping
