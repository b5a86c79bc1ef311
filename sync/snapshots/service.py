"""Snapshots, the use case (docs/snapshots.md): create, pages, ``complete`` (plan, the mass-delete
guard, the fan-out on the bulk lane), progress, and the bulk lane's jobs. On ports only: the
snapshot store, the bulk lane, the worker's apply.

    complete ──▶ one "snapshot_page" job per page, one "snapshot_deletes" job per 500 deletes
    snapshot_page / snapshot_deletes ──▶ one "snapshot_change" per event (ordering key of the event)
    snapshot_change ──▶ SyncService.apply (versions, leases, tombstones, parking, pacing as for a
                        webhook) ──▶ one result per event, counted once ──▶ the last one finishes it

Publishing 100,000 messages inside one request would be too slow, hence the two-step fan-out;
every step is safe to run twice (a page already published is skipped, a result is recorded
once, an event whose result is recorded is not applied again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sync.apply.service import SyncService
from sync.kernel import logs
from sync.kernel import notification as notes
from sync.kernel.clock import utcnow
from sync.kernel.errors import InvalidPayload, PageRefused, PagesChanged, Retryable
from sync.kernel.jobs import publish_jobs
from sync.kernel.model import Change, Version, ordering_key
from sync.kernel.outcome import Outcome
from sync.kernel.payload import parse_change
from sync.kernel.ports import OnCompleted, Publisher, SnapshotStore
from sync.snapshots import model as m
from sync.snapshots.model import chunk_id, page_id

DELETE_CHUNK = 100
SLICE = 100  # a page is handed on 100 events per job, so no job holds a push slot for long
BULK_PRECHECK_WAIT = 1.0  # a bulk change waits this long at most for a token before handing back
PLAN_ATTEMPTS = 5  # complete plans again when a page was stored meanwhile


def completed(snapshot: dict[str, Any], counts: dict[str, int]) -> notes.Notification:
    """``snapshot.completed`` for the platform (docs/notifications.md#body), logged once as the transition commits."""
    logs.log(logging.INFO, "snapshot completed", {
        "function": "sync_worker", "snapshot_id": snapshot["snapshot_id"], "account_id": snapshot["account_id"],
        "user_id": snapshot["user_id"], "outcome": "snapshot_done", "count": sum(counts.values())})
    return notes.snapshot_completed(snapshot["account_id"], snapshot["user_id"], snapshot["snapshot_id"], counts)


class Refused(Exception):
    """The API answers ``status`` with ``body`` (a JSON error)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error", ""))
        self.status, self.body = status, body


class Snapshots:
    """The snapshot engine. ``on_completed(snapshot, counts)`` runs inside the transaction that moves
    a snapshot from applying to done (exactly once per snapshot); the notification it returns is
    staged by that transaction (``snapshot.completed``, docs/notifications.md#body)."""

    def __init__(self, store: SnapshotStore, bulk: Publisher, service: Callable[[], SyncService],
                 on_completed: OnCompleted = completed, clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.bulk = bulk
        self.on_completed = on_completed
        self.service = service
        self.clock = clock
        self.sleep = sleep

    # -- the API ---------------------------------------------------------------------------------
    def create(self, account_id: str, user_id: str, request: m.SnapshotRequest) -> str:
        connection = self.store.get_connection(account_id, user_id)
        if connection is None or connection.gone:
            raise Refused(409, {"error": "not_connected"})
        now = self.clock()
        snapshot_id = m.new_snapshot_id()
        self.store.create(snapshot_id, {
            "account_id": account_id, "user_id": user_id, "as_of": request.as_of.key,
            "covers_from": request.covers_from, "allow_mass_delete": request.allow_mass_delete,
            "repair": request.repair, "state": m.RECEIVING, "created_at": now, "expires_at": now + m.EXPIRES_AFTER,
            "purge_at": now + m.PURGE_AFTER, "events": 0, "pages_received": [], "started_at": None,
            "finished_at": None})
        return snapshot_id

    def find(self, account_id: str, user_id: str, snapshot_id: str) -> dict[str, Any]:
        """The snapshot, only under its own account and user (any other → 404)."""
        doc = self.store.get(snapshot_id) if m.valid_snapshot_id(snapshot_id) else None
        if doc is None or (doc.get("account_id"), doc.get("user_id")) != (account_id, user_id):
            raise Refused(404, {"error": "not_found"})
        return doc

    def state(self, doc: dict[str, Any]) -> str:
        if doc["state"] == m.RECEIVING and doc["expires_at"] <= self.clock():
            return m.EXPIRED
        return str(doc["state"])

    def put_page(self, doc: dict[str, Any], snapshot_id: str, n: int, changes: list[Change]) -> int:
        state = self.state(doc)
        if state != m.RECEIVING:
            raise Refused(409, {"error": "snapshot_expired" if state == m.EXPIRED else "not_receiving",
                                "state": state})
        try:
            self.store.put_page(snapshot_id, n, [(c.event_id, c.raw_event, c.version.key) for c in changes],
                                doc["purge_at"], self.clock())
        except PageRefused as exc:
            raise Refused(409, {"error": exc.error, **exc.detail}) from None
        return len(changes)

    def view(self, doc: dict[str, Any], snapshot_id: str) -> dict[str, Any]:
        state = self.state(doc)
        expected = int(doc.get("upserts", 0)) + int(doc.get("deletes", 0))
        if state == m.DONE:
            counts, pending = {**dict.fromkeys(m.CATEGORIES, 0), **doc.get("counts", {})}, 0
        elif state == m.APPLYING:
            total, counts = self.store.counts(snapshot_id)
            known = int(doc.get("unchanged_at_complete", 0))
            counts["unchanged"] += known
            pending = max(0, expected - total - known)
        else:
            counts = dict.fromkeys(m.CATEGORIES, 0)
            pending = int(doc.get("events", 0)) if state == m.RECEIVING else 0
        return {"snapshot_id": snapshot_id, "state": state, "events": int(doc.get("events", 0)),
                "upserts": doc.get("upserts"), "deletes": doc.get("deletes"), "pending": pending, "counts": counts,
                "as_of": Version(doc["as_of"]).rfc3339,
                "covers_from": Version(doc["covers_from"]).rfc3339 if doc.get("covers_from") else None,
                "created_at": _iso(doc.get("created_at")), "expires_at": _iso(doc.get("expires_at")),
                "started_at": _iso(doc.get("started_at")), "finished_at": _iso(doc.get("finished_at"))}

    def complete(self, doc: dict[str, Any], snapshot_id: str, pages: int) -> dict[str, Any]:
        for _ in range(PLAN_ATTEMPTS):
            try:
                return self._complete(doc, snapshot_id, pages)
            except PagesChanged:  # a page was stored while planning: plan again from what is stored now
                doc = self.store.get(snapshot_id) or doc
        raise Retryable("snapshot pages kept changing during complete")

    def _complete(self, doc: dict[str, Any], snapshot_id: str, pages: int) -> dict[str, Any]:
        state = self.state(doc)
        revision = int(doc.get("revision", 0))  # the pages below are read at (or after) this revision
        if state == m.APPLYING and doc.get("pages") == pages:  # the platform retried: publish again
            self._fan_out(snapshot_id, doc)
            return {"state": m.APPLYING, "upserts": doc["upserts"], "deletes": doc["deletes"]}
        if state != m.RECEIVING:
            raise Refused(409, {"error": "snapshot_expired" if state == m.EXPIRED else "not_receiving",
                                "state": state})
        stored = self.store.pages(snapshot_id)
        missing = [n for n in range(pages) if n not in stored]
        if missing:
            raise Refused(409, {"error": "missing_pages", "missing": missing[:1000]})
        newest: dict[str, str] = {}  # event id → its newest version in the snapshot
        for n in range(pages):
            for event_id, version in stored[n].items():
                newest[event_id] = max(version, newest.get(event_id, version))
        ids = set(newest)
        mappings = self.store.mapping_docs(doc["account_id"], doc["user_id"])
        deletes, live = self._plan_deletes(doc, ids, mappings)
        # Events already at (or past) their snapshot version are unchanged whatever happens next:
        # counted here, never published (a snapshot sent again costs no message and no call).
        applied = {d["event_id"]: d.get("version") for d in mappings}
        known = set() if doc.get("repair") else {
            event_id for event_id, version in newest.items() if (applied.get(event_id) or "") >= version}
        now = self.clock()
        if m.mass_delete_refused(len(deletes), live) and not doc.get("allow_mass_delete"):
            self.store.transition(snapshot_id, (m.RECEIVING,), {
                "state": m.REFUSED, "finished_at": now, "pages": pages, "upserts": 0,
                "refused_deletes": len(deletes), "live": live}, revision=revision)
            raise Refused(409, {"error": "mass_delete_refused", "deletes": len(deletes), "live": live})
        chunks = [deletes[i:i + DELETE_CHUNK] for i in range(0, len(deletes), DELETE_CHUNK)]
        self.store.put_delete_chunks(snapshot_id, chunks, doc["purge_at"])
        # Each page's events already at their version, by position: their changes are never published.
        skips = {n: skip for n in range(pages)
                 if (skip := [i for i, event_id in enumerate(stored[n]) if event_id in known])}
        applying = self.store.transition(snapshot_id, (m.RECEIVING,), {
            "state": m.APPLYING, "started_at": now, "pages": pages, "upserts": len(ids), "deletes": len(deletes),
            "delete_chunks": len(chunks), "live": live, "unchanged_at_complete": len(known)}, skips,
            revision=revision)
        if applying is None:
            raise Refused(409, {"error": "not_receiving", "state": self.state(self.store.get(snapshot_id) or doc)})
        self._fan_out(snapshot_id, applying, {n for n in range(pages) if known.issuperset(stored[n])})
        if len(ids) + len(deletes) == len(known):
            self.store.finish(snapshot_id, self.clock(), self.on_completed)
        logs.log(logging.INFO, "snapshot applying", {
            "function": "integrations", "snapshot_id": snapshot_id, "account_id": doc["account_id"],
            "user_id": doc["user_id"], "outcome": "applying", "count": len(ids) + len(deletes)})
        return {"state": m.APPLYING, "upserts": len(ids), "deletes": len(deletes)}

    def _plan_deletes(self, doc: dict[str, Any], ids: set[str],
                      mappings: list[dict[str, Any]]) -> tuple[list[str], int]:
        """(events to delete, live synced events in the window): the synced, live events inside
        the window that the snapshot does not hold and no newer change has touched."""
        as_of, covers_from = doc["as_of"], doc.get("covers_from")
        live = [d for d in mappings
                if not d.get("deleted") and (d.get("google_exists") or d.get("has_parked")
                                             or d.get("google_uncertain") or d.get("lease_id"))
                and m.in_window(covers_from, d.get("ends_at"), bool(d.get("open_ended")))]
        deletes = sorted(d["event_id"] for d in live
                         if d["event_id"] not in ids and (not d.get("version") or d["version"] < as_of))
        return deletes, len(live)

    def _fan_out(self, snapshot_id: str, doc: dict[str, Any], nothing_to_do: set[int] | None = None) -> None:
        a, u = doc["account_id"], doc["user_id"]
        jobs = [{"schema": 1, "kind": "snapshot_page", "snapshot_id": snapshot_id, "account_id": a, "user_id": u,
                 "part": page_id(n)} for n in range(int(doc.get("pages", 0))) if n not in (nothing_to_do or ())]
        jobs += [{"schema": 1, "kind": "snapshot_deletes", "snapshot_id": snapshot_id, "account_id": a,
                  "user_id": u, "part": chunk_id(n)} for n in range(int(doc.get("delete_chunks", 0)))]
        publish_jobs(self.bulk, [(job, f"{a}/{u}/{snapshot_id}:{job['part']}") for job in jobs])

    # -- jobs on the bulk lane -------------------------------------------------------------------
    def expand(self, data: dict[str, Any]) -> Outcome:
        """A slice of a page (or a chunk of deletes) → one change message per event. A page is
        handed on SLICE events at a time, each slice's job publishing the next one's, so the
        expansion interleaves with applying instead of holding push slots for long."""
        snapshot_id, part_name = str(data["snapshot_id"]), str(data["part"])
        offset = data.get("offset")
        offset = offset if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0 else 0
        fields = {"snapshot_id": snapshot_id, "account_id": data.get("account_id", ""),
                  "user_id": data.get("user_id", "")}
        doc = self.store.get(snapshot_id)
        if doc is None or doc.get("state") != m.APPLYING:
            return Outcome("snapshot_not_applying", fields=fields)
        part = self.store.part(snapshot_id, part_name)
        through = (part or {}).get("published_through")
        if part is None or part.get("published") or (isinstance(through, int) and offset < through):
            return Outcome("snapshot_part_published_already", fields=fields)
        a, u = doc["account_id"], doc["user_id"]
        expected = int(doc.get("upserts", 0)) + int(doc.get("deletes", 0)) - int(doc.get("unchanged_at_complete", 0))
        follow: dict[str, Any] | None = None
        if part.get("kind") == "page":
            # Only the events this page recorded, by id: nothing else stored under it is ever applied.
            rows = self.store.page_events(snapshot_id, part, offset, SLICE)
            skip = set(part.get("skip_index") or [])
            skip_ids = set(part.get("skip") or [])  # pages completed before skip_index existed
            messages = [m.change_message(snapshot_id, a, u, row["event"], bool(doc.get("repair")))
                        for index, row in rows if index not in skip and row["event_id"] not in skip_ids]
            if offset + SLICE < len(part.get("ids") or []):
                follow = {**data, "offset": offset + SLICE}
        else:
            as_of = Version(doc["as_of"]).rfc3339
            messages = [m.delete_message(snapshot_id, a, u, event_id, as_of) for event_id in part.get("ids", [])]
        out = [({**msg, "expected": expected}, ordering_key(a, u, str(msg["event"]["id"]))) for msg in messages]
        if follow is not None:
            out.append((follow, f"{a}/{u}/{snapshot_id}:{part_name}"))
        publish_jobs(self.bulk, out)
        self.store.mark_published(snapshot_id, part_name, follow["offset"] if follow else None)
        return Outcome("snapshot_part_published", fields={**fields, "count": len(messages)})

    def apply_change(self, data: dict[str, Any]) -> Outcome:
        """One snapshot event (or reconcile delete), applied as a webhook's change is."""
        snapshot_id = str(data["snapshot_id"])
        event_id = str((data.get("event") or {}).get("id", ""))
        fields: dict[str, Any] = {"snapshot_id": snapshot_id, "lane": "bulk",
                                  "webhook_id": str(data.get("webhook_id", ""))}
        if data.get("repair") and self.store.result_exists(snapshot_id, event_id):
            # A redelivered repair would write again; anything else redelivered is a duplicate
            # that costs no Calendar call, and its result is recorded once anyway.
            return Outcome("snapshot_result_recorded", fields=fields)
        try:
            change = parse_change(data, str(data["webhook_id"]))
        except InvalidPayload:
            self._record(data, snapshot_id, event_id, "invalid_message")
            return Outcome("invalid_message", fields=fields)
        fields.update(change.log_fields())
        service = self.service()
        if service.throttle is not None:  # no Firestore work while this user's bulk turn is far off
            key = change.connection_key
            wait = service.throttle.try_take(key, service.throttle.live_reserve, take=False)
            if wait > 0:
                self.sleep(min(wait, BULK_PRECHECK_WAIT))
                if wait > BULK_PRECHECK_WAIT:
                    return Outcome("throttled", acknowledge=False, retry_after=wait - BULK_PRECHECK_WAIT,
                                      fields=fields)
        outcome = service.apply(change, rewrite_equal=bool(data.get("repair")), bulk=True)
        fields["calendar_calls"] = outcome.calendar_calls
        if not outcome.acknowledge:
            return Outcome(outcome.name, acknowledge=False, fields=fields)
        self._record(data, snapshot_id, event_id, outcome.name)
        return Outcome(outcome.name, fields=fields)

    def _record(self, data: dict[str, Any], snapshot_id: str, event_id: str, outcome: str) -> None:
        purge_at = self.clock() + m.PURGE_AFTER
        category = m.OUTCOME_CATEGORY.get(outcome, "failed")
        if not self.store.record_result(snapshot_id, event_id, category, outcome, purge_at):
            return
        expected = data.get("expected")
        total, _ = self.store.counts(snapshot_id)
        if isinstance(expected, int) and total < expected:
            return
        self.store.finish(snapshot_id, self.clock(), self.on_completed)

    def expire_abandoned(self) -> dict[str, int]:
        """The maintenance task: snapshots never completed, receiving → expired after 24 h."""
        return {"snapshots_expired": self.store.expire_abandoned(self.clock())}

    def status(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        """The status route's ``snapshot``: the latest snapshot's progress."""
        latest = self.store.latest(account_id, user_id)
        if latest is None:
            return None
        view = self.view(latest, latest["snapshot_id"])
        return {k: view[k] for k in ("snapshot_id", "state", "events", "pending", "counts", "started_at",
                                     "finished_at")}


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else None
