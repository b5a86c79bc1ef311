from datetime import date, datetime

import pytest

from sync.kernel.recurrence import problems

TIMED = (datetime(2026, 11, 25, 14, 0), "America/Sao_Paulo")
ALL_DAY = (date(2026, 11, 25), None)


@pytest.mark.parametrize("lines,start", [
    (["RRULE:FREQ=WEEKLY;COUNT=4"], TIMED),
    (["RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20261231T235959Z"], TIMED),
    (["RRULE:FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2"], TIMED),
    (["RRULE:FREQ=MONTHLY;BYMONTHDAY=-1,15"], TIMED),
    (["RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"], TIMED),
    (["RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE;TZID=America/Sao_Paulo:20261202T140000"], TIMED),
    (["RRULE:FREQ=WEEKLY", "EXDATE:20261202T170000Z,20261209T170000Z", "RDATE:20261226T170000Z"], TIMED),
    (["RRULE:FREQ=DAILY;UNTIL=20261231"], ALL_DAY),
    (["RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;VALUE=DATE:20261202"], ALL_DAY),
    (["rrule:freq=weekly;count=2"], TIMED),
])
def test_valid_lines(lines, start):
    assert problems(tuple(lines), *start) == []


@pytest.mark.parametrize("line,start,why", [
    ("FREQ=WEEKLY", TIMED, "NAME"),
    ("RRULE:FREQ=SOMETIMES", TIMED, "FREQ"),
    ("RRULE:COUNT=3", TIMED, "FREQ"),
    ("RRULE:FREQ=DAILY;INTERVAL=0", TIMED, "INTERVAL"),
    ("RRULE:FREQ=DAILY;COUNT=-1", TIMED, "COUNT"),
    ("RRULE:FREQ=DAILY;COUNT=2;UNTIL=20261231T000000Z", TIMED, "COUNT and UNTIL"),
    ("RRULE:FREQ=DAILY;UNTIL=20261231", TIMED, "UTC date-time"),
    ("RRULE:FREQ=DAILY;UNTIL=20261231T000000", TIMED, "UTC date-time"),
    ("RRULE:FREQ=DAILY;UNTIL=20261231T000000Z", ALL_DAY, "date"),
    ("RRULE:FREQ=DAILY;UNTIL=20260231", ALL_DAY, "real date"),
    ("RRULE:FREQ=MONTHLY;BYMONTHDAY=32", TIMED, "BYMONTHDAY"),
    ("RRULE:FREQ=MONTHLY;BYMONTHDAY=0", TIMED, "BYMONTHDAY"),
    ("RRULE:FREQ=YEARLY;BYMONTH=13", TIMED, "BYMONTH"),
    ("RRULE:FREQ=WEEKLY;BYDAY=XX", TIMED, "BYDAY"),
    ("RRULE:FREQ=WEEKLY;WKST=ZZ", TIMED, "WKST"),
    ("RRULE:FREQ=WEEKLY;FOO=1", TIMED, "valid RFC 5545"),
    ("RRULE:FREQ=WEEKLY;FREQ=DAILY", TIMED, "valid RFC 5545"),
    ("RRULE;X=1:FREQ=WEEKLY", TIMED, "no parameters"),
    ("EXDATE;VALUE=DATE:20261202", TIMED, "date-times"),
    ("EXDATE:20261202T140000Z", ALL_DAY, "VALUE=DATE"),
    ("EXDATE;TZID=Mars/Base:20261202T140000", TIMED, "TZID"),
    ("EXDATE;TZID=America/Sao_Paulo:20261202T140000Z", TIMED, "UTC and have a TZID"),
    ("EXDATE:20261302T140000Z", TIMED, "valid"),
    ("RDATE;VALUE=PERIOD:20261202T140000Z/PT1H", TIMED, "PERIOD"),
    ("RDATE;FOO=BAR:20261202T140000Z", TIMED, "takes only"),
    ("DTSTART:20261202T140000Z", TIMED, "must be an RRULE"),
])
def test_invalid_lines(line, start, why):
    found = problems((line,), *start)
    assert found and why in found[0][1], found


def test_only_one_rrule():
    assert problems(("RRULE:FREQ=DAILY;COUNT=2", "RRULE:FREQ=WEEKLY;COUNT=2"), *TIMED)
