"""RFC 5545 recurrence lines (RRULE, EXRULE, RDATE, EXDATE) checked before Calendar sees them.

Rule parts are range-checked here first (dateutil loops forever on ``INTERVAL=0``, for one),
then the rule is built, never iterated, by ``dateutil.rrule`` as a second opinion. Value
forms must match the event: all-day events use DATE values (``UNTIL=20261231``,
``EXDATE;VALUE=DATE:20261202``); timed events use DATE-TIME values, with ``UNTIL`` in UTC.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from sync.kernel.zones import is_time_zone

_LINE = re.compile(r"^(?P<name>[A-Za-z]+)(?P<params>(?:;[A-Za-z-]+=[^;:]+)*):(?P<value>.+)$")
# re.ASCII: \d is 0-9 only (Calendar reads no other digits).
_DATE = re.compile(r"^\d{8}$", re.ASCII)
_DATE_TIME = re.compile(r"^\d{8}T\d{6}Z?$", re.ASCII)
_WEEKDAY = re.compile(r"^[+-]?(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$", re.ASCII)
_FREQS = {"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_RANGES = {  # name → (lowest, highest, may be negative)
    "BYSECOND": (0, 60, False), "BYMINUTE": (0, 59, False), "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True), "BYYEARDAY": (1, 366, True), "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False), "BYSETPOS": (1, 366, True),
}


def problems(lines: tuple[str, ...], start_local: datetime | date, time_zone: str | None) -> list[tuple[int, str]]:
    """(line index, message) for every line that is not valid for this event."""
    all_day = not isinstance(start_local, datetime)
    out: list[tuple[int, str]] = []
    rrules = 0
    for i, line in enumerate(lines):
        is_rrule, problem = _line_problem(line, all_day, time_zone)
        rrules += is_rrule
        if problem:
            out.append((i, problem))
    if rrules > 1:
        out.append((len(lines) - 1, "only one RRULE is allowed"))
    return out


@lru_cache(maxsize=1024)  # lines are at most 1000 characters: 1 MB at most
def _line_problem(line: str, all_day: bool, time_zone: str | None) -> tuple[bool, str | None]:
    """(whether it is an RRULE, what is wrong with it or None) for one line. A line's verdict
    depends on the line, the kind of event and its zone only, and series repeat their rules: cached."""
    m = _LINE.match(line)
    if not m:
        return False, "must look like NAME[;PARAM=VALUE]:VALUE"
    name = m.group("name").upper()
    params = dict(p.split("=", 1) for p in m.group("params").split(";")[1:])
    params = {k.upper(): v for k, v in params.items()}
    if name in ("RRULE", "EXRULE"):
        return name == "RRULE", "has no parameters" if params else _rule_problem(m.group("value"), all_day, time_zone)
    if name in ("RDATE", "EXDATE"):
        return False, _dates_problem(name, params, m.group("value"), all_day)
    return False, "must be an RRULE, EXRULE, RDATE or EXDATE line"


def _rule_problem(rule: str, all_day: bool, time_zone: str | None) -> str | None:
    parts: dict[str, str] = {}
    for piece in rule.split(";"):
        key, sep, value = piece.partition("=")
        key = key.upper()
        if not sep or not value or key in parts:
            return "is not a valid RFC 5545 recurrence rule"
        parts[key] = value.upper()
    if parts.get("FREQ") not in _FREQS:
        return "needs FREQ=DAILY, WEEKLY, MONTHLY, YEARLY, …"
    if "COUNT" in parts and "UNTIL" in parts:
        return "COUNT and UNTIL cannot both be given"
    for key in ("COUNT", "INTERVAL"):
        if key in parts and not (_digits(parts[key]) and 0 < int(parts[key]) <= 10000):
            return f"{key} must be a whole number from 1 to 10000"
    for key, (low, high, signed) in _RANGES.items():
        for item in parts.get(key, "").split(",") if key in parts else []:
            number = item[1:] if signed and item[:1] in "+-" else item
            if not _digits(number) or not low <= int(number) <= high:
                return f"{key} value {item} is out of range"
    for day in parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []:
        if not _WEEKDAY.match(day):
            return f"BYDAY value {day} is not a weekday"
    if "WKST" in parts and parts["WKST"] not in ("MO", "TU", "WE", "TH", "FR", "SA", "SU"):
        return "WKST must be a weekday"
    until = parts.get("UNTIL")
    if until is not None:
        if all_day and not _DATE.match(until):
            return "UNTIL must be a date (YYYYMMDD) for an all-day event"
        if not all_day and not (_DATE_TIME.match(until) and until.endswith("Z")):
            return "UNTIL must be a UTC date-time (YYYYMMDDTHHMMSSZ) for a timed event"
        if not _valid_value(until):
            return "UNTIL is not a real date"
    return _dateutil_problem(rule, None if all_day else time_zone or "UTC")


@lru_cache(maxsize=1024)
def _dateutil_problem(rule: str, time_zone: str | None) -> str | None:
    """dateutil's second opinion on ``rule`` for a timed event in ``time_zone`` (None: all-day).

    Whether dateutil accepts a rule depends on the rule and on DTSTART's zone (UNTIL is
    compared and converted with it), not on DTSTART's date and time, so a fixed DTSTART of
    that kind gives the same answer and the answer can be cached: building the rule (and
    parsing its UNTIL with dateutil's parser) is the costliest step of validating a webhook.
    """
    from dateutil.rrule import rrulestr  # imported here: only validation needs it

    dtstart = (datetime(2000, 1, 1, 12, tzinfo=ZoneInfo(time_zone)) if time_zone is not None
               else datetime(2000, 1, 1))
    try:
        rrulestr(rule, dtstart=dtstart)  # built, never iterated
    except (ValueError, TypeError, KeyError):
        return "is not a valid RFC 5545 recurrence rule"
    return None


def _dates_problem(name: str, params: dict[str, str], value: str, all_day: bool) -> str | None:
    kind = params.get("VALUE", "DATE-TIME").upper()
    if set(params) - {"VALUE", "TZID"} or kind not in ("DATE", "DATE-TIME", "PERIOD"):
        return f"{name} takes only VALUE=DATE|DATE-TIME and TZID"
    if kind == "PERIOD":
        return "PERIOD values are not supported by Google Calendar"
    if "TZID" in params:
        if not is_time_zone(params["TZID"]):
            return f"TZID {params['TZID']} is not an IANA time zone"
    if all_day and kind != "DATE":
        return f"{name} of an all-day event needs VALUE=DATE"
    if not all_day and kind == "DATE":
        return f"{name} of a timed event needs date-times"
    pattern = _DATE if kind == "DATE" else _DATE_TIME
    for item in value.split(","):
        if not pattern.match(item) or not _valid_value(item):
            return f"{name} value {item} is not a valid {kind.lower()}"
        if kind == "DATE-TIME" and "TZID" in params and item.endswith("Z"):
            return f"{name} value {item} cannot be UTC and have a TZID"
    return None


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" (which int() refuses) and "٣"."""
    return text.isascii() and text.isdigit()


def _valid_value(text: str) -> bool:
    try:
        if len(text) == 8:
            date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        else:
            datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]),
                     int(text[13:15]))
    except ValueError:
        return False
    return True
