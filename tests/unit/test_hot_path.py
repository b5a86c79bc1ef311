"""The webhook's hot-path shortcuts give the answers of the slow paths they replace."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given
from hypothesis import strategies as st

from sync.kernel import recurrence
from sync.kernel.model import Version

RULES = ["FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10", "FREQ=DAILY;UNTIL=20270131T120000Z", "FREQ=DAILY;UNTIL=20270131",
         "FREQ=MONTHLY;BYMONTHDAY=31", "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO", "FREQ=WEEKLY;BYSETPOS=-1;BYDAY=FR",
         "FREQ=DAILY;UNTIL=99991231T235959Z", "FREQ=DAILY;BYEASTER=1", "FREQ=HOURLY;BYHOUR=25", "FREQ=NONE"]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("zone", [None, "America/Sao_Paulo", "Pacific/Kiritimati", "UTC"])
@pytest.mark.parametrize("start", [datetime(2026, 1, 31, 23, 30), datetime(1999, 12, 31), datetime(2026, 3, 8, 2)])
def test_the_cached_dateutil_verdict_is_the_one_for_the_events_own_start(rule, zone, start):
    dtstart = start.replace(tzinfo=ZoneInfo(zone)) if zone else start.replace(hour=0, minute=0)
    try:
        rrulestr(rule, dtstart=dtstart)
        expected = None
    except (ValueError, TypeError, KeyError):
        expected = "is not a valid RFC 5545 recurrence rule"
    assert recurrence._dateutil_problem(rule, zone) == expected


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(0, 999_999_999), st.integers(-23 * 60, 23 * 60))
def test_version_keys_are_strftimes_text(local, nanos, offset_minutes):
    local = local.replace(microsecond=nanos // 1000)
    tz = timezone(timedelta(minutes=offset_minutes))
    sign = "+" if offset_minutes >= 0 else "-"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}" + \
        f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    utc = local.replace(tzinfo=tz).astimezone(timezone.utc)
    assert Version.parse(text).key == utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
