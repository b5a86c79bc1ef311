"""A calendar switch through the queue (CONTRACT §7): ``POST /calendars`` answers at once.

The connection points at the new calendar first; then every synced event is moved by
"calendar_move" jobs on the bulk lane (chunks of mapping ids, paced like bulk writes). Each
move holds the event's lease, so it never runs beside a change of the same event; a change that
arrives before its event was moved moves it itself (the planner's ``move_from``), and the job
then finds it done. Progress is on the status route as ``"moving": {"total", "done"}``.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

from sync.adapters.firestore_store import WRITE_RETRY
from sync.kernel.errors import AuthRevoked, Retryable
from sync.kernel.model import Connection, ConnectionStatus, Lease, Mapping, connection_key
from sync.kernel.outcome import Outcome
from sync.service import SyncService, move_event, utcnow
from sync.snapshots.store import SnapshotStore

MOVE_CHUNK = 25  # a chunk is applied in one request, paced: keep it a few seconds long
MAX_CHUNK_SECONDS = 20.0
PURGE_AFTER = timedelta(days=8)


def start_move(store: SnapshotStore, bulk: Any, account_id: str, user_id: str, source: str,
               destination: str) -> int:
    """Record the switch and publish its move jobs; return how many events will move. Call it
    once the connection points at ``destination``."""
    from sync.snapshots.apply import publish_all

    ids = sorted(d["event_id"] for d in store.mapping_docs(account_id, user_id)
                 if not d.get("deleted") and d.get("calendar_id") != destination
                 and (d.get("google_exists") or d.get("google_uncertain") or d.get("lease_id")))
    move_id = "mv_" + secrets.token_urlsafe(12)
    now = utcnow()
    chunks = [ids[i:i + MOVE_CHUNK] for i in range(0, len(ids), MOVE_CHUNK)]
    store.move_ref(connection_key(account_id, user_id)).set({
        "move_id": move_id, "account_id": account_id, "user_id": user_id, "source": source,
        "destination": destination, "total": len(ids), "done": 0, "chunks": len(chunks), "chunks_done": [],
        "started_at": now, "finished_at": None if ids else now, "purge_at": now + PURGE_AFTER}, retry=WRITE_RETRY)
    publish_all(bulk, [({"schema": 1, "kind": "calendar_move", "move_id": move_id, "account_id": account_id,
                         "user_id": user_id, "source": source, "destination": destination, "chunk": n,
                         "event_ids": chunk},
                        f"{account_id}/{user_id}/{move_id}:{n}") for n, chunk in enumerate(chunks)])
    return len(ids)


def move_status(store: SnapshotStore, account_id: str, user_id: str) -> dict[str, Any] | None:
    snap = store.move_ref(connection_key(account_id, user_id)).get()
    if not snap.exists:
        return None
    doc = snap.to_dict() or {}
    return {"total": int(doc.get("total", 0)), "done": int(doc.get("done", 0)),
            "calendar_id": doc.get("destination"),
            "state": "done" if int(doc.get("done", 0)) >= int(doc.get("total", 0)) else "moving"}


def move_job(data: dict[str, Any]) -> Outcome:
    from sync import bootstrap
    from sync.snapshots.wiring import engine

    return run_move(engine().store, bootstrap.sync_service(), data)


def run_move(store: SnapshotStore, service: SyncService, data: dict[str, Any]) -> Outcome:
    account_id, user_id = str(data["account_id"]), str(data["user_id"])
    destination, move_id, chunk = str(data["destination"]), str(data["move_id"]), int(data["chunk"])
    source = str(data.get("source") or "")
    fields: dict[str, Any] = {"account_id": account_id, "user_id": user_id, "lane": "bulk"}
    ref = store.move_ref(connection_key(account_id, user_id))
    current = ref.get()
    if not current.exists or (current.to_dict() or {}).get("move_id") != move_id:
        return Outcome("move_superseded", fields=fields)  # a later switch moves everything itself
    started = service.clock()
    busy = calls = 0
    for event_id in data.get("event_ids") or []:
        result = _relocate(service, account_id, user_id, str(event_id), source, destination, started)
        calls += result != "skipped"
        if result in ("busy", "later"):
            busy += 1
        if result == "revoked":
            return Outcome("move_parked_needs_reauth", fields={**fields, "calendar_calls": calls})
    fields["calendar_calls"] = calls
    if busy:
        return Outcome("move_busy", acknowledge=False, retry_after=2.0, fields={**fields, "count": busy})
    _chunk_done(store, ref, move_id, chunk, len(data.get("event_ids") or []), service.clock())
    return Outcome("moved", fields={**fields, "count": len(data.get("event_ids") or [])})


def _chunk_done(store: SnapshotStore, ref: Any, move_id: str, chunk: int, size: int, now: datetime) -> None:
    @firestore.transactional
    def run(txn: firestore.Transaction) -> None:
        snap = next(iter(txn.get_all([ref])), None)
        doc = (snap.to_dict() or {}) if snap is not None and snap.exists else {}
        if doc.get("move_id") != move_id or chunk in doc.get("chunks_done", []):
            return
        done = int(doc.get("done", 0)) + size
        txn.update(ref, {"chunks_done": firestore.ArrayUnion([chunk]), "done": done,
                         **({"finished_at": now} if done >= int(doc.get("total", 0)) else {})})

    run(store.db.transaction())


def _relocate(service: SyncService, account_id: str, user_id: str, event_id: str, source: str,
              destination: str, started: datetime) -> str:
    """Move one event under its lease: "moved", "skipped" (nothing to do), "busy" (a change of
    it is in flight), "later" (out of pacing time) or "revoked"."""
    now = service.clock()
    lease_id = uuid.uuid4().hex

    def claim(conn: Connection | None, mapping: Mapping | None):  # type: ignore[no-untyped-def]
        if (conn is None or conn.calendar_id != destination or mapping is None or mapping.deleted
                or mapping.version is None or (mapping.calendar_id or source) in ("", destination)
                or not (mapping.google_exists or mapping.google_uncertain)):
            return ("skipped", None), None, None
        if mapping.lease is not None and mapping.lease.until > now:
            return ("busy", None), None, None
        if not conn.can_write:
            return ("revoked", None), None, None
        leased = replace(mapping, lease=Lease(lease_id, mapping.version, now + service.lease))
        return ("move", (conn, mapping)), leased, None

    (verdict, found) = service.store.update_event(account_id, user_id, event_id, claim)
    if verdict != "move":
        return str(verdict)
    conn, mapping = found
    origin = mapping.calendar_id or source
    throttle = service.throttle
    if throttle is not None:
        left = MAX_CHUNK_SECONDS - (service.clock() - started).total_seconds()
        if throttle.wait_bulk_turn(conn.key, left, service.sleep) is not None:
            _settle(service, account_id, user_id, event_id, lease_id, None)
            return "later"
    try:
        # False: deleted by hand in the source, or the source is gone: the next change re-creates it.
        exists = move_event(service.calendars.session(conn), origin, mapping.google_event_id, destination)
    except AuthRevoked:
        _settle(service, account_id, user_id, event_id, lease_id, None, ConnectionStatus.NEEDS_REAUTH)
        return "revoked"
    except Retryable as exc:
        if throttle is not None and exc.retry_after is not None:
            throttle.cool_down(conn.key, exc.retry_after)
        _settle(service, account_id, user_id, event_id, lease_id, None)
        return "later"
    _settle(service, account_id, user_id, event_id, lease_id, (destination, exists))
    return "moved"


def _settle(service: SyncService, account_id: str, user_id: str, event_id: str, lease_id: str,
            moved: tuple[str, bool] | None, status: ConnectionStatus | None = None) -> None:
    def work(conn: Connection | None, mapping: Mapping | None):  # type: ignore[no-untyped-def]
        if mapping is None or mapping.lease is None or mapping.lease.id != lease_id:
            return None, None, status
        new = replace(mapping, lease=None)
        if moved is not None:
            new = replace(new, calendar_id=moved[0], google_exists=moved[1], google_uncertain=False)
        return None, new, status

    service.store.update_event(account_id, user_id, event_id, work)
