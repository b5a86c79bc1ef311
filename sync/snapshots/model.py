"""Snapshot requests and rules (docs/snapshots.md). Pure: validation, the guard, result categories.

Events are validated by the webhook's own parser (``sync.kernel.payload.parse_change``), so a snapshot
event is accepted exactly when the same ``event`` in an ``event.updated`` webhook would be;
each problem's ``loc`` is re-rooted at its index (``events[3].start``).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sync.kernel.errors import InvalidPayload
from sync.kernel.model import DELETED, UPDATED, Change, Version, contract_event
from sync.kernel.payload import MAX_VERSION_SKEW, parse_change

MAX_PAGE_EVENTS = 1000
# An event is stored as one Firestore document (1 MiB at most): what a webhook's 1 MiB body can carry,
# less room for the document's other fields.
MAX_EVENT_BYTES = 1024 * 1024 - 64 * 1024
# A page's document holds its event ids and versions (what reconcile reads) and, once completed,
# the positions of those already applied (8 bytes each): all of it must fit in one Firestore document
# (1 MiB), with room for its other fields. Strings count their UTF-8 bytes + 1 (Firestore's sizes).
PAGE_DOCUMENT_BUDGET = 1024 * 1024 - 64 * 1024
MAX_EVENTS = 100_000
MAX_PAGES = MAX_EVENTS  # a page may hold a single event
EXPIRES_AFTER = timedelta(hours=24)  # an incomplete snapshot expires
PURGE_AFTER = timedelta(days=8)  # Firestore's TTL policy (field purge_at) removes every document then
MASS_DELETE_MIN = 10  # more than this many deletes…
MASS_DELETE_SHARE = 0.5  # …and more than this share of the live events in the window → refused

RECEIVING, APPLYING, DONE, REFUSED, EXPIRED = "receiving", "applying", "done", "refused", "expired"
CATEGORIES = ("created", "updated", "unchanged", "deleted", "failed", "parked")
# The worker's outcome for one snapshot change → the snapshot's count it falls in.
OUTCOME_CATEGORY = {
    "created": "created", "restored": "created", "recreated": "created",
    "updated": "updated",
    "duplicate": "unchanged", "stale": "unchanged", "already_applied": "unchanged", "superseded": "unchanged",
    "deleted": "deleted", "deleted_already": "deleted", "tombstone": "deleted",
    "failed_permanent": "failed", "no_connection": "failed",
    "park": "parked", "parked_needs_reauth": "parked", "parked_calendar_unavailable": "parked",
    "parked_usage_limited": "parked",
}
_SNAPSHOT_ID = re.compile(r"^snp_[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class SnapshotRequest:
    as_of: Version
    covers_from: str | None  # a Version-style key: events ending at or after it are in the window
    allow_mass_delete: bool
    repair: bool


def page_id(n: int) -> str:
    """The name of page ``n`` among a snapshot's parts (its pages and its chunks of deletes)."""
    return f"p{n:06d}"


def chunk_id(n: int) -> str:
    """The name of reconcile's chunk of deletes ``n``."""
    return f"d{n:06d}"


def new_snapshot_id() -> str:
    """Random and unguessable; always looked up under the path's account and user as well."""
    return "snp_" + secrets.token_urlsafe(18)


def valid_snapshot_id(text: str) -> bool:
    return bool(_SNAPSHOT_ID.match(text))


def parse_create(body: Any, now: datetime, max_skew: timedelta = MAX_VERSION_SKEW) -> SnapshotRequest:
    """``as_of`` becomes the version of reconcile's deletes: as far ahead as a webhook's version may be."""
    problems: list[dict[str, str]] = []
    if not isinstance(body, dict):
        raise InvalidPayload([{"loc": "body", "msg": "must be a JSON object"}])
    as_of = _instant(body.get("as_of"), "as_of", problems, required=True)
    if as_of is not None and as_of > Version.parse(_rfc3339(now + max_skew)):
        problems.append({"loc": "as_of", "msg": "must not be further ahead of the service's clock than "
                                                f"{max_skew.total_seconds() / 3600:g} hours"})
        as_of = None
    covers = body.get("covers")
    covers_from = None
    if covers is not None:
        if not isinstance(covers, dict):
            problems.append({"loc": "covers", "msg": 'must be an object {"from": RFC 3339}'})
        else:
            covers_from = _instant(covers.get("from"), "covers.from", problems, required=True)
    flags = {}
    for name in ("allow_mass_delete", "repair"):
        value = body.get(name, False)
        if value is None:
            value = False
        if not isinstance(value, bool):
            problems.append({"loc": name, "msg": "must be a boolean"})
        flags[name] = bool(value)
    if problems:
        raise InvalidPayload(problems)
    assert as_of is not None
    return SnapshotRequest(as_of, covers_from.key if covers_from else None, flags["allow_mass_delete"],
                           flags["repair"])


def _rfc3339(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _instant(value: Any, loc: str, problems: list[dict[str, str]], required: bool) -> Version | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        problems.append({"loc": loc, "msg": "is required and must be an RFC 3339 date-time"})
        return None
    try:
        return Version.parse(value)
    except ValueError as exc:
        problems.append({"loc": loc, "msg": str(exc)})
        return None


def parse_page(body: Any, account_id: str, user_id: str, snapshot_id: str, now: datetime | None = None,
               max_skew: timedelta = MAX_VERSION_SKEW) -> list[Change]:
    """The page's events as validated changes, or InvalidPayload listing every problem by index.

    An event id may appear once per page (a repeat is a 400 naming both indexes); the same id on
    two pages is applied twice under the version rules, so the newest ``updated_at`` wins.
    """
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise InvalidPayload([{"loc": "events", "msg": "is required and must be a list of events"}])
    items = body["events"]
    if len(items) > MAX_PAGE_EVENTS:
        raise InvalidPayload([{"loc": "events", "msg": f"must hold at most {MAX_PAGE_EVENTS} events per page"}])
    problems: list[dict[str, str]] = []
    changes: list[Change] = []
    first_index: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append({"loc": f"events[{i}]", "msg": "must be an object"})
            continue
        try:
            change = parse_change({"type": UPDATED, "account_id": account_id, "user_id": user_id, "event": item},
                                  webhook_id(snapshot_id, str(item.get("id"))), now, max_skew)
        except InvalidPayload as exc:
            problems += [{"loc": _reroot(d["loc"], i), "msg": d["msg"]} for d in exc.detail]
            continue
        stored = contract_event(item)  # unknown fields are ignored, and may not be storable (nested arrays)
        if len(json.dumps(stored, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) > MAX_EVENT_BYTES:
            problems.append({"loc": f"events[{i}]", "msg": f"must be at most {MAX_EVENT_BYTES} bytes as JSON"})
            continue
        change = replace(change, raw_event=stored)
        if change.event_id in first_index:
            problems.append({"loc": f"events[{i}].id",
                             "msg": f"repeats events[{first_index[change.event_id]}].id: one entry per event"})
            continue
        first_index[change.event_id] = i
        changes.append(change)
    if problems:
        raise InvalidPayload(problems)
    needed = page_document_bytes(changes)
    if needed > PAGE_DOCUMENT_BUDGET:
        raise InvalidPayload([{"loc": "events", "msg": f"these event ids need {needed} bytes stored together, more "
                                                      f"than the {PAGE_DOCUMENT_BUDGET} a page holds: send them "
                                                      "in smaller pages"}])
    return changes


def page_document_bytes(changes: list[Change]) -> int:
    """What the page's id list costs in its Firestore document: ids, versions, and the position
    ``complete`` may record for each (so ``complete`` never grows the document past the limit)."""
    return sum(len(c.event_id.encode("utf-8")) + 1 + len(c.version.key) + 1 + 8 for c in changes)


def _reroot(loc: str, index: int) -> str:
    if loc == "event":
        return f"events[{index}]"
    if loc.startswith("event."):
        return f"events[{index}]." + loc[len("event."):]
    return f"events[{index}]"  # account/user problems cannot happen: the path's ids were checked


def webhook_id(snapshot_id: str, event_id: str) -> str:
    """The ``webhook_id`` of a snapshot change (logs and dead letters name their snapshot)."""
    return f"snapshot:{snapshot_id}:{event_id}"


def change_message(snapshot_id: str, account_id: str, user_id: str, raw_event: dict[str, Any],
                   repair: bool) -> dict[str, Any]:
    """One snapshot event as a job on the bulk lane: the webhook's schema-1 change message, with
    ``kind`` (so the worker routes it to the snapshot's handler), ``snapshot_id`` and ``repair``."""
    return {"schema": 1, "kind": "snapshot_change", "webhook_id": webhook_id(snapshot_id, str(raw_event["id"])),
            "type": UPDATED, "account_id": account_id, "user_id": user_id, "event": raw_event,
            "snapshot_id": snapshot_id, "repair": repair}


def delete_message(snapshot_id: str, account_id: str, user_id: str, event_id: str, as_of: str) -> dict[str, Any]:
    """Reconcile's delete of an event absent from the snapshot, at version ``as_of``."""
    return {"schema": 1, "kind": "snapshot_change", "webhook_id": webhook_id(snapshot_id, event_id),
            "type": DELETED, "account_id": account_id, "user_id": user_id,
            "event": {"id": event_id, "updated_at": as_of}, "snapshot_id": snapshot_id, "repair": False}


def mass_delete_refused(deletes: int, live: int) -> bool:
    """vdirsyncer's StorageEmpty guard: a snapshot that would empty the window is a mistake
    until the platform says otherwise (``allow_mass_delete``)."""
    return deletes > MASS_DELETE_MIN and deletes > live * MASS_DELETE_SHARE


def in_window(covers_from: str | None, ends_at: str | None, open_ended: bool) -> bool:
    """Whether a synced event belongs to the snapshot's window. Unknown end (mappings written
    before snapshots existed): only a snapshot without ``covers`` reaches it."""
    if covers_from is None or open_ended:
        return True
    return ends_at is not None and ends_at >= covers_from
