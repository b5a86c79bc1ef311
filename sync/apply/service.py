"""One change applied: claim → one Calendar call → record. On the kernel's ports only.

Ordering keys make Pub/Sub deliver one event's changes in order in the cloud, but
redeliveries and the emulator's push do not, so correctness rests here: versions compared
inside a transaction, tombstones for deletes, deterministic Google ids, and the event's lease
(sync/kernel/leases.py) so two deliveries of the same event never write to Calendar at the same
time (Firestore read locks are shared, so a transaction alone would let both write and the
older win).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sync.apply import writes
from sync.apply.mail_policy import NONE, Mail, version_policy, widest
from sync.kernel import conference
from sync.kernel import notification as notes
from sync.kernel.clock import utcnow
from sync.kernel.errors import (
    AuthRevoked,
    CalendarUnavailable,
    ConferenceRefused,
    InvalidPayload,
    NoAnswer,
    Permanent,
    RateLimited,
    Retryable,
    UsageLimited,
)
from sync.kernel.jobs import publish_jobs
from sync.kernel.leases import Claim, Leases, Pass, Record, Take, still_activated
from sync.kernel.model import Change, Connection, ConnectionStatus, Mapping, StatusChange, google_event_id
from sync.kernel.outcome import Outcome
from sync.kernel.payload import parse_change
from sync.kernel.planner import CALENDAR_ACTIONS, Action, Decision, decide, event_body
from sync.kernel.ports import Calendars, CalendarSession, MappingStore, Publisher
from sync.kernel.span import event_span
from sync.kernel.throttle import UserThrottle
from sync.kernel.usage import DEFAULT_FIRST_PAUSE_SECONDS, next_try


class SyncService:
    def __init__(
        self,
        store: MappingStore,
        calendars: Calendars,
        lease_seconds: float = 120.0,
        clock: Callable[[], datetime] = utcnow,
        throttle: UserThrottle | None = None,
        max_wait: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        bulk_max_wait: float = 1.0,
        no_answer_hold: float = 45.0,
        send_updates: str = "none",
        usage_first_pause: float = DEFAULT_FIRST_PAUSE_SECONDS,
        followups: Callable[[], Publisher] | None = None,
    ) -> None:
        self.usage_first_pause = usage_first_pause
        self.store = store
        # The bulk lane (made on first use), for the follow-up of a Meet conference Google is still
        # creating (sync/meet/); None: not followed up (the conference settles on the event's next write).
        self.followups = followups
        self.send_updates = send_updates  # SEND_UPDATES
        self.no_answer_hold = timedelta(seconds=no_answer_hold)
        self.calendars = calendars
        self.leases = Leases(store, lease_seconds, clock)
        self.clock = clock
        self.throttle = throttle
        self.max_wait = max_wait
        self.bulk_max_wait = bulk_max_wait
        self.sleep = sleep
        self._park_locks = [threading.Lock() for _ in range(64)]  # striped by connection

    # -- the worker's one call -------------------------------------------------------------
    def apply(self, change: Change, rewrite_equal: bool = False, bulk: bool = False,
              usage_retry: bool = False) -> Outcome:
        """Apply one change. ``rewrite_equal``: write an equal version again (a snapshot's
        repair); ``bulk``: paced behind live changes (the bulk lane, docs/snapshots.md#what-is-applied);
        ``usage_retry``: the try of a ``usage_limited`` calendar (sync/limits), written although
        the connection is not active (any other change of it is parked)."""
        claim = self.leases.claim(change.account_id, change.user_id, change.event_id,
                                  lambda conn, mapping, now: _judge(conn, mapping, now, change, rewrite_equal,
                                                                    usage_retry, self.send_updates))
        action = claim.value.action
        if not claim.held:
            if _may_follow_a_transition(claim):
                # A redelivery of what made a transition: if the process died between the commit
                # and the publish, its notification is still in the outbox (docs/notifications.md#delivery).
                self.store.flush_notifications(change.account_id, change.user_id)
            if action is Action.DUPLICATE and claim.found is not None and claim.found.conference_checks == 0:
                # A redelivery of a write whose pending conference's follow-up may not have been published
                # (none has read it yet); once one has, its chain goes on by itself.
                self._follow_up(change, claim.found)
            return Outcome(action.value, acknowledge=action is not Action.BUSY)
        assert claim.connection is not None
        calendar_id = claim.value.calendar_id
        assert calendar_id is not None
        gid = google_event_id(change.account_id, change.user_id, change.event_id)
        # The same verdict the claim stored on the mapping (sync/kernel/conference.py), from what it read.
        request = _conference_ask(change, claim.found, claim.connection)
        # Calendar's answer is read only for a write that has to do with a conference.
        answer: dict[str, Any] | None = {} if request.data_version or request.anchor else None
        policy = version_policy(change, self.send_updates, claim.found)
        self._pace(claim, bulk)
        session = None
        try:
            session = self.calendars.session(claim.connection)
            # Our last recorded write's etag: every update and delete is made over it (writes.py).
            last = claim.found.etag if claim.found is not None else None
            if claim.value.move_from:
                last = writes.move_event(session, claim.value.move_from, gid, calendar_id)[1]
            name, calls, etag, request = self._write(session, claim, calendar_id, gid, change, last, request,
                                                     answer)
            calls += 1 if claim.value.move_from else 0
        except AuthRevoked as exc:
            self._park(change, claim, ConnectionStatus.NEEDS_REAUTH, str(exc))
            return Outcome("parked_needs_reauth", calendar_calls=1 if session else 0)
        except CalendarUnavailable as exc:
            self._park(change, claim, ConnectionStatus.CALENDAR_UNAVAILABLE, str(exc))
            return Outcome("parked_calendar_unavailable", calendar_calls=1)
        except UsageLimited as exc:
            # Read-only for hours: parked and tried again from the maintenance job, never
            # retried through the queue (docs/errors-and-limits.md#usage-limits).
            self._park(change, claim, ConnectionStatus.USAGE_LIMITED, str(exc),
                       retry_at=next_try(self.clock(), self.usage_first_pause, 0))
            return Outcome("parked_usage_limited", calendar_calls=1)
        except Permanent as exc:
            self._finish(change, claim, calendar_id, error=exc.reason)
            return Outcome("failed_permanent", calendar_calls=1)
        except writes.Superseded:
            # A newer version of ours is in Calendar, its result not recorded yet: this one is
            # obsolete, and that one's redelivery records it (docs/guests.md#guest-mails-exactly-once).
            self.leases.release(claim, attempted=True)
            return Outcome("superseded", calendar_calls=1)
        except RateLimited as exc:
            if self.throttle is not None:
                self.throttle.cool_down(claim.connection.key, exc.retry_after)
            self.leases.release(claim, attempted=session is not None)
            raise
        except NoAnswer:
            # Calendar may still apply the request that got no answer: the event stays leased
            # until it can no longer land (docs/events.md#how-an-event-lands-in-google-calendar).
            self.leases.release(claim, attempted=True, hold=self.no_answer_hold)
            raise
        except BaseException:
            self.leases.release(claim, attempted=session is not None)
            raise
        seen = None if change.is_delete else conference.seen(answer)
        followed = self._finish(change, claim, calendar_id, error=None, etag=etag, request=request, seen=seen,
                                notify=policy)
        if followed is not None:
            self._follow_up(change, followed)
        return Outcome(name, calendar_calls=calls)

    # -- steps -----------------------------------------------------------------------------
    def _pace(self, claim: Claim[Decision], bulk: bool = False) -> None:
        """Stay under Calendar's per-user quota: wait a little here, or hand the wait to Pub/Sub.
        Bulk work takes a token only while the bucket keeps a reserve for live changes."""
        if self.throttle is None:
            return
        assert claim.connection is not None
        user = claim.connection.key
        if bulk:
            wait = self.throttle.wait_bulk_turn(user, self.bulk_max_wait, self.sleep)
        else:
            wait = self.throttle.wait_turn(user, self.max_wait, self.sleep)
        if wait is not None:
            self.leases.release(claim)
            raise Retryable("throttled", retry_after=wait)

    def _mail(self, change: Change, claim: Claim[Decision], gid: str, body: dict[str, Any] | None = None,
              request: conference.Ask | None = None) -> Mail:
        """Who this change's write mails (docs/guests.md#guest-mails-exactly-once): the version's policy,
        what the event shows now (the last applied body), and whether an earlier attempt's outcome
        is unknown (no answer, a 5xx, a worker that died before recording: the mapping is uncertain,
        or a lease was left behind), in which case a write that would mail reads the event first.
        ``body``: what the write sends (its conference part included); ``request``: that part."""
        found = claim.found
        policy = version_policy(change, self.send_updates, found)
        uncertain = found is not None and (found.google_uncertain or found.lease is not None)
        if change.is_delete:
            return Mail(policy, uncertain=uncertain)
        assert body is not None
        shown = _applied_body(found, gid) if found is not None and found.google_exists else None
        if request is not None and request.create and found is not None \
                and found.conference_state == conference.FAILED and found.conference_version == request.anchor:
            # The create request Google already failed, sent again: ignored, so guests see no conference.
            body = {k: v for k, v in body.items() if k != "conferenceData"}
        return Mail(policy, body, shown, uncertain)

    def _write(
        self, session: CalendarSession, claim: Claim[Decision], calendar_id: str, gid: str, change: Change,
        last: str | None, request: conference.Ask, answer: dict[str, Any] | None,
    ) -> tuple[str, int, str | None, conference.Ask]:
        """One Calendar call in the steady state; the fallbacks add more. Returns the outcome,
        the calls made, the etag Calendar gave the event (None for a delete) and what was asked of its
        conference. ``last``: the etag of our last write of the event, the condition of an update or
        delete; the event's lease is run for another term before a 412's read and rewrite (writes.py);
        ``answer``: filled with the event as Calendar answered the write."""
        action = claim.value.action

        def renew() -> bool:
            return self.leases.renew(claim)

        if action is Action.DELETE:
            return (*writes.delete(session, calendar_id, gid, last, renew, mail=self._mail(change, claim, gid)),
                    request)
        try:
            name, calls, etag = self._upsert(session, claim, action, calendar_id, gid, change, last, renew, request,
                                             answer)
            again = conference.renewed(request, conference.seen(answer), change.version) if answer is not None \
                else None
            if again is not None:  # our conference was removed by hand: asked for anew, once, mailing nobody
                # (the version's one mail went with the write above: docs/guests.md#guest-mails-exactly-once)
                _, more, etag = self._upsert(session, claim, Action.UPDATE, calendar_id, gid, change, etag, renew,
                                             again, answer, quiet=True)
                return name, calls + more, etag, again
            return name, calls, etag, request
        except ConferenceRefused:
            # The calendar cannot host Meet: the appointment is written all the same, without it
            # (docs/events.md#google-meet); the 400 wrote nothing, so the same condition holds.
            request = request.without_conference()
            name, calls, etag = self._upsert(session, claim, action, calendar_id, gid, change, last, renew, request,
                                             answer)
            return name, calls + 1, etag, request

    def _upsert(self, session: CalendarSession, claim: Claim[Decision], action: Action, calendar_id: str, gid: str,
                change: Change, last: str | None, renew: writes.Renew, request: conference.Ask,
                answer: dict[str, Any] | None, quiet: bool = False) -> tuple[str, int, str | None]:
        """Insert or update the event's body with its conference part; ``quiet``: mailing nobody."""
        body = event_body(change, gid)
        data = request.body(gid)
        if data is not None:
            body["conferenceData"] = data
        mail = Mail(NONE, body) if quiet else self._mail(change, claim, gid, body, request)
        if action is Action.UPDATE:
            return writes.update(session, calendar_id, gid, body, last, renew, mail=mail,
                                 data_version=request.data_version, answer=answer)
        return writes.insert(session, calendar_id, gid, body, renew, mail=mail, data_version=request.data_version,
                             answer=answer)

    def _follow_up(self, change: Change, mapping: Mapping) -> None:
        """Publish the follow-up read of the event's pending conference (the bulk lane, sync/meet/)."""
        if self.followups is None or mapping.conference_state != conference.PENDING \
                or mapping.conference_version is None:
            return
        publish_jobs(self.followups(), [conference.check_job(change.account_id, change.user_id, change.event_id,
                                                           mapping.conference_version, uuid.uuid4().hex)])

    def _finish(self, change: Change, claim: Claim[Decision], calendar_id: str, error: str | None,
                etag: str | None = None, request: conference.Ask | None = None,
                seen: conference.Seen | None = None, notify: str | None = None) -> Mapping | None:
        """Record the write; returns the mapping as recorded when its conference is to be followed up (a
        pending creation first seen by this write), else None. ``notify``: the version's policy, kept
        for a later delete without one."""
        now = self.clock()
        recorded: list[Mapping] = []

        def record(conn: Connection | None, mapping: Mapping) -> Record:
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
                attempted=(None if applied and (mapping.attempted is None or change.version >= mapping.attempted)
                           else mapping.attempted),
                calendar_id=calendar_id if applied else mapping.calendar_id,
                last_error=error,
                error_at=None if applied else now,
                synced_at=now if applied else mapping.synced_at,
                # What drift repair (sync/drift) needs: our write's etag and the change it applied
                # (in the contract's shape only, as for a parked change: Firestore-safe).
                etag=(etag if applied else mapping.etag),
                # The policy the version was written with: a later delete without one follows it.
                notify=(notify if applied and not change.is_delete else mapping.notify),
                applied=(None if change.is_delete or not keep else change.parked_message()) if applied
                else mapping.applied,
                **(_span(change) if applied and keep else {}),
            ), change)
            said: tuple[notes.Notification, ...] = ()
            recorded.clear()
            if applied and request is not None:
                settled = conference.after_write(new, request, seen, change.account_id, change.user_id, now)
                new, said = settled.mapping, tuple(settled.notifications) if keep else ()
                if settled.follow_up and keep:
                    recorded.append(new)
            return new, None, [*failed, *said]

        return recorded[0] if self.leases.finish(claim, record) and recorded else None

    def _park(self, change: Change, claim: Claim[Decision], status: ConnectionStatus, reason: str,
              retry_at: datetime | None = None) -> None:
        # One park at a time per connection in this instance: many changes meeting a revoked grant
        # at once would each read the connection and try to flip it, and Firestore's locks turn
        # that into lock timeouts; one at a time, the first flips it and the rest only read.
        with self._park_locks[hash(change.connection_key) % len(self._park_locks)]:
            parked = self._park_locked(change, claim, status, reason, retry_at)
        if not parked:
            raise Retryable("connection activated again meanwhile: written with its new grant on redelivery")

    def _park_locked(self, change: Change, claim: Claim[Decision], status: ConnectionStatus, reason: str,
                     retry_at: datetime | None = None) -> bool:
        """Park the change and flip the connection, in the transaction that records it; False
        (nothing parked, nothing flipped, the lease cleared) when the connection was activated
        again since the claim read it. The activation resumes the changes parked before it, and
        it may already have looked: a change parked now would never be resumed, and the new
        grant's connection would be flipped by what the old grant answered. Every interleaving
        is one of two: this transaction reads the connection before the activation commits (the
        change is parked before it, so its resume finds it), or after (the stamps differ).
        ``retry_at``: a ``usage_limited`` connection's first retry, set with the transition only."""
        now = self.clock()
        reactivated = False

        def record(conn: Connection | None, mapping: Mapping | None) -> Record:
            """The change kept on its mapping (even when our lease ran out meanwhile: the newest
            parked version wins), and the connection's new status."""
            nonlocal reactivated
            reactivated = False
            if conn is None or conn.gone:
                # Disconnected while this change was in flight: nothing to park, no status to flip.
                return mapping, None, ()
            if not still_activated(claim, conn):
                reactivated = True
                return mapping, None, ()  # stored as it is (our lease cleared by finish)
            # Only the transaction that changes the status announces it: one notification per
            # transition, however many changes meet the revoked grant (docs/notifications.md#body).
            assert claim.lease_id is not None
            flipped = [] if conn.status is status else [_status_notification(conn, status, reason,
                                                                               claim.lease_id, now, retry_at)]
            new_status = StatusChange(status, retry_at)
            if mapping is None:
                return None, new_status, flipped
            keep = mapping.parked_version is None or change.version > mapping.parked_version
            return replace(
                mapping,
                parked=change.parked_message() if keep else mapping.parked,
                parked_version=change.version if keep else mapping.parked_version,
                **(_span(change) if keep else {}),
            ), new_status, flipped

        def lost(conn: Connection | None, mapping: Mapping | None) -> Record:
            if conn is None or conn.gone:
                return None, None, ()
            parked = record(conn, mapping)
            return (None, None, ()) if reactivated else parked

        self.leases.finish(claim, record, when_lost=lost)
        return not reactivated


def _judge(conn: Connection | None, mapping: Mapping | None, now: datetime, change: Change,
           rewrite_equal: bool, usage_retry: bool = False,
           send_updates: str = "none") -> Take[Decision] | Pass[Decision]:
    """The claim's decision (sync/kernel/planner.py): a Calendar write takes the event's lease; a
    delete of an event never written leaves a tombstone; a change that cannot be written now is
    parked on the mapping. ``usage_retry``: a ``usage_limited`` connection is written to as if
    active (the retry's one try)."""
    if usage_retry and conn is not None and conn.status is ConnectionStatus.USAGE_LIMITED:
        conn = replace(conn, status=ConnectionStatus.ACTIVE)
    decision = decide(conn, mapping, change, now, rewrite_equal)
    base = mapping or Mapping(
        event_id=change.event_id,
        google_event_id=google_event_id(change.account_id, change.user_id, change.event_id),
    )
    if decision.action in CALENDAR_ACTIONS:
        if decision.action is Action.INSERT and not base.google_exists:
            base = replace(base, calendar_id=decision.calendar_id)  # where an unfinished insert may land
        if not change.is_delete:
            # The conference's anchor, kept before the write so its retries ask for the same one.
            base = conference.claimed(base, _conference_ask(change, mapping, conn))
            # The event may show this version (and its guests have heard of it) before the result is
            # recorded, or though it never is: a delete after it must reach them too.
            base = replace(base, notify=widest(base.notify, version_policy(change, send_updates)))
        return Take(decision, base, change.version)
    if decision.action is Action.TOMBSTONE:
        return Pass(decision, _clear_parking(replace(base, version=change.version, deleted=True, lease=None,
                                                     last_error=None), change))
    if decision.action is Action.PARK:
        return Pass(decision, replace(base, parked=change.parked_message(), parked_version=change.version,
                                      **_span(change)))
    return Pass(decision)


def _conference_ask(change: Change, mapping: Mapping | None, conn: Connection | None) -> conference.Ask:
    """What writing ``change`` asks of the event's conference (a delete: nothing)."""
    if change.event is None:
        return conference.Ask()
    return conference.ask(change.event, mapping, change.version, conn)


def _applied_body(mapping: Mapping, gid: str) -> dict[str, Any] | None:
    """The body of the last change applied to the event (what its guests see now), None when the
    mapping does not keep it (written before it did, or unreadable)."""
    if not mapping.applied:
        return None
    try:
        applied = parse_change(mapping.applied, str(mapping.applied.get("webhook_id") or ""))
    except InvalidPayload:
        return None
    if applied.is_delete:
        return None
    body = event_body(applied, gid)
    if mapping.conference_state in conference.SHOWN:
        # The event shows our conference (asked for, being created, or created): guests have seen it.
        body["conferenceData"] = {"conferenceSolution": {"key": {"type": conference.MEET}}}
    return body


def _span(change: Change) -> dict[str, Any]:
    """The mapping's ``ends_at`` / ``open_ended`` for this change's event (unchanged for deletes)."""
    if change.event is None:
        return {}
    span = event_span(change.event)
    return {"ends_at": span.ends_at, "open_ended": span.open_ended}


def _may_follow_a_transition(claim: Claim[Decision]) -> bool:
    """A change that did nothing now, but whose earlier delivery may have made a transition."""
    action, conn, mapping = claim.value.action, claim.connection, claim.found
    if action is Action.PARK:
        return True
    return action is Action.DUPLICATE and ((conn is not None and not conn.can_write)
                                           or (mapping is not None and mapping.last_error is not None))


def _status_notification(conn: Connection, status: ConnectionStatus, reason: str, lease_id: str,
                         now: datetime, retry_at: datetime | None = None) -> notes.Notification:
    """The connection's transition to ``status``, named by the claim (lease) that made it."""
    if status is ConnectionStatus.USAGE_LIMITED:
        assert retry_at is not None
        return notes.usage_limited(conn.account_id, conn.user_id, retry_at, (lease_id,), now)
    if status is ConnectionStatus.NEEDS_REAUTH:
        return notes.needs_reauth(conn.account_id, conn.user_id, conn.google_email, reason, (lease_id,), now)
    return notes.calendar_unavailable(conn.account_id, conn.user_id, conn.calendar_id, (lease_id,), now)


def _clear_parking(mapping: Mapping, change: Change) -> Mapping:
    """Drop a parked change once a version at least as new has been applied."""
    if mapping.parked_version is not None and change.version >= mapping.parked_version:
        return replace(mapping, parked=None, parked_version=None)
    return mapping
