"""Pure decisions: (connection, mapping, change) → what to do, and the Calendar Event body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sync.model import (
    SYNC_SOURCE,
    Change,
    Connection,
    ConnectionStatus,
    EventTime,
    Mapping,
    PlatformEvent,
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


def decide(connection: Connection | None, mapping: Mapping | None, change: Change, now: datetime) -> Decision:
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        return Decision(Action.NO_CONNECTION)
    if mapping is not None:
        if mapping.version is not None:
            if change.version < mapping.version:
                return Decision(Action.STALE)
            if change.version == mapping.version:
                return Decision(Action.DUPLICATE)
        lease = mapping.lease
        if lease is not None and lease.until > now:
            if change.version < lease.version:
                return Decision(Action.STALE)
            return Decision(Action.BUSY)
    if not connection.can_write:
        if mapping is not None and mapping.parked_version is not None and change.version <= mapping.parked_version:
            return Decision(Action.STALE if change.version < mapping.parked_version else Action.DUPLICATE)
        return Decision(Action.PARK)
    exists = mapping is not None and mapping.google_exists
    if change.is_delete:
        if not exists:
            return Decision(Action.TOMBSTONE)
        assert mapping is not None
        return Decision(Action.DELETE, mapping.calendar_id or connection.calendar_id)
    if exists and mapping is not None and mapping.calendar_id in (None, connection.calendar_id):
        return Decision(Action.UPDATE, connection.calendar_id)
    return Decision(Action.INSERT, connection.calendar_id)


def _time(t: EventTime) -> dict[str, str]:
    if t.date is not None:
        return {"date": t.date.isoformat()}
    assert t.date_time is not None
    out = {"dateTime": t.date_time}
    if t.time_zone:
        out["timeZone"] = t.time_zone
    return out


def _description(event: PlatformEvent) -> str | None:
    lines = [part for part in (event.description, event.url, event.conference_url) if part]
    return "\n".join(lines) if lines else None


def event_body(change: Change, google_id: str) -> dict[str, Any]:
    """The whole Calendar v3 Event for a create/update: every write replaces every field."""
    event = change.event
    assert event is not None, "deletes have no body"
    body: dict[str, Any] = {
        "id": google_id,
        "status": "confirmed",
        "summary": event.title,
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
        body["location"] = location
    if event.url:
        body["source"] = {"title": "Evolutto", "url": event.url}
    if event.recurrence:
        body["recurrence"] = list(event.recurrence)
    if event.attendees:
        body["attendees"] = [
            {"email": a.email, "optional": a.optional, **({"displayName": a.display_name} if a.display_name else {})}
            for a in event.attendees
        ]
    if event.reminders_minutes is None:
        body["reminders"] = {"useDefault": True}
    else:
        body["reminders"] = {
            "useDefault": False,
            "overrides": [{"method": "popup", "minutes": m} for m in event.reminders_minutes],
        }
    return body
