"""The retries of ``usage_limited`` calendars, one maintenance task (sync/limits/__init__.py).

A try applies one parked change of the connection through the worker's own path
(``SyncService.apply`` with ``usage_retry``: the same lease, version rules and recording), the
oldest parked version first. Only the connection's try lease lets it write: every other change of
the connection is still parked meanwhile. The verdict:

    written             the calendar takes writes again: ``active`` + ``connection.resumed`` in one
                        transaction (only while the try is still ours: a reconnect or a disconnect
                        since then wins), then the other parked changes go back through the queue;
                        the retry is dropped only once they all went (a run that dies in between is
                        followed by one that sends them)
    limited again       the next retry after the next pause; no second ``connection.usage_limited``
                        (the platform was told once per transition; the status route shows the
                        new ``retry_at``)
    no verdict          Calendar unreachable, rate limited, the event busy: the lease is given back
                        and the retry stays due for the next maintenance run
    another status      the grant revoked, the calendar gone: that status took over (its own
                        transition and notification), the retry is dropped with it

A parked change that Calendar refuses for good (a 400) or that is no longer needed (stale) says
nothing about the limit: the next one is tried, a few at most per run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sync.apply.parked import resume_parked
from sync.apply.service import SyncService
from sync.kernel import logs
from sync.kernel import notification as notes
from sync.kernel.clock import utcnow
from sync.kernel.errors import InvalidPayload, Retryable
from sync.kernel.model import Connection, ConnectionStatus, Mapping
from sync.kernel.payload import parse_change
from sync.kernel.ports import MappingStore, Publisher, UsageLimitStore
from sync.kernel.usage import DEFAULT_FIRST_PAUSE_SECONDS, DUE_EARLY_SECONDS, next_try

WRITTEN = ("created", "restored", "updated", "recreated", "deleted", "deleted_already")
INCONCLUSIVE_AT_MOST = 5  # parked changes tried per connection and run that say nothing of the limit
BATCH = 50  # connections tried per maintenance run (the rest are due on the next)


class UsageRetry:
    def __init__(self, store: UsageLimitStore, mappings: MappingStore, service: Callable[[], SyncService],
                 live: Publisher, first_pause: float = DEFAULT_FIRST_PAUSE_SECONDS,
                 lease_seconds: float = 120.0, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.mappings = mappings
        self.service = service  # built on first use: a run with nothing due builds no Calendar client
        self.live = live
        self.first_pause = first_pause
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock

    def retry_due(self) -> dict[str, int]:
        """The maintenance task: try each connection whose retry is due; counts for the log."""
        counts = {"usage_retried": 0, "usage_resumed": 0, "usage_still_limited": 0}
        due_by = self.clock() + timedelta(seconds=DUE_EARLY_SECONDS)  # docs/errors-and-limits.md#usage-limits
        for account_id, user_id in self.store.due(due_by, BATCH):
            try:
                verdict = self.try_calendar(account_id, user_id, due_by)
            except Retryable as exc:  # the parked changes not all handed back: the next run does it
                logs.log(logging.WARNING, "usage-limited calendar resumed, its parked changes sent on the next run",
                         {"function": "sync_worker", "account_id": account_id, "user_id": user_id,
                          "reason": exc.reason})
                verdict = "later"
            if verdict is None:
                continue
            counts["usage_retried"] += 1
            counts["usage_resumed"] += verdict == "resumed"
            counts["usage_still_limited"] += verdict == "limited"
        return counts

    def try_calendar(self, account_id: str, user_id: str, due_by: datetime | None = None) -> str | None:
        """One try of one connection: "resumed", "limited", "later", "other", or None when it is not
        due (by ``due_by``, default now) or another run is trying it."""
        now = self.clock()
        lease_id = uuid.uuid4().hex
        conn = self.store.begin_try(account_id, user_id, lease_id, now, now + self.lease, due_by=due_by or now)
        if conn is None:
            return None
        fields = {"function": "sync_worker", "account_id": account_id, "user_id": user_id,
                  "failed_tries": conn.retry_step}
        if conn.status is ConnectionStatus.ACTIVE:
            return self._hand_back(conn, lease_id, fields)  # a resume whose run died before handing back
        try:
            verdict = self._try_parked(conn)
        except Retryable as exc:
            self.store.release_try(account_id, user_id, lease_id)
            logs.log(logging.INFO, "usage-limited calendar: no verdict, tried again on the next run",
                     {**fields, "reason": exc.reason})
            return "later"
        if verdict == "written":
            resumed = notes.resumed(account_id, user_id, conn.calendar_id, (lease_id,), self.clock())
            if not self.store.resume(account_id, user_id, lease_id, resumed):
                return "other"  # reconnected or disconnected meanwhile: that transition resumes or forgets
            return self._hand_back(conn, lease_id, fields)
        if verdict == "limited":
            failed = conn.retry_step + 1
            retry_at = next_try(self.clock(), self.first_pause, failed)
            self.store.postpone(account_id, user_id, lease_id, retry_at, failed)
            logs.log(logging.INFO, "usage-limited calendar still limited",
                     {**fields, "failed_tries": failed, "retry_at": notes.rfc3339(retry_at)})
            return "limited"
        self.store.release_try(account_id, user_id, lease_id)
        return verdict

    def _hand_back(self, conn: Connection, lease_id: str, fields: dict[str, object]) -> str:
        """Send the parked changes back through the queue, then drop the retry. A failed publish
        (Retryable) leaves the retry due: the next run after this one's lease sends them again
        (a change sent twice is a duplicate, applied once)."""
        sent = resume_parked(self.mappings, self.live, conn.account_id, conn.user_id)
        self.store.finish_resume(conn.account_id, conn.user_id, lease_id)
        logs.log(logging.INFO, "usage-limited calendar takes writes again", {**fields, "count": sent})
        return "resumed"

    def _try_parked(self, conn: Connection) -> str:
        """Apply parked changes, oldest version first, until one says whether the calendar takes
        writes: "written", "limited", "later" (busy) or "other" (another status took over)."""
        tried = 0
        for mapping in oldest_first(self.mappings.parked(conn.account_id, conn.user_id)):
            assert mapping.parked is not None
            try:
                change = parse_change(mapping.parked, str(mapping.parked.get("webhook_id", "")))
            except InvalidPayload:
                continue  # kept in the contract's shape: unreachable unless the document was edited
            outcome = self.service().apply(change, usage_retry=True)
            if outcome.name in WRITTEN:
                return "written"
            if outcome.name == "parked_usage_limited":
                return "limited"
            if outcome.name.startswith("park") or outcome.name == "no_connection":
                return "other"
            if not outcome.acknowledge:
                return "later"
            tried += 1
            if tried >= INCONCLUSIVE_AT_MOST:
                return "later"
        # Nothing parked to try with (or nothing that tells): active again; the next write that meets
        # the limit makes it usage_limited again.
        return "written"


def oldest_first(parked: list[Mapping]) -> list[Mapping]:
    """Parked changes by version, oldest first (one per event: its newest)."""
    return sorted((m for m in parked if m.parked is not None and m.parked_version is not None),
                  key=lambda m: m.parked_version.key if m.parked_version else "")
