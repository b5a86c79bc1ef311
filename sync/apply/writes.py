"""The Calendar writes every writer of an event shares, on the CalendarSession port: one call in
the steady state, and the fallback that makes it idempotent (deterministic ids)."""

from __future__ import annotations

from typing import Any

from sync.kernel.errors import CalendarConflict, CalendarNotFound, CalendarUnavailable
from sync.kernel.ports import CalendarSession


def insert(session: CalendarSession, calendar_id: str, gid: str, body: dict[str, Any]) -> tuple[str, int, str | None]:
    """Create the event: ("created", 1 call, etag); its id taken already (a redelivery, or an event
    cancelled by hand) → an update brings it back: ("restored", 2, etag)."""
    try:
        return "created", 1, session.insert(calendar_id, body)
    except CalendarConflict:
        return "restored", 2, session.update(calendar_id, gid, body)


def update(session: CalendarSession, calendar_id: str, gid: str, body: dict[str, Any]) -> tuple[str, int, str | None]:
    """Replace the event: ("updated", 1, etag); gone for good (404/410) → created again with the
    same id: ("recreated", 2, etag)."""
    try:
        return "updated", 1, session.update(calendar_id, gid, body)
    except CalendarNotFound:
        return "recreated", 2, session.insert(calendar_id, body)


def delete(session: CalendarSession, calendar_id: str, gid: str) -> tuple[str, int, None]:
    """Delete the event: ("deleted", 1); already gone (404/410): ("deleted_already", 1)."""
    try:
        session.delete(calendar_id, gid)
    except CalendarNotFound:
        return "deleted_already", 1, None
    return "deleted", 1, None


def move_event(session: CalendarSession, source: str, gid: str, destination: str) -> bool:
    """Bring an event over from the calendar it lives in (a calendar switch), same id. True when it
    is now in ``destination`` (moved, or already there: the copy left behind is dropped); False
    when it is gone from ``source`` or ``source`` itself is gone, so the next write re-creates it."""
    try:
        session.move(source, gid, destination)
    except CalendarConflict:
        try:
            session.delete(source, gid)
        except (CalendarNotFound, CalendarUnavailable):
            pass
    except (CalendarNotFound, CalendarUnavailable):
        return False
    return True
