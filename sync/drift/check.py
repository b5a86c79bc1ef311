"""One drift check of one connection: list what changed in its calendar, repair or report.

On the kernel's ports only (the drift store, the mappings, Calendar; the unit tests use fakes).
The rules:

* Only our own events count (``source_event_id`` in compare.py), and only those whose mapping
  is live (synced, not tombstoned) in the connection's calendar.
* An event whose etag is the one recorded at our last write is ours: nothing to do. So are
  events written right now (their mapping holds a lease) or written by a delivery not recorded
  yet (its ``source_updated_at`` is newer than the mapping's version): the worker's write wins,
  and the sync token is kept so the next check looks at them again.
* A cancelled event on a live mapping was deleted by hand; a different etag with different
  content (compare.py) was edited by hand; a different etag with the same content (a move, a
  lost answer) is adopted quietly.
* ``restore``: the mapping is claimed with the event's lease (sync/kernel/leases.py), as a
  change is (so a platform change arriving meanwhile waits and then wins), one
  ``events.update`` from the last applied change
  (it also brings back a cancelled event), and the new etag recorded together with the
  ``event.drift_repaired`` notice. ``report``: the notice only, and the edited etag recorded so
  it is reported once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sync.apply import writes
from sync.apply.mail_policy import Mail, version_policy
from sync.drift.compare import same_content
from sync.kernel import logs
from sync.kernel import notification as notes
from sync.kernel.clock import utcnow
from sync.kernel.errors import (
    AuthRevoked,
    CalendarUnavailable,
    InvalidPayload,
    Permanent,
    RateLimited,
    SyncTokenExpired,
    UsageLimited,
)
from sync.kernel.leases import Claim, Leases, Pass, Record, Take, held
from sync.kernel.model import Connection, Mapping
from sync.kernel.outcome import Outcome
from sync.kernel.payload import parse_change
from sync.kernel.planner import event_body, source_event_id, source_version
from sync.kernel.ports import Calendars, CalendarSession, CheckState, DriftStore, MappingStore
from sync.kernel.throttle import UserThrottle

EDITED, DELETED = "edited", "deleted"


@dataclass
class _Tally:
    """What a check has done so far: Calendar calls, and its events by what was found."""

    calendar_calls: int = 0
    counts: Counter[str] = field(default_factory=Counter)


def drift_notification(conn: Connection, event_id: str, kind: str, restored: bool,
                       identity: str) -> notes.Notification:
    """``event.drift_repaired`` (docs/notifications.md#body): ids and the kind, never contents; ``restored`` (an
    extension) is False under DRIFT_POLICY=report. ``identity`` is the etag that names this drift
    (what we found, or our restore's): one webhook-id per drift."""
    return notes.drift_repaired(conn.account_id, conn.user_id, event_id, kind, (identity,), restored=restored)


class DriftCheck:
    def __init__(self, store: DriftStore, mappings: MappingStore, calendars: Calendars, policy: str = "restore",
                 throttle: UserThrottle | None = None, max_wait: float = 5.0, lease_seconds: float = 120.0,
                 clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep,
                 debounce: float = 0.0, send_updates: str = "none") -> None:
        self.store = store
        self.send_updates = send_updates  # SEND_UPDATES
        self.mappings = mappings
        self.leases = Leases(mappings, lease_seconds, clock)
        self.calendars = calendars
        self.policy = policy
        self.throttle = throttle
        self.max_wait = max_wait
        self.check_lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.sleep = sleep
        self.debounce = debounce  # seconds a burst of pings has to settle into this one check

    def run(self, account_id: str, user_id: str) -> Outcome:
        if self.policy == "off":
            return Outcome("drift_off")
        lease_id = uuid.uuid4().hex
        state = self.store.begin_check(account_id, user_id, lease_id, self.clock() + self.check_lease)
        if state is None:  # another check is running: this one comes back after it
            return Outcome("drift_busy", acknowledge=False, retry_after=5)
        if not state.enrolled:
            return Outcome("drift_not_enrolled")  # disconnected (its drift state forgotten)
        result = _Tally()
        try:
            # A burst of pings settles first, and a connection's checks start at least one debounce
            # window apart however the pings come (docs/drift.md#how-it-notices).
            settled = [t + timedelta(seconds=self.debounce) for t in (state.pending_at, state.last_started_at)
                       if t is not None and self.debounce > 0]
            wait = (max(settled) - self.clock()).total_seconds() if settled else 0.0
            if wait > 0:
                self.sleep(min(wait, self.debounce))
            self.store.listing_started(account_id, user_id, lease_id, self.clock())
            # Read after the pause: a calendar switched meanwhile is the one to list.
            connection = self.mappings.get_connection(account_id, user_id)
            if connection is None or not connection.can_write or connection.calendar_id is None:
                self.store.release_check(account_id, user_id, lease_id)
                return Outcome("drift_not_active")
            token, keep = self._pages(connection, state, result)
        except BaseException:
            self.store.release_check(account_id, user_id, lease_id)
            raise
        self.store.end_check(account_id, user_id, lease_id, token, connection.calendar_id, keep)
        return Outcome("drift_checked", calendar_calls=result.calendar_calls, counts=result.counts)

    # -- listing -----------------------------------------------------------------------------
    def _pages(self, conn: Connection, state: CheckState, result: _Tally) -> tuple[str | None, bool]:
        """Every page since the stored token (or all, without one); the next token, and whether
        the old one must be kept because an event was busy."""
        assert conn.calendar_id is not None
        session = self.calendars.session(conn)
        token = state.sync_token if state.calendar_id == conn.calendar_id else None
        result.counts["full_listing"] += token is None
        page_token: str | None = None
        busy = False
        while True:
            self._pace(conn)
            try:
                page = session.list_events(conn.calendar_id, token, page_token)
            except SyncTokenExpired:
                result.calendar_calls += 1
                token, page_token = None, None  # 410: list everything again; the new token replaces it
                result.counts["full_listing"] += 1
                continue
            except RateLimited as exc:
                self._cool_down(conn, exc)
                raise
            result.calendar_calls += 1
            ours = {eid: e for e in page.get("items") or []
                    if (eid := source_event_id(e, conn.account_id, conn.user_id)) is not None}
            mappings = self.mappings.get_mappings(conn.account_id, conn.user_id, sorted(ours)) if ours else {}
            for event_id, event in ours.items():
                outcome = self._one(session, conn, event_id, event, mappings.get(event_id), result)
                result.counts[outcome] += 1
                busy = busy or outcome == "busy"
            page_token = page.get("nextPageToken")
            if not page_token:
                return page.get("nextSyncToken"), busy

    # -- one event ---------------------------------------------------------------------------
    def _one(self, session: CalendarSession, conn: Connection, event_id: str, event: dict[str, Any],
             mapping: Mapping | None, result: _Tally) -> str:
        now = self.clock()
        if mapping is None or mapping.deleted or not mapping.google_exists:
            return "not_live"  # ours and deleted by us, never written, or from an earlier connection
        if mapping.calendar_id not in (None, conn.calendar_id):
            return "elsewhere"
        if held(mapping.lease, now):
            return "busy"  # a write in flight wins
        if event.get("etag") == mapping.etag:
            return "ours"
        listed = source_version(event)
        if listed is not None and mapping.version is not None and listed > mapping.version:
            return "busy"  # a write of ours whose result is not recorded yet
        deleted = event.get("status") == "cancelled"
        body = self._body(mapping)
        if body is None or (not deleted and same_content(event, body)):
            return self._settle(conn, mapping, str(event.get("etag") or ""), None, "adopted")
        kind = DELETED if deleted else EDITED
        if self.policy == "report":
            seen = str(event.get("etag") or "")
            return self._settle(conn, mapping, seen, (kind, False, seen), "reported")
        return self._restore(session, conn, mapping, body, kind, event, result)

    def _policy(self, mapping: Mapping) -> str:
        """The sendUpdates of the version a restore puts back: its notify_attendees, else SEND_UPDATES."""
        assert mapping.applied is not None
        return version_policy(parse_change(mapping.applied, str(mapping.applied.get("webhook_id") or "")),
                              self.send_updates)

    @staticmethod
    def _body(mapping: Mapping) -> dict[str, Any] | None:
        if not mapping.applied:
            return None  # written before drift repair kept what it applied: nothing to restore from
        try:
            change = parse_change(mapping.applied, str(mapping.applied.get("webhook_id") or ""))
        except InvalidPayload:
            return None
        return event_body(change, mapping.google_event_id) if not change.is_delete else None

    def _settle(self, conn: Connection, expected: Mapping, etag: str, notice: tuple[str, bool, str] | None,
                outcome: str) -> str:
        """Record ``etag`` as ours (and stage the notice: kind, restored, identity) if the mapping
        is still what we judged and no write started meanwhile."""
        now = self.clock()

        def work(c: Connection | None, m: Mapping | None) -> tuple[bool, Mapping | None, None,
                                                                    Sequence[notes.Notification]]:
            if m is None or not _same_judgement(m, expected) or held(m.lease, now):
                return False, None, None, ()  # a change got in between, or a write started: it wins
            return True, replace(m, etag=etag), None, self._notice(c, expected.event_id, notice)

        done = self.mappings.update_event(conn.account_id, conn.user_id, expected.event_id, work)
        return self._settled(conn, expected.event_id, notice, outcome) if done else "raced"

    def _notice(self, conn: Connection | None, event_id: str,
                notice: tuple[str, bool, str] | None) -> Sequence[notes.Notification]:
        # Disconnected meanwhile: the disconnect removes the event; nothing is announced.
        if notice is None or conn is None or conn.gone:
            return ()
        kind, restored, identity = notice
        return [drift_notification(conn, event_id, kind, restored, identity)]

    def _settled(self, conn: Connection, event_id: str, notice: tuple[str, bool, str] | None, outcome: str) -> str:
        if notice is not None:
            logs.log(logging.INFO, "drift " + outcome, {
                "function": "sync_worker", "job": "drift_check", "account_id": conn.account_id,
                "user_id": conn.user_id, "event_id": event_id, "drift_kind": notice[0], "outcome": outcome})
        return outcome

    def _restore(self, session: CalendarSession, conn: Connection, mapping: Mapping, body: dict[str, Any],
                 kind: str, listed: dict[str, Any], result: _Tally) -> str:
        assert conn.calendar_id is not None
        listed_etag = str(listed.get("etag") or "") or None

        def judge(c: Connection | None, m: Mapping | None, now: datetime) -> Take[None] | Pass[None]:
            if m is None or not _same_judgement(m, mapping) or held(m.lease, now):
                return Pass(None)
            if c is None or not c.can_write:  # a disconnect began: its own deletes are not drift
                return Pass(None)
            assert m.version is not None
            return Take(None, m, m.version)

        claim = self.leases.claim(conn.account_id, conn.user_id, mapping.event_id, judge)
        if not claim.held:
            return "raced"
        try:
            self._pace(conn)
            # Over the etag listed: a write of ours abandoned earlier cannot land over the restore.
            # Who hears of it: the event's policy when the restore changes what guests see in the
            # event as listed (the hand edit), nobody when it does not (docs/guests.md#guest-mails-exactly-once).
            mail = Mail(self._policy(mapping), body, listed)
            _, calls, etag = writes.update(session, conn.calendar_id, mapping.google_event_id, body, listed_etag,
                                           lambda: self.leases.renew(claim), mail=mail)
            result.calendar_calls += calls  # a 404/410 (purged for good): the same id again
        except RateLimited as exc:
            result.calendar_calls += 1
            self._cool_down(conn, exc)
            self.leases.release(claim)
            raise
        except (Permanent, AuthRevoked, CalendarUnavailable, UsageLimited):
            # UsageLimited: Google refuses writes for hours; the drift is found again by a later
            # check once the calendar takes writes (docs/errors-and-limits.md#usage-limits).
            result.calendar_calls += 1
            self.leases.release(claim)
            return "failed"
        except writes.Superseded:
            result.calendar_calls += 1
            self.leases.release(claim)
            return "busy"  # a write of ours not recorded yet: the worker's redelivery wins
        except BaseException:
            self.leases.release(claim)
            raise
        return self._restored(conn, claim, kind, etag)

    def _restored(self, conn: Connection, claim: Claim[None], kind: str, etag: str | None) -> str:
        """Our restore's etag recorded, with its notice, while the lease is still ours."""
        assert claim.lease_id is not None
        notice = (kind, True, etag or claim.lease_id)

        def record(c: Connection | None, m: Mapping) -> Record | None:
            if claim.leased is None or m.etag != claim.leased.etag:
                return None  # changed under our lease: nothing to record
            return replace(m, etag=etag or ""), None, self._notice(c, claim.event_id, notice)

        done = self.leases.finish(claim, record)
        return self._settled(conn, claim.event_id, notice, "restored") if done else "raced"

    # -- quota: a listing is a call like any other, on the bulk budget ----------------------
    def _pace(self, conn: Connection) -> None:
        """Checks are background work: they take a token only while the user's bucket keeps its
        reserve for live changes (as snapshots and moves do), so pings never slow a webhook."""
        if self.throttle is not None:
            self.throttle.take_bulk_turn(conn.key, self.max_wait, self.sleep)

    def _cool_down(self, conn: Connection, exc: RateLimited) -> None:
        if self.throttle is not None:
            self.throttle.cool_down(conn.key, exc.retry_after)


def _same_judgement(now: Mapping, judged: Mapping) -> bool:
    """The mapping still is what the decision was made on (else a change got in between)."""
    return (now.version, now.etag, now.deleted, now.google_exists, now.calendar_id) == \
        (judged.version, judged.etag, judged.deleted, judged.google_exists, judged.calendar_id)
