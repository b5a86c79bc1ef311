"""The webhook's hot-path shortcuts give the answers of the slow paths they replace."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import example, given
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


# Ids as the platform may send them: ASCII, Latin, CJK, emoji, the reserved underscores, "%" and ":".
_ID_CHARS = st.sampled_from(list("ab_Z09-.~%:/ ") + ["é", "ç", "日", "😀", "\u00a0"])
_IDS = st.text(_ID_CHARS, min_size=1, max_size=256)


@given(_IDS, _IDS)
@example("😀" * 63, "😀" * 62)  # 1501 bytes escaped: just over
@example("😀" * 62, "😀" * 62)  # 1489: fits
@example("é" * 125, "é" * 125)  # 1501
@example("__" + "😀" * 62, "a__")
def test_key_problem_without_escaping_gives_the_escaped_keys_verdict(account_id, user_id):
    from sync.kernel.model import MAX_DOCUMENT_ID_BYTES, connection_key, key_problem

    key = connection_key(account_id, user_id)
    if len(key) > MAX_DOCUMENT_ID_BYTES:
        expected = "user_id", "account_id and user_id are too long together once escaped for storage"
    elif key.startswith("__") and key.endswith("__"):
        expected = "user_id", "an account_id starting and a user_id ending with '__' are reserved"
    else:
        expected = None
    assert key_problem(account_id, user_id) == expected


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)))
def test_the_version_skew_limit_is_strftimes_text(now):
    from sync.kernel.payload import too_far_ahead

    limit = now.astimezone(timezone.utc)
    text = limit.strftime("%Y-%m-%dT%H:%M:%S") + f".{limit.microsecond * 1000:09d}Z"
    assert too_far_ahead(Version(text), now, timedelta(0)) is False
    assert too_far_ahead(Version(text[:-2] + "1Z"), now, timedelta(0)) is True


@given(st.lists(st.sampled_from(["RRULE:FREQ=WEEKLY;BYDAY=MO", "RRULE:FREQ=DAILY;UNTIL=20270131T120000Z",
                                 "RRULE:FREQ=DAILY;UNTIL=20270131", "EXDATE;VALUE=DATE:20261202",
                                 "EXDATE;TZID=Europe/Berlin:20261202T100000", "RDATE:20261202T100000Z",
                                 "RRULE;X=1:FREQ=DAILY", "FOO:BAR", "EXRULE:FREQ=DAILY;COUNT=2"]), max_size=4),
       st.booleans(), st.sampled_from([None, "UTC", "Asia/Tokyo"]))
def test_cached_line_verdicts_are_the_ones_for_the_event(lines, all_day, zone):
    """Each line's verdict is cached by (line, kind of event, zone): the same whatever the start."""
    start = datetime(2026, 3, 8, 2) if not all_day else datetime(2026, 3, 8).date()
    other = datetime(1999, 12, 31, 23) if not all_day else datetime(2030, 1, 1).date()
    recurrence._line_problem.cache_clear()
    first = recurrence.problems(tuple(lines), start, zone)
    recurrence._line_problem.cache_clear()
    assert recurrence.problems(tuple(lines), other, zone) == first
    assert recurrence.problems(tuple(lines), start, zone) == first  # now from the cache
