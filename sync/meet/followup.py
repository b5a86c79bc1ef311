"""The ``conference_check`` job (the container's registry, sync/bootstrap.py): one read of an event
whose Meet conference Google is still creating (``pending``), published by the write that got that
answer. Settled → recorded, and ``event.conference_ready`` / ``event.conference_failed`` staged in the
same transaction (once per conference: only the transaction that settles it stages them); still
pending → handed back to Pub/Sub with a growing pause, at most ``MAX_CHECKS`` reads in all, after
which it counts as failed. A check is a read: it takes no lease, and a write of the event meanwhile
settles the conference from its own answer (sync/kernel/conference.py) — whichever comes first
announces it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sync.kernel import conference
from sync.kernel.clock import utcnow
from sync.kernel.errors import AuthRevoked, CalendarNotFound, CalendarUnavailable, Permanent, RateLimited, Retryable
from sync.kernel.model import Connection, ConnectionStatus, Mapping, Version
from sync.kernel.outcome import Outcome
from sync.kernel.ports import Calendars, MappingStore
from sync.kernel.throttle import UserThrottle


def _readable(conn: Connection) -> bool:
    """Whether the follow-up may read the connection's calendar: while it takes writes, and while Google's
    usage limits refuse them (read-only, not unreadable: docs/errors-and-limits.md#usage-limits)."""
    usable = conn.status in (ConnectionStatus.ACTIVE, ConnectionStatus.USAGE_LIMITED)
    return usable and bool(conn.calendar_id and conn.token_ref)


class ConferenceFollowUp:
    def __init__(self, store: MappingStore, calendars: Calendars, clock: Callable[[], datetime] = utcnow,
                 throttle: UserThrottle | None = None, max_wait: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.calendars = calendars
        self.clock = clock
        self.throttle = throttle
        self.max_wait = max_wait
        self.sleep = sleep

    def check(self, data: dict[str, Any]) -> Outcome:
        ids = {k: data.get(k) for k in ("account_id", "user_id", "event_id")}
        if not all(isinstance(v, str) and v for v in ids.values()):
            return Outcome("invalid_job")
        account_id, user_id, event_id = str(ids["account_id"]), str(ids["user_id"]), str(ids["event_id"])
        try:
            anchor = Version.parse(str(data.get("version")))
        except ValueError:
            return Outcome("invalid_job", fields=ids)
        conn = self.store.get_connection(account_id, user_id)
        mapping = self.store.get_mappings(account_id, user_id, [event_id]).get(event_id)
        if mapping is None or mapping.conference_version != anchor \
                or mapping.conference_state != conference.PENDING:
            return Outcome("conference_settled_already", fields=ids)
        chain = data.get("chain") if isinstance(data.get("chain"), str) else None
        if not conference.follows(mapping, chain):
            return Outcome("conference_followed_already", fields=ids)  # another job reads it: no second chain
        if conn is None or not _readable(conn) or not mapping.google_exists:
            # Not readable now (grant revoked, calendar gone, disconnected, deleted): the event's next
            # write settles it.
            return Outcome("conference_check_skipped", fields=ids)
        self._pace(conn)
        calendar_id = mapping.calendar_id or str(conn.calendar_id)
        try:
            event = self.calendars.session(conn).get_conference(calendar_id, mapping.google_event_id)
        except RateLimited as exc:
            if self.throttle is not None:
                self.throttle.cool_down(conn.key, exc.retry_after)
            raise
        except CalendarNotFound as exc:
            if self._moved_since(account_id, user_id, event_id, calendar_id):
                # A calendar switch moved the event between our read of the mapping and Google's
                # answer: read again where it is now (a chain ended here would leave it pending).
                raise Retryable("event moved to another calendar during the check", retry_after=1.0) from None
            return Outcome("conference_check_unavailable", calendar_calls=1,
                           fields={**ids, "reason": getattr(exc, "reason", type(exc).__name__)})
        except (AuthRevoked, CalendarUnavailable, Permanent) as exc:
            # Gone, or not ours to read any more: the worker's next change of the event (or of the
            # connection) deals with it; nothing is announced from a read that saw nothing.
            return Outcome("conference_check_unavailable", calendar_calls=1,
                           fields={**ids, "reason": getattr(exc, "reason", type(exc).__name__)})
        return self._record(account_id, user_id, event_id, anchor, conference.seen(event), ids, chain)

    def _moved_since(self, account_id: str, user_id: str, event_id: str, calendar_id: str) -> bool:
        now = self.store.get_mappings(account_id, user_id, [event_id]).get(event_id)
        return now is not None and now.conference_state == conference.PENDING and now.google_exists \
            and now.calendar_id is not None and now.calendar_id != calendar_id

    def _record(self, account_id: str, user_id: str, event_id: str, anchor: Version, seen: conference.Seen,
                ids: dict[str, Any], chain: str | None) -> Outcome:
        now = self.clock()

        def work(conn: Connection | None, mapping: Mapping | None) -> tuple[
                conference.Settled | str | None, Mapping | None, None, tuple[Any, ...]]:
            if mapping is None or conn is None or conn.gone:
                return None, None, None, ()
            if seen.status == "pending" and mapping.conference_state == conference.PENDING \
                    and not conference.follows(mapping, chain):
                return "followed", None, None, ()  # another job claimed it meanwhile: this one stops
            settled = conference.after_check(mapping, anchor, seen, account_id, user_id, now, chain)
            changed = settled.mapping if settled.mapping != mapping else None
            return settled, changed, None, tuple(settled.notifications)

        settled = self.store.update_event(account_id, user_id, event_id, work)
        fields = {**ids, "calendar_calls": 1}
        if settled is None:
            return Outcome("conference_settled_already", calendar_calls=1, fields=fields)
        if isinstance(settled, str):
            return Outcome("conference_followed_already", calendar_calls=1, fields=fields)
        if settled.follow_up:
            return Outcome("conference_pending", acknowledge=False, calendar_calls=1,
                           retry_after=conference.backoff(settled.mapping.conference_checks), fields=fields)
        return Outcome(f"conference_{settled.mapping.conference_state}", calendar_calls=1, fields=fields)

    def _pace(self, conn: Connection) -> None:
        """A follow-up is background work: on the user's bulk budget, never ahead of a live change."""
        if self.throttle is not None:
            self.throttle.take_bulk_turn(conn.key, self.max_wait, self.sleep)
