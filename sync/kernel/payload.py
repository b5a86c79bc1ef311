"""Strict validation of webhook payloads into ``Change`` (docs/webhooks.md#request, docs/events.md#fields). Pure.

Every problem is collected, so a 400 lists them all; unknown fields are ignored for forward
compatibility. The worker runs the same parser on the Pub/Sub message, so both ends agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sync.kernel import recurrence as rfc5545
from sync.kernel.errors import InvalidPayload
from sync.kernel.model import (
    CHANGE_TYPES,
    COLOR_IDS,
    CONFERENCE_TYPES,
    DELETED,
    EVENT_STATUSES,
    NOTIFY_POLICIES,
    VISIBILITIES,
    Attendee,
    Change,
    EventTime,
    PlatformEvent,
    Version,
    key_problem,
    ordering_key,
    parse_rfc3339,
    utc_key,
)
from sync.kernel.zones import is_time_zone

MAX_ID_LENGTH = 256
MAX_ORDERING_KEY_BYTES = 1024  # Pub/Sub's limit
MAX_DESCRIPTION = 8192
MAX_REMINDERS = 5
MAX_REMINDER_MINUTES = 40320
MAX_ATTENDEES = 1000
MAX_RECURRENCE_LINES = 100
MAX_URL = 2048
MAX_VERSION_SKEW = timedelta(hours=24)  # default of MAX_VERSION_SKEW_HOURS
# \Z, not $ (which also matches before a final line break): "a@b.co\n" is no address for Calendar.
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+\Z")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*\Z", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)  # date.fromisoformat also takes "2026-W48-3"

T = TypeVar("T")


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, loc: str, msg: str) -> None:
        self.items.append({"loc": loc, "msg": msg})


_NOT_JSON = "must be a UTF-8 JSON document"
_LONE_SURROGATE = ("must be a UTF-8 JSON document: a \\u escape in it names half of a character (a lone "
                   "surrogate, \\ud800 to \\udfff, without its pair)")


def decode_json(raw: bytes) -> Any:
    """The JSON document of a request's raw body, or InvalidPayload.

    A ``\\ud800`` escape with no partner is JSON's syntax but names no character: its text cannot be
    written as UTF-8 (to Pub/Sub, Firestore or Calendar), so the change could never be applied and
    every try would fail. Refused here, as a 400; only a body with such an escape in it is checked
    further (a pair, e.g. an emoji sent escaped, is one character and passes).
    """
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise InvalidPayload([{"loc": "body", "msg": _NOT_JSON}]) from None
    if ("\\ud" in text or "\\uD" in text) and not _writable(data):
        raise InvalidPayload([{"loc": "body", "msg": _LONE_SURROGATE}])
    return data


def _writable(data: Any) -> bool:
    """Whether every string in ``data`` (keys too) can be written as UTF-8. Walked without recursion
    (a document nested as deep as json.loads takes is no RecursionError here) and string by string
    (no copy of the whole document: a snapshot page may be 32 MiB)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if type(item) is str:  # json.loads makes these exact types
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return True


def parse_body(body: bytes) -> dict[str, Any]:
    """Decode the raw body as a JSON object, or raise InvalidPayload."""
    data = decode_json(body)
    if not isinstance(data, dict):
        raise InvalidPayload([{"loc": "body", "msg": "must be a JSON object"}])
    return data


def parse_change(data: dict[str, Any], webhook_id: str, now: datetime | None = None,
                 max_skew: timedelta = MAX_VERSION_SKEW) -> Change:
    """Validate a decoded payload; raise InvalidPayload listing every problem.

    With ``now`` (the caller's clock: this stays pure), a version more than ``max_skew`` ahead of
    it is a problem too: once applied it would win against every genuine change for good.
    """
    errors = _Errors()
    change_type = data.get("type")
    if change_type not in CHANGE_TYPES:
        errors.add("type", f"must be one of {', '.join(CHANGE_TYPES)}")
    account_id = _identifier(data.get("account_id"), "account_id", errors)
    user_id = _identifier(data.get("user_id"), "user_id", errors)
    raw_event = data.get("event")
    if not isinstance(raw_event, dict):
        errors.add("event", "is required and must be an object")
        raise InvalidPayload(errors.items)
    event_id = _identifier(raw_event.get("id"), "event.id", errors)
    version = _version(raw_event.get("updated_at"), errors, now, max_skew)
    if account_id and user_id and event_id:
        key = ordering_key(account_id, user_id, event_id)
        # UTF-8 takes at most 4 bytes a character: a key that short is not encoded to know it fits.
        if len(key) * 4 > MAX_ORDERING_KEY_BYTES and len(key.encode("utf-8")) > MAX_ORDERING_KEY_BYTES:
            errors.add("event.id", "account_id/user_id/event.id together exceed 1024 bytes")
        elif problem := key_problem(account_id, user_id):
            errors.add(*problem)
    event = None
    if change_type in CHANGE_TYPES and change_type != DELETED:
        event = _event(raw_event, event_id, errors)
    elif change_type == DELETED:  # who hears of the cancellation (docs/events.md#presentation-and-google-meet)
        _choice(raw_event, "notify_attendees", NOTIFY_POLICIES, errors)
    if errors.items:
        raise InvalidPayload(errors.items)
    assert change_type and account_id and user_id and event_id and version
    return Change(
        type=change_type,
        account_id=account_id,
        user_id=user_id,
        event_id=event_id,
        version=version,
        webhook_id=webhook_id,
        event=event,
        raw_event=raw_event,
    )


def _identifier(value: Any, loc: str, errors: _Errors) -> str | None:
    if not isinstance(value, str) or not value:
        errors.add(loc, "is required and must be a non-empty string")
        return None
    if len(value) > MAX_ID_LENGTH:
        errors.add(loc, f"must be at most {MAX_ID_LENGTH} characters")
        return None
    if not value.isprintable():
        errors.add(loc, "must not contain control characters")
        return None
    return value


def too_far_ahead(version: Version, now: datetime, max_skew: timedelta = MAX_VERSION_SKEW) -> bool:
    """Whether ``version`` is more than ``max_skew`` ahead of ``now`` (an aware datetime)."""
    limit = (now + max_skew).astimezone(timezone.utc)
    return version.key > utc_key(limit, limit.microsecond * 1000)


def _version(value: Any, errors: _Errors, now: datetime | None, max_skew: timedelta) -> Version | None:
    if not isinstance(value, str):
        errors.add("event.updated_at", "is required and must be an RFC 3339 string")
        return None
    try:
        version = Version.parse(value)
    except ValueError as exc:
        errors.add("event.updated_at", str(exc))
        return None
    if now is not None and too_far_ahead(version, now, max_skew):
        hours = f"{max_skew.total_seconds() / 3600:g}"
        errors.add("event.updated_at", f"must not be more than {hours} hours ahead of the service's clock")
        return None
    return version


def _optional(raw: dict[str, Any], name: str, kind: type[T], errors: _Errors) -> T | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        errors.add(f"event.{name}", f"must be a {kind.__name__}")
        return None
    return value


def _event(raw: dict[str, Any], event_id: str | None, errors: _Errors) -> PlatformEvent | None:
    before = len(errors.items)
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.add("event.title", "is required and must be a non-empty string")
    description = _optional(raw, "description", str, errors)
    if description is not None and len(description) > MAX_DESCRIPTION:
        errors.add("event.description", f"must be at most {MAX_DESCRIPTION} characters")
    location = _optional(raw, "location", str, errors)
    url = _url(raw, "url", errors)
    conference_url = _url(raw, "conference_url", errors)
    start, start_at = _event_time(raw.get("start"), "event.start", errors)
    end, end_at = _event_time(raw.get("end"), "event.end", errors)
    if start and end and start_at and end_at:
        if start.all_day != end.all_day:
            errors.add("event.end", "must be the same kind as start (both date or both date_time)")
        elif end_at <= start_at:
            errors.add("event.end", "must be after start")
    recurrence = _recurrence(raw.get("recurrence"), start, end, errors)
    attendees = _attendees(raw.get("attendees"), errors)
    reminders = _reminders(raw.get("reminders_minutes"), errors)
    conference = _conference(raw.get("conference"), errors)
    visibility = _choice(raw, "visibility", VISIBILITIES, errors)
    busy = _optional(raw, "busy", bool, errors)
    status = _choice(raw, "status", EVENT_STATUSES, errors)
    color = _color(raw.get("color"), errors)
    notify = _choice(raw, "notify_attendees", NOTIFY_POLICIES, errors)
    if len(errors.items) > before or event_id is None:
        return None
    assert isinstance(title, str) and start and end
    return PlatformEvent(
        id=event_id,
        title=title,
        start=start,
        end=end,
        description=description,
        location=location,
        recurrence=recurrence,
        attendees=attendees,
        reminders_minutes=reminders,
        conference_url=conference_url,
        url=url,
        conference=conference,
        visibility=visibility or "default",
        busy=True if busy is None else busy,
        status=status or "confirmed",
        color=color,
        notify_attendees=notify,
    )


def _choice(raw: dict[str, Any], name: str, values: tuple[str, ...], errors: _Errors) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in values:
        errors.add(f"event.{name}", "must be one of " + ", ".join(f'"{v}"' for v in values))
        return None
    return value


def _conference(value: Any, errors: _Errors) -> str | None:
    """``{"type": "google_meet"}`` → "google_meet"; null → no conference. Other keys inside are ignored,
    as in every other object of the event (forward compatibility)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add("event.conference", 'must be an object {"type": "google_meet"} or null')
        return None
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in CONFERENCE_TYPES:
        errors.add("event.conference.type", "must be one of " + ", ".join(f'"{v}"' for v in CONFERENCE_TYPES))
        return None
    return kind


def _color(value: Any, errors: _Errors) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in COLOR_IDS:
        errors.add("event.color", f"must be a whole number from {COLOR_IDS.start} to {COLOR_IDS.stop - 1} "
                                  "(Calendar's event colours)")
        return None
    return value


def _url(raw: dict[str, Any], name: str, errors: _Errors) -> str | None:
    value = _optional(raw, name, str, errors)
    if value is None:
        return None
    if len(value) > MAX_URL or not _URL.match(value):
        errors.add(f"event.{name}", "must be an absolute http(s) URL")
        return None
    return value


_NO_TIME: tuple[None, None] = (None, None)


def _event_time(value: Any, loc: str, errors: _Errors) -> tuple[EventTime, datetime] | tuple[None, None]:
    """The EventTime and the UTC instant it denotes (computed once: the span check compares them)."""
    if not isinstance(value, dict):
        errors.add(loc, 'is required and must be {"date"} or {"date_time", "time_zone"}')
        return _NO_TIME
    has_date = value.get("date") is not None
    has_dt = value.get("date_time") is not None
    if has_date == has_dt:
        errors.add(loc, 'needs exactly one of "date" or "date_time"')
        return _NO_TIME
    if has_date:
        text = value["date"]
        try:
            if not isinstance(text, str) or not _DATE.match(text):
                raise ValueError
            day = date.fromisoformat(text)
        except ValueError:
            errors.add(f"{loc}.date", "must be a YYYY-MM-DD date")
            return _NO_TIME
        all_day = EventTime(date=day)  # a time_zone beside a date means nothing for an all-day event
        return all_day, instant(all_day)
    text, zone = value["date_time"], value.get("time_zone")
    if zone is not None and (not isinstance(zone, str) or not is_time_zone(zone)):
        errors.add(f"{loc}.time_zone", "must be an IANA time zone name (e.g. America/Sao_Paulo)")
        return _NO_TIME
    parts = parse_rfc3339(text) if isinstance(text, str) else None
    if parts is None:
        errors.add(f"{loc}.date_time", "must be an RFC 3339 date-time")
        return _NO_TIME
    if parts[2] is None and zone is None:
        errors.add(f"{loc}.date_time", "needs an offset unless time_zone is given")
        return _NO_TIME
    event_time = EventTime(date_time=text, time_zone=zone)
    try:  # 0001-01-01T00:00:00 in Asia/Tokyo is before the first instant a datetime holds
        return event_time, _utc(parts, zone)
    except OverflowError:
        errors.add(f"{loc}.date_time", "is out of range")
        return _NO_TIME


def instant(t: EventTime) -> datetime:
    """The UTC instant an EventTime denotes (all-day: midnight UTC of the date)."""
    if t.date is not None:
        return datetime(t.date.year, t.date.month, t.date.day, tzinfo=timezone.utc)
    assert t.date_time is not None
    parts = parse_rfc3339(t.date_time)
    assert parts is not None
    return _utc(parts, t.time_zone)


def _utc(parts: tuple[datetime, int, timezone | None], time_zone: str | None) -> datetime:
    local, _, offset = parts
    return local.replace(tzinfo=offset or ZoneInfo(time_zone or "UTC")).astimezone(timezone.utc)


def _list(value: Any, loc: str, item_check: Callable[[Any, str], T | None], limit: int,
          errors: _Errors) -> list[T] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        errors.add(loc, "must be a list")
        return None
    if len(value) > limit:
        errors.add(loc, f"must have at most {limit} items")
        return None
    out = []
    for i, item in enumerate(value):
        checked = item_check(item, f"{loc}[{i}]")
        if checked is not None:
            out.append(checked)
    return out


def _recurrence(value: Any, start: EventTime | None, end: EventTime | None, errors: _Errors) -> tuple[str, ...]:
    def check(item: Any, loc: str) -> str | None:
        if not isinstance(item, str) or not item or "\n" in item or "\r" in item or len(item) > 1000:
            errors.add(loc, "must be one RRULE, EXRULE, RDATE or EXDATE line")
            return None
        return item

    lines = tuple(_list(value, "event.recurrence", check, MAX_RECURRENCE_LINES, errors) or ())
    if not lines or start is None:
        return lines
    if start.date_time is not None and not (start.time_zone and end is not None and end.time_zone):
        errors.add("event.recurrence", "recurring events need start.time_zone and end.time_zone")
        return lines
    local: date | datetime
    if start.date is not None:
        local = start.date
    else:
        parts = parse_rfc3339(start.date_time or "")
        assert parts is not None
        local = parts[0]
    for index, message in rfc5545.problems(lines, local, start.time_zone):
        errors.add(f"event.recurrence[{index}]", message)
    return lines


def _attendees(value: Any, errors: _Errors) -> tuple[Attendee, ...]:
    def check(item: Any, loc: str) -> Attendee | None:
        if not isinstance(item, dict):
            errors.add(loc, "must be an object")
            return None
        email = item.get("email")
        if not isinstance(email, str) or len(email) > 254 or not _EMAIL.match(email):
            errors.add(f"{loc}.email", "must be a valid email address")
            return None
        name = item.get("display_name")
        if name is not None and not isinstance(name, str):
            errors.add(f"{loc}.display_name", "must be a string")
            return None
        optional = item.get("optional", False)
        if optional is None:
            optional = False
        if not isinstance(optional, bool):
            errors.add(f"{loc}.optional", "must be a boolean")
            return None
        return Attendee(email=email, display_name=name or None, optional=optional)

    attendees = _list(value, "event.attendees", check, MAX_ATTENDEES, errors) or []
    unique: dict[str, Attendee] = {}
    for attendee in attendees:  # Calendar keeps one entry per address: the first one wins
        unique.setdefault(attendee.email.lower(), attendee)
    return tuple(unique.values())


def _reminders(value: Any, errors: _Errors) -> tuple[int, ...] | None:
    def check(item: Any, loc: str) -> int | None:
        if isinstance(item, bool) or not isinstance(item, int):
            errors.add(loc, "must be a whole number of minutes")
            return None
        if not 0 <= item <= MAX_REMINDER_MINUTES:
            errors.add(loc, f"must be between 0 and {MAX_REMINDER_MINUTES} minutes")
            return None
        return item

    checked = _list(value, "event.reminders_minutes", check, MAX_REMINDERS, errors)
    if checked is None:
        return None
    return tuple(dict.fromkeys(checked))  # drop repeats, keep order
