"""Pure: is a listed Calendar event one of ours, and does it still say what we wrote?

Calendar changes an event's etag for reasons that are not a person's edit (a move between
calendars, an attendee answering, a write whose answer was lost), so a changed etag is only a
candidate: drift is a difference in a field the platform owns, compared after normalising what
Calendar normalises (instants, defaults, order).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sync.kernel.planner import PRIVATE_KEYS


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _time(value: Any) -> tuple[str, ...]:
    if not isinstance(value, dict):
        return ("",)
    if value.get("date"):
        return ("date", str(value["date"]))
    text, zone = _text(value.get("dateTime")), _text(value.get("timeZone"))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
        text = moment.astimezone(timezone.utc).isoformat()
    except (ValueError, KeyError):
        pass  # compared as written
    return ("dateTime", text, zone)


def _reminders(value: Any) -> tuple[Any, ...]:
    value = value if isinstance(value, dict) else {"useDefault": True}
    overrides = sorted((_text(o.get("method")), int(o.get("minutes") or 0))
                       for o in value.get("overrides") or [] if isinstance(o, dict))
    return bool(value.get("useDefault")), tuple(overrides)


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
        "start": _time(event.get("start")),
        "end": _time(event.get("end")),
        "recurrence": tuple(event.get("recurrence") or ()),
        "attendees": tuple(sorted((_text(a.get("email")).lower(), bool(a.get("optional")))
                                  for a in event.get("attendees") or [] if isinstance(a, dict))),
        "reminders": _reminders(event.get("reminders")),
        "transparency": _text(event.get("transparency")) or "opaque",
        "visibility": _text(event.get("visibility")) or "default",
        "colorId": _text(event.get("colorId")),
        "source": (_text(source.get("title")), _text(source.get("url"))) if source else None,
        "private": tuple(_text(private.get(k)) for k in PRIVATE_KEYS),
    }


def same_content(event: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether the listed ``event`` shows what writing ``body`` would."""
    return owned(event) == owned(body)
