"""Pure: is a listed Calendar event one of ours, and does it still say what we wrote?

Calendar changes an event's etag for reasons that are not a person's edit (a move between
calendars, an attendee answering, a write whose answer was lost), so a changed etag is only a
candidate: drift is a difference in a field the platform owns, compared after normalising what
Calendar normalises (instants, defaults, order).
"""

from __future__ import annotations

from typing import Any

from sync.apply.mail_policy import event_time, reminders_view
from sync.kernel.planner import PRIVATE_KEYS


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def owned(event: dict[str, Any]) -> dict[str, Any]:
    """The fields the platform owns (docs/events.md#how-an-event-lands-in-google-calendar), normalised to
    compare."""
    private = (event.get("extendedProperties") or {}).get("private") or {}
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    return {
        "status": _text(event.get("status")) or "confirmed",
        "summary": _text(event.get("summary")),
        "description": _text(event.get("description")),
        "location": _text(event.get("location")),
        "start": event_time(event.get("start")),
        "end": event_time(event.get("end")),
        "recurrence": tuple(event.get("recurrence") or ()),
        "attendees": tuple(sorted((_text(a.get("email")).lower(), bool(a.get("optional")))
                                  for a in event.get("attendees") or [] if isinstance(a, dict))),
        "reminders": reminders_view(event.get("reminders")),
        "transparency": _text(event.get("transparency")) or "opaque",
        "visibility": _text(event.get("visibility")) or "default",
        "colorId": _text(event.get("colorId")),
        "source": (_text(source.get("title")), _text(source.get("url"))) if source else None,
        "private": tuple(_text(private.get(k)) for k in PRIVATE_KEYS),
    }


def same_content(event: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether the listed ``event`` shows what writing ``body`` would."""
    return owned(event) == owned(body)
