"""The steps of a disconnect after its transition (sync/connections/disconnect.py): stop the
channel, forget, remove the events (paced, fenced by the writers' leases), revoke, finish. Each
call of ``step`` goes as far as its time allows and can be called again, by the request or by the
next job of the chain: every part is safe to run twice. On ports only."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.kernel import logs
from sync.kernel.clock import utcnow
from sync.kernel.errors import (
    AuthRevoked,
    CalendarNotFound,
    CalendarUnavailable,
    Permanent,
    RateLimited,
    Retryable,
    UsageLimited,
)
from sync.kernel.leases import held_until
from sync.kernel.model import connection_key
from sync.kernel.planner import source_event_id
from sync.kernel.ports import (
    Calendars,
    CalendarSession,
    ChannelRecord,
    DisconnectStore,
    OAuthClient,
    TokenVault,
    Watches,
)
from sync.kernel.throttle import UserThrottle

INLINE_EVENTS = 50  # at most this many events are removed within the DELETE request (200, as before)
SETTLE_EVERY = 10  # removals recorded per transaction
SCAN = 100  # mappings looked at per round
SWEEP_GRACE = 45.0  # after this, a Calendar call that timed out has surely been answered (or dropped)


@dataclass(frozen=True)
class Progress:
    """Where a step left the disconnect. ``retry_after`` set: a transient failure, try again then;
    ``limited``: Google's usage limits refuse the deletes for hours, so the chain waits for the
    maintenance task that resumes stalled chains (docs/errors-and-limits.md#usage-limits) instead of
    retrying through the queue; else, unless ``finished``, more work is left for the next step."""

    finished: bool
    record: dict[str, Any]
    retry_after: float | None = None
    limited: bool = False


def removing_view(record: dict[str, Any]) -> dict[str, Any]:
    """The status route's (and a 202's) ``removing``: counts only."""
    total = record.get("total")
    return {"total": total, "removed": int(record.get("removed", 0)), "failed": int(record.get("failed", 0)),
            "state": "removing"}


class Removal:
    def __init__(self, store: DisconnectStore, calendars: Calendars, vault: TokenVault, oauth: OAuthClient,
                 watches: Watches, throttle: UserThrottle | None = None, sweep_grace: float = SWEEP_GRACE,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.calendars = calendars
        self.vault = vault
        self.oauth = oauth  # revokes the grants at the provider (Retryable when unsure)
        self.watches = watches  # stops the forgotten channel with the grant
        self.throttle = throttle
        self.sweep_grace = sweep_grace
        self.sleep = sleep
        self.clock = clock
        self.now = now

    def step(self, record: dict[str, Any], seconds: float, inline_limit: int | None = None) -> Progress:
        """Go on with the disconnect for up to ``seconds``. ``inline_limit``: stop before removing
        when more events than that are to be removed (the request hands them to the bulk lane)."""
        deadline = self.clock() + seconds

        def over() -> bool:
            return self.clock() >= deadline

        record = self._stop_channel(record)
        if record.get("phase") != "removing":
            if not self.store.forget(record, over, self.now()):
                return Progress(False, self._current(record))
            record = self._current(record)
        if record.get("remove_events") and not record.get("access_lost"):
            if inline_limit is not None and int(record.get("total") or 0) > inline_limit:
                return Progress(False, record)
            pending = self._remove(record, deadline)
            if pending is None:
                pending = self._sweep(self._current(record), deadline)
            if pending is not None:
                return Progress(False, self._current(record), pending.retry_after, pending.limited)
            record = self._current(record)
        return self._finish(record)

    def _current(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.store.get(record["account_id"], record["user_id"]) or record

    # -- 2. the channel, with the grant, before it is revoked -----------------------------------
    def _stop_channel(self, record: dict[str, Any]) -> dict[str, Any]:
        channel, refs = record.get("channel"), record.get("token_refs") or []
        if not channel or record.get("channel_stopped"):
            return record
        if refs:
            self.watches.stop_forgotten(record["account_id"], record["user_id"], refs[0],
                                        ChannelRecord(str(channel["id"]), str(channel.get("resource_id") or ""), "",
                                                      self.now()))
        self.store.update(record["account_id"], record["user_id"], record["disconnect_id"],
                          {"channel_stopped": True})
        return {**record, "channel_stopped": True}

    # -- 4. remove ------------------------------------------------------------------------------
    def _remove(self, record: dict[str, Any], deadline: float) -> Progress | None:
        """Delete the remaining mappings' Google events until none is left (None) or time is up."""
        a, u = record["account_id"], record["user_id"]
        refs = record.get("token_refs") or []
        key = connection_key(a, u)
        session: CalendarSession | None = None
        while True:
            if self.clock() >= deadline:
                return Progress(False, record)
            rows = self.store.to_remove(a, u, SCAN)
            if not rows:
                return None
            now = self.now()
            gone = [r.key for r in rows if not r.may_exist]  # a delete in flight finished meanwhile
            if gone:
                self.store.settle(record, [], [], now, dropped=gone)
                continue
            # A write that began before the transition holds its mapping until it has recorded what
            # it did (or its lease ran out: it is over by then): its event is removed after that.
            ready = [r for r in rows if not held_until(r.lease_until, now)]
            if not ready:
                wait = min(r.lease_until for r in rows if r.lease_until).timestamp() - now.timestamp() + 0.2
                if self.clock() + wait >= deadline:
                    return Progress(False, record)
                self.sleep(wait)
                continue
            if session is None:
                if not refs:
                    self._access_lost(record, "no grant")
                    return None
                session = self.calendars.session_for_ref(refs[0])
            removed: list[str] = []
            failed: list[str] = []
            try:
                for row in ready[:SETTLE_EVERY]:
                    if not self._turn(key, deadline):
                        break
                    try:
                        session.delete(row.calendar_id or record.get("calendar_id") or "",
                                       row.google_event_id, send_updates="none")  # mails nobody
                    except CalendarNotFound:
                        pass  # already gone: removed all the same
                    except Permanent:
                        failed.append(row.key)
                        continue
                    removed.append(row.key)
            except RateLimited as exc:
                if self.throttle is not None:
                    self.throttle.cool_down(key, exc.retry_after)
                return self._settled(record, removed, failed, exc.retry_after or 10.0)
            except UsageLimited:
                self.store.settle(record, removed, failed, self.now())
                return Progress(False, record, limited=True)
            except Retryable as exc:
                return self._settled(record, removed, failed, exc.retry_after or 5.0)
            except (AuthRevoked, CalendarUnavailable) as exc:
                self._settled(record, removed, failed, None)
                self._access_lost(record, type(exc).__name__)
                return None
            self.store.settle(record, removed, failed, self.now())
            if len(removed) + len(failed) < min(len(ready), SETTLE_EVERY):
                return Progress(False, record)  # out of pacing time: the next step goes on

    # -- 4b. a last look, when a write's outcome was unknown -----------------------------------
    def _sweep(self, record: dict[str, Any], deadline: float) -> Progress | None:
        """A write whose outcome was unknown at the disconnect (timed out, or in flight) may still
        land after its event was removed. SWEEP_GRACE after the removal, the calendars it may have
        landed in are listed for the service's own live events of this user, and those are deleted:
        only then is the grant revoked. None once done (or nothing was in doubt)."""
        calendars = [c for c in record.get("sweep_calendars") or [] if c]
        if not calendars or record.get("swept") or record.get("access_lost"):
            return None
        a, u, did = record["account_id"], record["user_id"], record["disconnect_id"]
        at = record.get("sweep_at")
        if not isinstance(at, datetime):
            at = self.now() + timedelta(seconds=self.sweep_grace)
            self.store.update(a, u, did, {"sweep_at": at})
        wait = (at - self.now()).total_seconds()
        if wait > 0:
            if self.clock() + wait >= deadline:
                return Progress(False, record)
            self.sleep(wait)
        refs = record.get("token_refs") or []
        session = self.calendars.session_for_ref(refs[0])
        found = 0
        try:
            for calendar_id in calendars:
                page_token = None
                while True:
                    if not self._turn(connection_key(a, u), deadline):
                        return Progress(False, record)
                    page = session.list_own(calendar_id, a, u, page_token)
                    for event in page.get("items") or []:
                        if event.get("status") == "cancelled" or source_event_id(event, a, u) is None:
                            continue
                        if not self._turn(connection_key(a, u), deadline):
                            return Progress(False, record)
                        try:
                            session.delete(calendar_id, event["id"], send_updates="none")
                            found += 1
                        except (CalendarNotFound, Permanent):
                            pass
                    page_token = page.get("nextPageToken")
                    if not page_token:
                        break
        except (AuthRevoked, CalendarUnavailable) as exc:
            self._access_lost(record, type(exc).__name__)
            return None
        except UsageLimited:
            return Progress(False, record, limited=True)
        except Retryable as exc:
            return Progress(False, record, exc.retry_after or 5.0)
        self.store.update(a, u, did, {"swept": True, "removed": int(record.get("removed", 0)) + found,
                                      "updated_at": self.now()})
        if found:
            logs.log(logging.WARNING, "disconnect removed events written after their removal", {
                "function": "disconnect", "account_id": a, "user_id": u, "count": found})
        return None

    def _settled(self, record: dict[str, Any], removed: list[str], failed: list[str],
                 retry_after: float | None) -> Progress:
        self.store.settle(record, removed, failed, self.now())
        return Progress(False, record, retry_after)

    def _turn(self, key: str, deadline: float) -> bool:
        """A Calendar call on the user's bulk budget (600/min per user), waiting at most until the
        deadline: True once taken."""
        if self.throttle is None:
            return True
        return self.throttle.wait_bulk_turn(key, max(0.0, deadline - self.clock()), self.sleep) is None

    def _access_lost(self, record: dict[str, Any], reason: str) -> None:
        """Google access went away during the removal: what is left cannot be removed."""
        logs.log(logging.WARNING, "disconnect cannot remove the remaining events", {
            "function": "disconnect", "account_id": record["account_id"], "user_id": record["user_id"],
            "reason": reason})
        self.store.update(record["account_id"], record["user_id"], record["disconnect_id"], {"access_lost": True})

    # -- 5. revoke, then finish -----------------------------------------------------------------
    def _finish(self, record: dict[str, Any]) -> Progress:
        a, u = record["account_id"], record["user_id"]
        self.store.drop_mappings(record, self.now())
        refs = list(record.get("token_refs") or [])
        pending = self.store.pending_grant(a, u)
        for ref in refs + ([pending] if pending and pending not in refs else []):
            try:
                self.oauth.revoke(self.vault.read_refresh_token(ref))
            except AuthRevoked:
                pass  # the token is gone already
            self.vault.destroy(ref)
        final = self.store.finish(record, self.now())
        if final is not None:
            logs.log(logging.INFO, "disconnected", {
                "function": "disconnect", "account_id": a, "user_id": u, "outcome": "disconnected",
                "count": int(final.get("removed", 0))})
        return Progress(True, final or record)
