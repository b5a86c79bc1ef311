"""Pure decisions: (connection, mapping, change) → what to do, and the Calendar Event body."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sync.kernel.model import (
    SYNC_SOURCE,
    Change,
    Connection,
    EventTime,
    Mapping,
    PlatformEvent,
    Version,
    google_event_id,
)


class Action(StrEnum):
    NO_CONNECTION = "no_connection"  # ack, log, no write
    STALE = "stale"  # an older version than one applied or in flight: ack
    DUPLICATE = "duplicate"  # this version was already applied: ack
    BUSY = "busy"  # another delivery of this event is in flight: retry later
    PARK = "park"  # grant revoked / calendar gone: keep the change for later
    TOMBSTONE = "tombstone"  # delete of an event with no Google event: record only
    INSERT = "insert"  # Calendar insert (409 → update)
    UPDATE = "update"  # Calendar update (404/410 → insert)
    DELETE = "delete"  # Calendar delete (404/410 → done)


CALENDAR_ACTIONS = (Action.INSERT, Action.UPDATE, Action.DELETE)


@dataclass(frozen=True)
class Decision:
    action: Action
    calendar_id: str | None = None
    move_from: str | None = None  # the event lives in another calendar (a switch in progress): move it first


def decide(connection: Connection | None, mapping: Mapping | None, change: Change, now: datetime,
           rewrite_equal: bool = False) -> Decision:
    """``rewrite_equal``: a snapshot's ``repair`` writes an unchanged live event again."""
    if connection is None or connection.gone:  # disconnected, or a disconnect is removing what is kept
        return Decision(Action.NO_CONNECTION)
    if mapping is not None:
        if mapping.version is not None:
            if change.version < mapping.version:
                return Decision(Action.STALE)
            if change.version == mapping.version and not (rewrite_equal and not change.is_delete
                                                          and not mapping.deleted):
                return Decision(Action.DUPLICATE)
        lease = mapping.lease
        if lease is not None and lease.until > now:
            if change.version < lease.version:
                return Decision(Action.STALE)
            return Decision(Action.BUSY)
        # A newer version's write may have landed without being recorded (its lease left behind by
        # a killed worker, or released uncertain): that version's message comes again; this is older.
        unrecorded = max((v for v in (mapping.attempted, lease.version if lease else None) if v is not None),
                         default=None)
        if unrecorded is not None and change.version < unrecorded:
            return Decision(Action.STALE)
    if not connection.can_write:
        if mapping is not None and mapping.parked_version is not None and change.version <= mapping.parked_version:
            return Decision(Action.STALE if change.version < mapping.parked_version else Action.DUPLICATE)
        return Decision(Action.PARK)
    exists = mapping is not None and mapping.google_exists
    if change.is_delete:
        # An attempt that never reported back (its lease is still there, or it timed out) may
        # have created the event: delete for real (404/410 count as done) rather than trust the
        # mapping, or the event would outlive its deletion.
        maybe = mapping is not None and (mapping.google_uncertain or mapping.lease is not None)
        if not exists and not maybe:
            return Decision(Action.TOMBSTONE)
        assert mapping is not None
        return Decision(Action.DELETE, mapping.calendar_id or connection.calendar_id)
    if exists and mapping is not None and mapping.calendar_id in (None, connection.calendar_id):
        return Decision(Action.UPDATE, connection.calendar_id)
    if exists and mapping is not None:
        # The user switched calendars and this event has not been moved yet: move it, then write,
        # so it never exists in both (the switch's own move job then finds it done).
        return Decision(Action.UPDATE, connection.calendar_id, move_from=mapping.calendar_id)
    if (mapping is not None and mapping.calendar_id not in (None, connection.calendar_id)
            and (mapping.google_uncertain or mapping.lease is not None)):
        # An earlier attempt into the old calendar may have landed (timed out, or its worker died):
        # bring that copy over rather than leave it behind.
        return Decision(Action.INSERT, connection.calendar_id, move_from=mapping.calendar_id)
    return Decision(Action.INSERT, connection.calendar_id)


def _time(t: EventTime) -> dict[str, str]:
    if t.date is not None:
        return {"date": t.date.isoformat()}
    assert t.date_time is not None
    out = {"dateTime": t.date_time}
    if t.time_zone:
        out["timeZone"] = t.time_zone
    return out


# Calendar's limits, counted in UTF-16 code units (what Google's backends count). The
# description limit is Calendar's documented ~8192; title and location are kept to 1024.
SUMMARY_LIMIT = 1024
LOCATION_LIMIT = 1024
DESCRIPTION_LIMIT = 8192
ELLIPSIS = "…"
CUT_MARKER = " […]"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _joins(char: str) -> bool:
    """Marks that belong to the character before them (accents, joiners, variation selectors)."""
    return bool(unicodedata.combining(char)) or char in "\u200d\ufe0e\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff"


def fit(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """``text`` if it fits in ``limit``; else cut and marked, so the user sees it was shortened.
    The cut never splits a character: not a surrogate pair, not a letter from its accents,
    not an emoji sequence joined by ZWJ."""
    if utf16_length(text) <= limit:
        return text
    budget, used, cut = limit - utf16_length(marker), 0, 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > budget:
            break
        used += size
        cut += 1
    while 0 < cut < len(text) and (_joins(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    return text[:cut].rstrip() + marker


def _description(event: PlatformEvent) -> str | None:
    """The platform's description, then a line with ``url`` and one with ``conference_url``.
    The links always survive; only the description is shortened when all does not fit."""
    links = [part for part in (event.url, event.conference_url) if part]
    if not event.description:
        return "\n".join(links) if links else None
    tail = "".join("\n" + link for link in links)
    return fit(event.description, DESCRIPTION_LIMIT - utf16_length(tail), CUT_MARKER) + tail


def event_body(change: Change, google_id: str) -> dict[str, Any]:
    """The whole Calendar v3 Event for a create/update: every write replaces every field."""
    event = change.event
    assert event is not None, "deletes have no body"
    body: dict[str, Any] = {
        "id": google_id,
        "status": event.status,
        "summary": fit(event.title, SUMMARY_LIMIT),
        "start": _time(event.start),
        "end": _time(event.end),
        "extendedProperties": {
            "private": {
                "sync_source": SYNC_SOURCE,
                "source_account_id": change.account_id,
                "source_user_id": change.user_id,
                "source_event_id": change.event_id,
                "source_updated_at": change.version.rfc3339,
            }
        },
    }
    description = _description(event)
    if description is not None:
        body["description"] = description
    location = event.location or event.conference_url
    if location:
        body["location"] = fit(location, LOCATION_LIMIT)
    if event.url:
        body["source"] = {"title": "Evolutto", "url": event.url}
    if event.recurrence:
        body["recurrence"] = list(event.recurrence)
    if event.attendees:
        body["attendees"] = [
            {"email": a.email, "optional": a.optional, **({"displayName": a.display_name} if a.display_name else {})}
            for a in event.attendees
        ]
    # Presentation: every write replaces the whole event, so Google's defaults (busy, visibility "default",
    # the calendar's colour) are said by leaving the field out, as Google itself shows them, and a version
    # that drops a field brings the event back to the default.
    if not event.busy:
        body["transparency"] = "transparent"
    if event.visibility != "default":
        body["visibility"] = event.visibility
    if event.color is not None:
        body["colorId"] = str(event.color)
    if event.reminders_minutes is None:
        body["reminders"] = {"useDefault": True}
    else:
        body["reminders"] = {
            "useDefault": False,
            "overrides": [{"method": "popup", "minutes": m} for m in event.reminders_minutes],
        }
    return body


# -- reading our own events back (drift repair, a disconnect's last look) -----------------------------
PRIVATE_KEYS = ("sync_source", "source_account_id", "source_user_id", "source_event_id", "source_updated_at")


def source_event_id(event: dict[str, Any], account_id: str, user_id: str) -> str | None:
    """The platform event id if ``event`` is ours for this account/user (and its id is the one we
    derive, so copied properties do not count), else None."""
    private = (event.get("extendedProperties") or {}).get("private") or {}
    if private.get("sync_source") != SYNC_SOURCE or private.get("source_account_id") != account_id \
            or private.get("source_user_id") != user_id:
        return None
    event_id = private.get("source_event_id")
    if not isinstance(event_id, str) or event.get("id") != google_event_id(account_id, user_id, event_id):
        return None
    return event_id


def source_version(event: dict[str, Any]) -> Version | None:
    text = ((event.get("extendedProperties") or {}).get("private") or {}).get("source_updated_at")
    try:
        return Version.parse(text) if isinstance(text, str) else None
    except ValueError:
        return None
