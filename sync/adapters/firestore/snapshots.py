"""The SnapshotStore port on Firestore.

Layout (every document carries ``purge_at``; a TTL policy on that field removes it)::

    snapshots/{snapshot_id}                          account_id, user_id, as_of, covers_from, flags,
                                                     state, counts, created/expires/started/finished
    snapshots/{id}/snapshot_pages/p{n:06}            one per page: its event ids (the set reconcile reads),
                                                     versions, and the upload its events were stored under
    snapshots/{id}/snapshot_pages/d{n:06}            one per chunk of reconcile's deletes (their ids)
    snapshots/{id}/snapshot_events/p{n:06}:{upload}:{e:id}
                                                     one per event: the raw event (a page of 1000 can
                                                     exceed Firestore's 1 MiB, so never one doc per page)

A PUT stores its events under an upload id of its own *before* the transaction that checks the
snapshot's state, expiry and event limit and records the page (ids + upload); a refused PUT
deletes what it stored, and nothing ever reads an upload that no page records: a page answered
anything but 202 is never applied. A replaced page's previous upload is deleted once the new one
is recorded.
    snapshots/{id}/snapshot_results/{e:id}           one per applied event or delete: its category,
                                                     created once (redeliveries do not count twice)
    snapshots/{id}/snapshot_shards/{0..15}           counters: total and per category, +1 per result
    connections/{account:user}.latest_snapshot_id    the status route's pointer
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from google.cloud import firestore

from sync.adapters.firestore.base import WRITE_RETRY, FirestoreBase, connection_from_doc, retryable
from sync.kernel import logs
from sync.kernel.errors import PageRefused, PagesChanged, Retryable
from sync.kernel.model import Connection, event_key
from sync.kernel.ports import OnCompleted
from sync.snapshots.model import APPLYING, CATEGORIES, DONE, EXPIRED, MAX_EVENTS, RECEIVING, chunk_id, page_id

SNAPSHOTS = "snapshots"
PAGES = "snapshot_pages"
SNAPSHOT_EVENTS = "snapshot_events"
RESULTS = "snapshot_results"
SHARDS = "snapshot_shards"
SHARD_COUNT = 16
_BATCH = 400
MAPPING_FIELDS = ["event_id", "version", "deleted", "google_exists", "google_uncertain", "has_parked", "lease_id",
                  "ends_at", "open_ended", "calendar_id", "google_event_id"]

def event_doc_id(n: int, upload: str | None, event_id: str) -> str:
    """An event's document under its page's upload (pages stored before uploads existed: none)."""
    return f"{page_id(n)}:{upload}:{event_key(event_id)}" if upload else f"{page_id(n)}:{event_key(event_id)}"


class FirestoreSnapshots(FirestoreBase):

    def get_connection(self, account_id: str, user_id: str) -> Connection | None:
        snap = self.connection_ref(account_id, user_id).get()
        return connection_from_doc(snap.to_dict() or {}) if snap.exists else None

    def ref(self, snapshot_id: str) -> firestore.DocumentReference:
        return self.db.collection(SNAPSHOTS).document(snapshot_id)

    # -- snapshot documents ----------------------------------------------------------------------
    def create(self, snapshot_id: str, doc: dict[str, Any]) -> None:
        self.ref(snapshot_id).create(doc, retry=WRITE_RETRY)
        self.connection_ref(doc["account_id"], doc["user_id"]).set(
            {"latest_snapshot_id": snapshot_id}, merge=True, retry=WRITE_RETRY)

    def get(self, snapshot_id: str) -> dict[str, Any] | None:
        snap = self.ref(snapshot_id).get()
        return snap.to_dict() if snap.exists else None

    def latest(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        conn = self.connection_ref(account_id, user_id).get()
        snapshot_id = (conn.to_dict() or {}).get("latest_snapshot_id") if conn.exists else None
        doc = self.get(snapshot_id) if snapshot_id else None
        return {**doc, "snapshot_id": snapshot_id} if doc else None

    def transition(self, snapshot_id: str, from_states: Iterable[str], fields: dict[str, Any],
                   skips: dict[int, list[int]] | None = None,
                   revision: int | None = None) -> dict[str, Any] | None:
        """Move the snapshot out of one of ``from_states`` (exactly once); None if it was not in one.
        ``skips``: page → positions of its events already applied, recorded by the same transaction
        (positions, 8 bytes each, room the PUT kept: never the ids again, a page of long ids would
        outgrow Firestore's 1 MiB). ``revision``: the pages were read at this revision;
        PagesChanged if one was stored since."""
        ref, allowed = self.ref(snapshot_id), tuple(from_states)

        @firestore.transactional
        def run(txn: firestore.Transaction) -> dict[str, Any] | None:
            snap = next(iter(txn.get_all([ref])), None)
            doc = snap.to_dict() if snap is not None and snap.exists else None
            if doc is None or doc.get("state") not in allowed:
                return None
            if revision is not None and int(doc.get("revision", 0)) != revision:
                raise PagesChanged(snapshot_id)
            txn.update(ref, fields)
            for n, skip in (skips or {}).items():
                txn.update(self.page_ref(snapshot_id, n), {"skip_index": skip})
            return {**doc, **fields}

        return retryable(lambda: run(self.db.transaction()))

    # -- pages -----------------------------------------------------------------------------------
    def put_page(self, snapshot_id: str, n: int, events: list[tuple[str, dict[str, Any], str]],
                 purge_at: datetime, now: datetime) -> None:
        """Store page ``n`` (replacing what it held): (event id, raw event, version key) each.
        Raises PageRefused, having stored nothing, when the snapshot cannot take it."""
        snap_ref = self.ref(snapshot_id)
        page_ref = snap_ref.collection(PAGES).document(page_id(n))
        events_ref = snap_ref.collection(SNAPSHOT_EVENTS)
        ids, versions = [e[0] for e in events], [e[2] for e in events]
        # A refusal that is certain already costs no write (the transaction below decides).
        _admit(self.get(snapshot_id), self.part(snapshot_id, page_id(n)), len(ids), now)
        upload = secrets.token_hex(6)
        refs = [events_ref.document(event_doc_id(n, upload, eid)) for eid in ids]
        writes = [(ref, {"page": n, "upload": upload, "event_id": eid, "event": raw, "version": version,
                         "purge_at": purge_at}) for ref, (eid, raw, version) in zip(refs, events, strict=True)]

        @firestore.transactional
        def record(txn: firestore.Transaction) -> dict[str, Any]:
            snaps = {s.reference.path: s for s in txn.get_all([snap_ref, page_ref])}
            snap, page = snaps.get(snap_ref.path), snaps.get(page_ref.path)
            doc = snap.to_dict() if snap is not None and snap.exists else None
            before = (page.to_dict() or {}) if page is not None and page.exists else {}
            total = _admit(doc, before, len(ids), now)
            txn.set(page_ref, {"kind": "page", "page": n, "upload": upload, "ids": ids, "versions": versions,
                               "count": len(ids), "purge_at": purge_at, "received_at": now})
            txn.update(snap_ref, {"events": total, "pages_received": firestore.ArrayUnion([n]),
                                  "revision": firestore.Increment(1)})
            return before

        try:
            self.commit_in_batches(lambda batch, item: batch.set(item[0], item[1]), writes)
            before = retryable(lambda: record(self.db.transaction()))
        except BaseException:
            self._discard(snapshot_id, refs)  # refused or failed: none of it stays
            raise
        self._discard(snapshot_id, self.page_event_refs(snapshot_id, before))  # the page it replaced

    def page_event_refs(self, snapshot_id: str, page: dict[str, Any]) -> list[firestore.DocumentReference]:
        """The event documents a page document records (none for no page)."""
        if not page.get("ids"):
            return []
        events_ref = self.ref(snapshot_id).collection(SNAPSHOT_EVENTS)
        n, upload = int(page["page"]), page.get("upload")
        return [events_ref.document(event_doc_id(n, upload, eid)) for eid in page["ids"]]

    def _discard(self, snapshot_id: str, refs: list[firestore.DocumentReference]) -> None:
        """Delete event documents no page records (any more). Best effort: they are never read,
        and Firestore's TTL removes them with the snapshot if this fails."""
        try:
            self.commit_in_batches(lambda batch, ref: batch.delete(ref), refs)
        except Retryable as exc:
            logs.log(logging.WARNING, "snapshot events left to the TTL", {
                "function": "integrations", "snapshot_id": snapshot_id, "count": len(refs), "reason": exc.reason})

    def pages(self, snapshot_id: str) -> dict[int, dict[str, str]]:
        """Page number → {event id: version key} of what it holds."""
        query = self.ref(snapshot_id).collection(PAGES).where(filter=firestore.FieldFilter("kind", "==", "page"))
        out = {}
        for d in query.stream():
            doc = d.to_dict() or {}
            out[int(doc["page"])] = dict(zip(doc.get("ids") or [], doc.get("versions") or [], strict=True))
        return out

    def page_ref(self, snapshot_id: str, n: int) -> firestore.DocumentReference:
        return self.ref(snapshot_id).collection(PAGES).document(page_id(n))

    def page_events(self, snapshot_id: str, page: dict[str, Any], offset: int,
                    limit: int) -> list[tuple[int, dict[str, Any]]]:
        """(index in the page, stored event) for the page's recorded ids ``offset`` to
        ``offset + limit``: what the page recorded, read by id, never by prefix."""
        refs = self.page_event_refs(snapshot_id, page)[offset:offset + limit]
        found = {snap.reference.path: snap.to_dict() or {} for snap in self.db.get_all(refs) if snap.exists}
        return [(offset + i, found[ref.path]) for i, ref in enumerate(refs) if ref.path in found]

    def put_delete_chunks(self, snapshot_id: str, chunks: list[list[str]], purge_at: datetime) -> None:
        pages = self.ref(snapshot_id).collection(PAGES)
        self.commit_in_batches(lambda batch, item: batch.set(pages.document(chunk_id(item[0])), {
            "kind": "deletes", "chunk": item[0], "ids": item[1], "count": len(item[1]), "purge_at": purge_at}),
            list(enumerate(chunks)))

    def part(self, snapshot_id: str, part_id: str) -> dict[str, Any] | None:
        snap = self.ref(snapshot_id).collection(PAGES).document(part_id).get()
        return snap.to_dict() if snap.exists else None

    def mark_published(self, snapshot_id: str, part_id: str, through: int | None = None) -> None:
        """The whole part was handed on (``through`` None), or its events before index ``through``."""
        fields: dict[str, Any] = {"published": True} if through is None else {"published_through": through}
        self.ref(snapshot_id).collection(PAGES).document(part_id).update(fields, retry=WRITE_RETRY)

    # -- mappings (what reconcile compares against) -----------------------------------------------
    def mapping_docs(self, account_id: str, user_id: str) -> list[dict[str, Any]]:
        return [d.to_dict() or {} for d in self.events_ref(account_id, user_id).select(MAPPING_FIELDS).stream()]

    # -- results and counts ----------------------------------------------------------------------
    def result_exists(self, snapshot_id: str, event_id: str) -> bool:
        return bool(self.ref(snapshot_id).collection(RESULTS).document(event_key(event_id)).get().exists)

    def record_result(self, snapshot_id: str, event_id: str, category: str, outcome: str,
                      purge_at: datetime) -> bool:
        """Record one event's result once (True), or nothing when a delivery already did (False)."""
        snap_ref = self.ref(snapshot_id)
        result_ref = snap_ref.collection(RESULTS).document(event_key(event_id))
        shard_ref = snap_ref.collection(SHARDS).document(str(random.randrange(SHARD_COUNT)))

        @firestore.transactional
        def run(txn: firestore.Transaction) -> bool:
            snaps = {s.reference.path: s for s in txn.get_all([snap_ref, result_ref])}
            if not getattr(snaps.get(snap_ref.path), "exists", False):
                return False  # forgotten by a disconnect: nothing is kept of it any more
            snap = snaps.get(result_ref.path)
            if snap is not None and snap.exists:
                return False
            txn.create(result_ref, {"event_id": event_id, "category": category, "outcome": outcome,
                                    "at": firestore.SERVER_TIMESTAMP, "purge_at": purge_at})
            txn.set(shard_ref, {"total": firestore.Increment(1), category: firestore.Increment(1),
                                "purge_at": purge_at}, merge=True)
            return True

        return retryable(lambda: run(self.db.transaction()))

    def counts(self, snapshot_id: str, txn: Any = None) -> tuple[int, dict[str, int]]:
        """(results recorded, per category): SHARD_COUNT reads, whatever the snapshot's size."""
        shards = self.ref(snapshot_id).collection(SHARDS)
        refs = [shards.document(str(i)) for i in range(SHARD_COUNT)]
        snaps = (txn.get_all(refs) if txn is not None else self.db.get_all(refs))
        total, counts = 0, dict.fromkeys(CATEGORIES, 0)
        for snap in snaps:
            if snap.exists:
                doc = snap.to_dict() or {}
                total += int(doc.get("total", 0))
                for c in CATEGORIES:
                    counts[c] += int(doc.get(c, 0))
        return total, counts

    def finish(self, snapshot_id: str, now: datetime, on_completed: OnCompleted) -> bool:
        """applying → done, exactly once, with the final counts; the notification ``on_completed``
        returns is staged in the outbox by the same transaction (it commits with the transition, or
        not at all) and published after the commit."""
        ref = self.ref(snapshot_id)
        staged: list[Any] = []

        @firestore.transactional
        def run(txn: firestore.Transaction) -> bool:
            staged.clear()  # a retried transaction stages afresh
            snap = next(iter(txn.get_all([ref])), None)
            doc = snap.to_dict() if snap is not None and snap.exists else None
            if doc is None or doc.get("state") != APPLYING:
                return False
            total, counts = self.counts(snapshot_id, txn)
            known = int(doc.get("unchanged_at_complete", 0))
            counts["unchanged"] += known
            if total + known < int(doc.get("upserts", 0)) + int(doc.get("deletes", 0)):
                return False
            txn.update(ref, {"state": DONE, "finished_at": now, "counts": counts})
            note = on_completed({**doc, "snapshot_id": snapshot_id}, counts)
            self.stage(txn, [note] if note is not None else [], staged)
            return True

        done: bool = retryable(lambda: run(self.db.transaction()))
        self.published(staged)  # a publish that fails leaves its outbox document: the sweep sends it
        return done

    def expire_abandoned(self, now: datetime) -> int:
        """Mark snapshots still receiving past expires_at as expired (the maintenance task)."""
        query = self.db.collection(SNAPSHOTS).where(filter=firestore.FieldFilter("state", "==", RECEIVING))
        expired = 0
        for snap in query.stream():
            if (snap.to_dict() or {}).get("expires_at") and snap.get("expires_at") <= now:
                if self.transition(snap.id, (RECEIVING,), {"state": EXPIRED, "finished_at": now}) is not None:
                    expired += 1
        return expired

    # -- a disconnect forgets the user's snapshots (docs/connections.md#disconnect) ------------------
    def forget_user(self, account_id: str, user_id: str, deadline: Callable[[], bool]) -> bool:
        """Delete every snapshot of the user, its event copies included; False when ``deadline()``
        came first (call again: what is left goes then). The snapshot documents go first, so a page
        or a complete arriving meanwhile finds no snapshot (404) and stores nothing; their ids wait
        on the connection document (ids only) until everything under them is gone."""
        conn_ref = self.connection_ref(account_id, user_id)
        conn = conn_ref.get()
        left = list((conn.to_dict() or {}).get("forgetting_snapshots") or []) if conn.exists else []
        query = (self.db.collection(SNAPSHOTS).where(filter=firestore.FieldFilter("account_id", "==", account_id))
                 .where(filter=firestore.FieldFilter("user_id", "==", user_id)))
        found = [snap.id for snap in query.select([]).stream()]
        ids = sorted(set(left) | set(found))
        if found:
            conn_ref.set({"forgetting_snapshots": ids}, merge=True, retry=WRITE_RETRY)
            self.commit_in_batches(lambda batch, snapshot_id: batch.delete(self.ref(snapshot_id)), found)
        for snapshot_id in ids:
            for part in (SNAPSHOT_EVENTS, PAGES, RESULTS, SHARDS):
                while docs := [d.reference for d in self.ref(snapshot_id).collection(part).select([])
                               .limit(_BATCH).stream()]:
                    if deadline():
                        return False
                    self.commit_in_batches(lambda batch, ref: batch.delete(ref), docs)
        conn_ref.set({"forgetting_snapshots": firestore.DELETE_FIELD, "latest_snapshot_id": firestore.DELETE_FIELD},
                     merge=True, retry=WRITE_RETRY)
        return True

def _admit(doc: dict[str, Any] | None, page: dict[str, Any] | None, count: int, now: datetime) -> int:
    """The snapshot's event total once this page replaces ``page``; PageRefused when the snapshot
    cannot take it (not receiving, expired, or over the 100,000-event limit)."""
    if doc is None or doc.get("state") != RECEIVING:
        raise PageRefused("not_receiving", state=(doc or {}).get("state"))
    if doc["expires_at"] <= now:
        raise PageRefused("snapshot_expired", state=EXPIRED)
    total = int(doc.get("events", 0)) - len((page or {}).get("ids") or []) + count
    if total > MAX_EVENTS:
        raise PageRefused("too_many_events", limit=MAX_EVENTS)
    return total
