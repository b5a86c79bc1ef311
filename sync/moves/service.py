"""A calendar switch through the queue (docs/snapshots.md): ``POST /calendars`` answers at once.

The connection points at the new calendar first; then every synced event is moved by
"calendar_move" jobs on the bulk lane (chunks of mapping ids, paced like bulk writes). Each
move holds the event's lease (sync/kernel/leases.py), so it never runs beside a change of the
same event; a change that arrives before its event was moved moves it itself (the planner's
``move_from``), and the job then finds it done. Progress is on the status route as
``"moving": {"total", "done"}``. On ports: the move store, the mappings, Calendar, the bulk lane.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sync.apply.service import SyncService
from sync.apply.writes import move_event
from sync.kernel.errors import AuthRevoked, Retryable, UsageLimited
from sync.kernel.jobs import publish_jobs
from sync.kernel.leases import Claim, Pass, Record, Take, held
from sync.kernel.model import Connection, ConnectionStatus, Mapping
from sync.kernel.outcome import Outcome
from sync.kernel.ports import MoveStore, Publisher

KIND = "calendar_move"
MOVE_CHUNK = 25  # a chunk is applied in one request, paced: keep it a few seconds long
MAX_CHUNK_SECONDS = 20.0
PURGE_AFTER = timedelta(days=8)


class Moves:
    """``service`` is the worker's apply: its leases, Calendar, throttle and clock are the ones
    every writer of an event shares."""

    def __init__(self, store: MoveStore, bulk: Publisher, service: SyncService) -> None:
        self.store = store
        self.bulk = bulk
        self.service = service

    def start(self, account_id: str, user_id: str, source: str, destination: str) -> int:
        """Record the switch and publish its move jobs; return how many events will move. Call it
        once the connection points at ``destination``."""
        ids = self.store.movable(account_id, user_id, destination)
        move_id = "mv_" + secrets.token_urlsafe(12)
        now = self.service.clock()
        chunks = [ids[i:i + MOVE_CHUNK] for i in range(0, len(ids), MOVE_CHUNK)]
        self.store.start(account_id, user_id, {
            "move_id": move_id, "account_id": account_id, "user_id": user_id, "source": source,
            "destination": destination, "total": len(ids), "done": 0, "chunks": len(chunks), "chunks_done": [],
            "started_at": now, "finished_at": None if ids else now, "purge_at": now + PURGE_AFTER})
        publish_jobs(self.bulk, [({"schema": 1, "kind": KIND, "move_id": move_id, "account_id": account_id,
                                   "user_id": user_id, "source": source, "destination": destination, "chunk": n,
                                   "event_ids": chunk}, f"{account_id}/{user_id}/{move_id}:{n}")
                                 for n, chunk in enumerate(chunks)])
        return len(ids)

    def status(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        """The status route's ``moving``: the latest switch's progress."""
        doc = self.store.get(account_id, user_id)
        if doc is None:
            return None
        return {"total": int(doc.get("total", 0)), "done": int(doc.get("done", 0)),
                "calendar_id": doc.get("destination"),
                "state": "done" if int(doc.get("done", 0)) >= int(doc.get("total", 0)) else "moving"}

    # -- the calendar_move job ------------------------------------------------------------------------
    def run(self, data: dict[str, Any]) -> Outcome:
        """One chunk of a switch: each event moved under its lease."""
        account_id, user_id = str(data["account_id"]), str(data["user_id"])
        destination, move_id, chunk = str(data["destination"]), str(data["move_id"]), int(data["chunk"])
        source = str(data.get("source") or "")
        fields: dict[str, Any] = {"account_id": account_id, "user_id": user_id, "lane": "bulk"}
        current = self.store.get(account_id, user_id)
        if current is None or current.get("move_id") != move_id:
            return Outcome("move_superseded", fields=fields)  # a later switch moves everything itself
        started = self.service.clock()
        busy = calls = 0
        for event_id in data.get("event_ids") or []:
            result = self._relocate(account_id, user_id, str(event_id), source, destination, started)
            calls += result != "skipped"
            if result in ("busy", "later"):
                busy += 1
            if result == "revoked":
                return Outcome("move_parked_needs_reauth", fields={**fields, "calendar_calls": calls})
            if result == "limited":
                # Google refuses writes for hours: not retried through the queue (never dead-lettered
                # for it); each event left follows on its next change (docs/errors-and-limits.md#usage-limits).
                return Outcome("move_usage_limited", fields={**fields, "calendar_calls": calls})
        fields["calendar_calls"] = calls
        if busy:
            return Outcome("move_busy", acknowledge=False, retry_after=2.0, fields={**fields, "count": busy})
        self.store.chunk_done(account_id, user_id, move_id, chunk, len(data.get("event_ids") or []),
                              self.service.clock())
        return Outcome("moved", fields={**fields, "count": len(data.get("event_ids") or [])})

    def _relocate(self, account_id: str, user_id: str, event_id: str, source: str, destination: str,
                  started: datetime) -> str:
        """Move one event under its lease: "moved", "skipped" (nothing to do), "busy" (a change of
        it is in flight), "later" (out of pacing time), "revoked" or "limited" (Google's usage limits)."""

        def judge(conn: Connection | None, mapping: Mapping | None, now: datetime) -> Take[str] | Pass[str]:
            if (conn is None or conn.calendar_id != destination or mapping is None or mapping.deleted
                    or mapping.version is None or (mapping.calendar_id or source) in ("", destination)
                    or not (mapping.google_exists or mapping.google_uncertain)):
                return Pass("skipped")
            if held(mapping.lease, now):
                return Pass("busy")
            if not conn.can_write:
                return Pass("revoked")
            return Take("move", mapping, mapping.version)

        service = self.service
        claim = service.leases.claim(account_id, user_id, event_id, judge)
        if not claim.held:
            return claim.value
        conn, mapping = claim.connection, claim.found
        assert conn is not None and mapping is not None
        origin = mapping.calendar_id or source
        throttle = service.throttle
        if throttle is not None:
            left = MAX_CHUNK_SECONDS - (service.clock() - started).total_seconds()
            if throttle.wait_bulk_turn(conn.key, left, service.sleep) is not None:
                service.leases.release(claim)
                return "later"
        try:
            # False: deleted by hand in the source, or the source is gone: the next change re-creates it.
            exists, etag = move_event(service.calendars.session(conn), origin, mapping.google_event_id, destination)
        except AuthRevoked:
            if service.leases.release(claim, status=ConnectionStatus.NEEDS_REAUTH):
                return "revoked"
            return "later"  # reconnected since the claim: moved with the new grant when the chunk comes back
        except UsageLimited:
            service.leases.release(claim)  # refused: nothing happened in Google
            return "limited"
        except Retryable as exc:
            if throttle is not None and exc.retry_after is not None:
                throttle.cool_down(conn.key, exc.retry_after)
            service.leases.release(claim)
            return "later"
        self._moved(claim, destination, exists, etag)
        return "moved"

    def _moved(self, claim: Claim[str], destination: str, exists: bool, etag: str | None) -> None:
        # The move gave the event a new etag: the condition of its next write (None: read first).
        def record(conn: Connection | None, mapping: Mapping) -> Record:
            return replace(mapping, calendar_id=destination, google_exists=exists, google_uncertain=False,
                           etag=etag), None, ()

        self.service.leases.finish(claim, record)
