"""When an event ends: a fact about the event, kept on its mapping (a snapshot's window,
docs/snapshots.md#what-is-applied, reads it). Pure.

A windowed snapshot (``covers.from``) holds every event whose end is at or after ``from``; a
series counts by its last occurrence, and a series without end is always inside. The service
stores each applied event's end on its mapping, so reconcile can tell which synced events the
snapshot was meant to hold. Errors lean one way: an end we cannot work out exactly is taken
as earlier (or unknown), so an event the platform may have left out of the window is never
deleted by mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from zoneinfo import ZoneInfo

from sync.kernel.model import EventTime, PlatformEvent, parse_rfc3339

# An all-day event's end date is a local midnight somewhere between UTC-12 and UTC+14; the
# earliest of these is the one that never puts an event inside a window it is not in.
ALL_DAY_EARLIEST_OFFSET = timedelta(hours=14)
MAX_OCCURRENCES = 100_000  # beyond this the end is left unknown (such an event is never reconciled)
# dateutil walks a rule that yields nothing (or little) period by period up to the year 9999: for a
# sub-daily rule that is seconds to forever (BYSETPOS), and an event may hold 99 EXRULEs. Calendar
# repeats nothing more often than daily and EXRULE left RFC 5545, so such series keep an unknown end.
_SUB_DAILY = re.compile(r"FREQ=(SECONDLY|MINUTELY|HOURLY)\b")


@dataclass(frozen=True)
class Span:
    ends_at: str | None  # fixed-width UTC key (as Version.key), None when unknown
    open_ended: bool = False


def key(instant: datetime) -> str:
    """A fixed-width UTC key that compares like the instant (the format of Version.key)."""
    utc = instant.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond * 1000:09d}Z"


def _all_day_end(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - ALL_DAY_EARLIEST_OFFSET


def _instant(t: EventTime) -> datetime:
    from sync.kernel.payload import instant

    return instant(t)


def event_span(event: PlatformEvent) -> Span:
    """The end of ``event`` (of its last occurrence for a series)."""
    if not event.recurrence:
        if event.end.date is not None:
            return Span(key(_all_day_end(event.end.date)))
        return Span(key(_instant(event.end)))
    rules = [line.upper() for line in event.recurrence if line.upper().startswith("RRULE")]
    if any("COUNT=" not in r and "UNTIL=" not in r for r in rules):
        return Span(None, open_ended=True)
    if any(line.upper().startswith("EXRULE") or _SUB_DAILY.search(line.upper()) for line in event.recurrence):
        return Span(None)  # not iterated: see _SUB_DAILY
    try:
        return _last_occurrence(event)
    except (ValueError, TypeError, KeyError, OverflowError):
        return Span(None)


def _last_occurrence(event: PlatformEvent) -> Span:
    if event.start.date is not None:
        assert event.end.date is not None
        start = datetime(event.start.date.year, event.start.date.month, event.start.date.day)
        last = _last(_series(event.recurrence, start, None))
        if last is None:
            return Span(None)
        return Span(key(_all_day_end((last + (event.end.date - event.start.date)).date())))
    parts = parse_rfc3339(event.start.date_time or "")
    assert parts is not None
    zone = ZoneInfo(event.start.time_zone or "UTC")
    start = parts[0].replace(tzinfo=zone)
    last = _last(_series(event.recurrence, start, zone))
    if last is None:
        return Span(None)
    return Span(key(last.astimezone(timezone.utc) + (_instant(event.end) - _instant(event.start))))


def _series(lines: tuple[str, ...], start: datetime, zone: ZoneInfo | None) -> object:
    """An rruleset of the lines (dateutil reads RRULE/EXRULE; RDATE/EXDATE values read here,
    since dateutil refuses their TZID parameter)."""
    from dateutil.rrule import rruleset, rrulestr

    rset = rruleset()
    rset.rdate(start)
    for line in lines:
        name, _, value = line.partition(":")
        head = name.split(";")
        kind = head[0].upper()
        if kind in ("RRULE", "EXRULE"):
            rule = rrulestr(value, dtstart=start)
            (rset.rrule if kind == "RRULE" else rset.exrule)(rule)
            continue
        params = {k.upper(): v for k, _, v in (p.partition("=") for p in head[1:])}
        tz = ZoneInfo(params["TZID"]) if "TZID" in params else zone
        for item in value.split(","):
            when = _value(item, tz, zone)
            (rset.rdate if kind == "RDATE" else rset.exdate)(when)
    return rset


def _value(text: str, tz: ZoneInfo | None, zone: ZoneInfo | None) -> datetime:
    if len(text) == 8:  # a DATE (all-day series)
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]))
    local = datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]),
                     int(text[13:15]))
    if text.endswith("Z"):
        return local.replace(tzinfo=timezone.utc).astimezone(zone) if zone else local
    return local.replace(tzinfo=tz).astimezone(zone) if tz and zone else local


def _last(rset: object) -> datetime | None:
    occurrences = list(islice(iter(rset), MAX_OCCURRENCES + 1))  # type: ignore[call-overload]
    if len(occurrences) > MAX_OCCURRENCES or not occurrences:
        return None
    return max(occurrences)  # type: ignore[no-any-return]
