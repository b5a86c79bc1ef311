"""Disconnect (docs/connections.md#disconnect): a state first, then removal, then the revoke.

    DELETE /api/connections/{a}/{u}[?remove_events=true]
      1. one transaction: the connection becomes ``disconnecting`` (every writer sees it: the worker's
         changes, snapshot changes, drift restores and calendar moves are refused from here on), its
         drift state (channel, sync token, pending check) and its calendar move are forgotten, and a
         ``disconnects/{a:u}`` record keeps what the rest needs: the grants (references), calendar
         and channel, no event contents;
      2. the channel is stopped at Google;
      3. forget: mappings that need no removal are deleted, the others keep only what deleting their
         Google event needs (ids, calendar, lease); the user's snapshots, event copies included, go;
      4. remove (``remove_events``): each remaining mapping's Google event is deleted (sendUpdates
         none), its mapping with it; a mapping still leased by a write that began before step 1
         is left until its lease ends, so no write lands after its event was removed;
      5. revoke and destroy the grants, then ``disconnected`` with ``connection.disconnected``
         (``events_removed``) in one transaction.

Few events (``INLINE_EVENTS``): all of it within the request (200, as before). More: the request
answers 202 after step 3 and ``disconnect`` jobs on the bulk lane do the rest, paced on the user's
bulk budget, each continuing the chain (the record's ``job_seq`` names the one job that may
continue it, so a redelivered or resumed job never runs a second chain beside the first); the
status route shows ``"removing"`` meanwhile. A chain that stalls (a lost job) is resumed by the
maintenance task. Steps 2–5 are sync/connections/removal.py. On ports only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.connections.removal import INLINE_EVENTS, Progress, Removal, removing_view
from sync.kernel import logs
from sync.kernel.clock import utcnow
from sync.kernel.errors import AuthRevoked, CalendarNotFound, CalendarUnavailable, Permanent, Retryable
from sync.kernel.jobs import publish_jobs
from sync.kernel.model import Connection, ConnectionStatus
from sync.kernel.outcome import Outcome
from sync.kernel.ports import Calendars, ConnectionStore, DisconnectStore, Publisher

KIND = "disconnect"
REQUEST_SECONDS = 20.0  # what the request spends before leaving the rest to the bulk lane
JOB_SECONDS = 20.0
STALLED_AFTER = timedelta(minutes=10)  # no progress for this long: its job was lost


def ordering_key(account_id: str, user_id: str) -> str:
    return f"{account_id}/{user_id}/~disconnect"


USAGE_LIMITED_DETAIL = ("Google's usage limits refuse every write to this calendar for now; disconnect without "
                        "remove_events, or remove them once the connection is active again")


@dataclass(frozen=True)
class Requested:
    """What a DELETE came to: "refused" (remove_events, but Google access is gone or usage-limited:
    nothing changed; ``record`` may hold the answer's ``detail``),
    "done" (within the request: ``record`` is the final one), or "running" (the bulk lane goes on)."""

    kind: str
    record: dict[str, Any]

    @property
    def removing(self) -> dict[str, Any]:
        return removing_view(self.record)


class Disconnect:
    def __init__(self, store: DisconnectStore, connections: ConnectionStore, calendars: Calendars,
                 removal: Removal, bulk: Publisher, now: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.connections = connections
        self.calendars = calendars
        self.removal = removal
        self.bulk = bulk
        self.now = now

    # -- DELETE /api/connections/{a}/{u} --------------------------------------------------------------
    def request(self, account_id: str, user_id: str, remove_events: bool) -> Requested:
        conn = self.connections.get_connection(account_id, user_id)
        live = conn is not None and not conn.gone and conn.status is not ConnectionStatus.DISCONNECTED
        if remove_events and live and conn is not None and conn.status is ConnectionStatus.USAGE_LIMITED:
            # Google refuses every write of the calendar for a while: its events cannot be removed now.
            return Requested("refused", {"detail": USAGE_LIMITED_DETAIL})
        if remove_events and live and not self._can_remove(conn):
            return Requested("refused", {})
        begun = self.store.begin(account_id, user_id, remove_events, self.now())
        if begun.kind in ("never", "disconnected"):
            return Requested("done", {"removed": 0, "deleted_mappings": 0})
        if begun.kind == "running":
            return Requested("running", begun.record)
        record = begun.record
        logs.log(logging.INFO, "disconnecting", {"function": "integrations", "account_id": account_id,
                                                 "user_id": user_id, "outcome": "disconnecting"})
        progress: Progress | None
        try:
            progress = self.removal.step(record, REQUEST_SECONDS, inline_limit=INLINE_EVENTS)
        except Retryable as exc:  # the transition is made: the bulk lane finishes what is left
            logs.log(logging.WARNING, "disconnect continues on the bulk lane", {
                "function": "integrations", "account_id": account_id, "user_id": user_id, "reason": exc.reason})
            progress = None
        if progress is not None and progress.finished:
            return Requested("done", progress.record)
        current = self.store.get(account_id, user_id) or record
        self.publish_step(current)
        return Requested("running", current)

    def _can_remove(self, conn: Connection | None) -> bool:
        """Google access still works for this connection (one calendarList.get): else removing its
        events cannot be done, and the disconnect is refused before anything changes."""
        if conn is None or conn.status is not ConnectionStatus.ACTIVE or not conn.token_ref or not conn.calendar_id:
            return False
        try:
            self.calendars.session_for_ref(conn.token_ref).calendar_entry(conn.calendar_id)
        except (AuthRevoked, CalendarUnavailable, CalendarNotFound, Permanent):
            return False
        return True

    def removing(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        """The status route's ``removing`` while a disconnect is under way."""
        record = self.store.get(account_id, user_id)
        return removing_view(record) if record else None

    # -- the bulk lane's job chain ------------------------------------------------------------------
    def publish_step(self, record: dict[str, Any]) -> None:
        """The job that goes on with this disconnect, at the chain's current sequence number."""
        a, u = record["account_id"], record["user_id"]
        publish_jobs(self.bulk, [({"schema": 1, "kind": KIND, "account_id": a, "user_id": u,
                                   "disconnect_id": record["disconnect_id"], "seq": int(record.get("job_seq", 0))},
                                  ordering_key(a, u))])

    def job(self, data: dict[str, Any]) -> Outcome:
        """Go on with the disconnect for up to JOB_SECONDS (paced on the user's bulk budget), then
        hand the chain to the next job."""
        account_id, user_id = data.get("account_id"), data.get("user_id")
        disconnect_id, seq = data.get("disconnect_id"), data.get("seq")
        if not all(isinstance(v, str) and v for v in (account_id, user_id, disconnect_id)) \
                or not isinstance(seq, int) or isinstance(seq, bool):
            return Outcome("invalid_job")
        assert isinstance(account_id, str) and isinstance(user_id, str)
        fields: dict[str, Any] = {"account_id": account_id, "user_id": user_id, "lane": "bulk"}
        record = self.store.get(account_id, user_id)
        if record is None or record.get("disconnect_id") != disconnect_id:
            return Outcome("disconnect_finished", fields=fields)  # finished already (or another one)
        if int(record.get("job_seq", 0)) != seq:
            return Outcome("disconnect_duplicate", fields=fields)  # the chain went on without this one
        progress = self.removal.step(record, JOB_SECONDS)
        fields["count"] = int(progress.record.get("removed", 0))
        if progress.finished:
            return Outcome("disconnected", fields=fields)
        if progress.retry_after is not None:
            return Outcome("disconnect_retry", acknowledge=False, retry_after=progress.retry_after, fields=fields)
        if progress.limited:
            # Google refuses the deletes for hours: acknowledged (never dead-lettered for it); the
            # maintenance task continues the chain once it has made no progress for STALLED_AFTER.
            return Outcome("disconnect_usage_limited", fields=fields)
        if self.store.advance(account_id, user_id, str(disconnect_id), seq, seq + 1, self.now()):
            try:
                self.publish_step({**record, "job_seq": seq + 1})
            except Retryable:
                self.store.advance(account_id, user_id, str(disconnect_id), seq + 1, seq, self.now())
                raise  # this job is redelivered and continues the chain itself
        return Outcome("disconnect_continued", fields=fields)

    def resume_stalled(self) -> dict[str, int]:
        """The maintenance task: disconnects that made no progress for STALLED_AFTER (their job
        dead-lettered or lost) have their chain continued by a new job at its current number."""
        now = self.now()
        resumed = 0
        for record in self.store.stalled(now - STALLED_AFTER):
            if record.get("disconnect_id") and self.store.update(record["account_id"], record["user_id"],
                                                                 record["disconnect_id"], {"updated_at": now}):
                self.publish_step(record)
                resumed += 1
        return {"disconnects_resumed": resumed}
