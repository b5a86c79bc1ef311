"""What the user sees in Google Calendar is what they scheduled (issue 5), table-driven."""

from datetime import UTC, datetime

import pytest

from local.standin import _check_event_semantics, _instant
from sync.kernel.errors import InvalidPayload
from sync.kernel.payload import instant, parse_change
from sync.kernel.planner import CUT_MARKER, ELLIPSIS, event_body, utf16_length
from tests.helpers import payload


def body_for(**fields):
    change = parse_change(payload(**fields), "m")
    body = event_body(change, "abcdefghij0123456789")
    _check_event_semantics(body)  # what the stand-in (and Google) would refuse
    return change, body


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (zone, local wall-clock start, the instant it denotes): around each zone's DST transitions.
DST_CASES = [
    # São Paulo observed DST until 2019: UTC-2 in summer, UTC-3 otherwise.
    ("America/Sao_Paulo", "2018-11-03T09:00:00", "2018-11-03T12:00:00"),  # day before DST began
    ("America/Sao_Paulo", "2018-11-05T09:00:00", "2018-11-05T11:00:00"),  # first days of DST (-02:00)
    ("America/Sao_Paulo", "2019-02-16T22:30:00", "2019-02-17T00:30:00"),  # last evening of DST
    ("America/Sao_Paulo", "2019-02-17T09:00:00", "2019-02-17T12:00:00"),  # back to -03:00
    ("America/Sao_Paulo", "2026-11-25T14:00:00", "2026-11-25T17:00:00"),  # no DST since 2019
    ("America/New_York", "2026-03-07T09:00:00", "2026-03-07T14:00:00"),  # EST
    ("America/New_York", "2026-03-08T09:00:00", "2026-03-08T13:00:00"),  # EDT, same morning
    ("America/New_York", "2026-10-31T09:00:00", "2026-10-31T13:00:00"),
    ("America/New_York", "2026-11-01T09:00:00", "2026-11-01T14:00:00"),  # EST again
    ("Europe/Lisbon", "2026-03-28T09:00:00", "2026-03-28T09:00:00"),  # WET
    ("Europe/Lisbon", "2026-03-29T09:00:00", "2026-03-29T08:00:00"),  # WEST
    ("Europe/Lisbon", "2026-10-24T09:00:00", "2026-10-24T08:00:00"),
    ("Europe/Lisbon", "2026-10-25T09:00:00", "2026-10-25T09:00:00"),
]


@pytest.mark.parametrize("zone,local,expected", DST_CASES)
def test_wall_clock_and_zone_are_sent_unchanged_and_denote_the_right_instant(zone, local, expected):
    end = local[:11] + "23:59:00"
    change, body = body_for(start={"date_time": local, "time_zone": zone},
                            end={"date_time": end, "time_zone": zone})
    assert body["start"] == {"dateTime": local, "timeZone": zone}  # no offset invented by the service
    assert instant(change.event.start) == utc(expected)
    assert _instant(body["start"]) == utc(expected)  # as Calendar reads it


def test_a_weekly_series_across_a_dst_change_keeps_its_wall_clock():
    _, body = body_for(start={"date_time": "2026-10-20T09:00:00", "time_zone": "America/New_York"},
                       end={"date_time": "2026-10-20T10:00:00", "time_zone": "America/New_York"},
                       recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    assert body["start"]["timeZone"] == "America/New_York"  # Calendar expands in the zone: 9:00 every week
    assert body["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]


def test_explicit_offsets_are_kept_as_given():
    change, body = body_for(start={"date_time": "2026-11-25T14:00:00-03:00"},
                            end={"date_time": "2026-11-25T18:00:00Z"})
    assert body["start"] == {"dateTime": "2026-11-25T14:00:00-03:00"}
    assert body["end"] == {"dateTime": "2026-11-25T18:00:00Z"}
    assert instant(change.event.start) == utc("2026-11-25T17:00:00")


@pytest.mark.parametrize("start,end", [
    ("2026-12-31", "2027-01-01"),  # one day, over the year end
    ("2026-01-30", "2026-02-02"),  # three days over a month end
    ("2028-02-28", "2028-03-01"),  # leap day included
    ("2026-12-24", "2027-01-03"),  # ten days over the year end
])
def test_all_day_spans_use_dates_with_an_exclusive_end(start, end):
    _, body = body_for(start={"date": start}, end={"date": end})
    assert body["start"] == {"date": start} and body["end"] == {"date": end}


def test_all_day_end_must_be_after_start():
    with pytest.raises(InvalidPayload):
        parse_change(payload(start={"date": "2026-12-31"}, end={"date": "2026-12-31"}), "m")


def test_a_weekly_series_with_one_exception():
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=WE;COUNT=6", "EXDATE;TZID=America/Sao_Paulo:20261202T140000"]
    _, body = body_for(recurrence=lines)
    assert body["recurrence"] == lines


def test_html_in_titles_is_sent_as_text():
    title = '<b>Reunião</b> & <script>alert("x")</script>'
    _, body = body_for(title=title)
    assert body["summary"] == title  # Calendar shows summary as plain text


@pytest.mark.parametrize("title", ["Diagnóstico — Cliente X", "会议 🗓️ 👩‍👩‍👧", "مراجعة", "a\u0301b\u0308", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"])
def test_any_unicode_survives(title):
    _, body = body_for(title=title, description=title, location=title)
    assert body["summary"] == title and body["location"] == title and body["description"] == title


def test_long_titles_and_locations_are_trimmed_with_a_visible_marker():
    _, body = body_for(title="T" * 5000, location="L" * 2000)
    assert body["summary"].endswith(ELLIPSIS) and utf16_length(body["summary"]) == 1024
    assert body["location"].endswith(ELLIPSIS) and utf16_length(body["location"]) == 1024


def test_trimming_counts_utf16_and_never_splits_a_character():
    _, body = body_for(title="😀" * 600)  # 1200 code units
    assert utf16_length(body["summary"]) <= 1024 and body["summary"].endswith(ELLIPSIS)
    assert set(body["summary"][:-1]) == {"😀"}
    _, body = body_for(title="e\u0301" * 600)  # never leaves a dangling accent
    assert body["summary"].removesuffix(ELLIPSIS).endswith("e\u0301")


def test_a_long_description_keeps_its_links():
    url, meet = "https://app.example.com/events/ev-1", "https://meet.example.com/abc"
    _, body = body_for(description="D" * 8192, url=url, conference_url=meet)
    assert utf16_length(body["description"]) <= 8192
    text, link1, link2 = body["description"].rsplit("\n", 2)
    assert text.endswith(CUT_MARKER) and (link1, link2) == (url, meet)


def test_links_go_where_calendar_shows_them():
    _, body = body_for(url="https://app.example.com/e/1", conference_url="https://meet.example.com/x")
    assert body["source"] == {"title": "Evolutto", "url": "https://app.example.com/e/1"}
    assert body["location"] == "https://meet.example.com/x"  # no location given: the meeting link
    assert body["description"] == "https://app.example.com/e/1\nhttps://meet.example.com/x"
    _, body = body_for(location="Sala 2", conference_url="https://meet.example.com/x")
    assert body["location"] == "Sala 2" and body["description"] == "https://meet.example.com/x"


def test_attendees_are_mapped_and_duplicates_folded():
    _, body = body_for(attendees=[{"email": "Ana@Example.com", "display_name": "Ana", "optional": True},
                                  {"email": "ana@example.com"}, {"email": "bia@example.com"}])
    assert body["attendees"] == [{"email": "Ana@Example.com", "displayName": "Ana", "optional": True},
                                 {"email": "bia@example.com", "optional": False}]


def test_removed_fields_disappear_because_every_write_is_whole():
    _, full = body_for(description="x", location="y", url="https://a.example.com", reminders_minutes=[5],
                       attendees=[{"email": "a@example.com"}], recurrence=["RRULE:FREQ=DAILY;COUNT=2"])
    _, bare = body_for()
    assert not {"description", "location", "source", "attendees", "recurrence"} & bare.keys()
    assert bare["reminders"] == {"useDefault": True} and bare["status"] == "confirmed"
    assert {"description", "location", "source", "attendees", "recurrence"} <= full.keys()


def test_trimming_keeps_emoji_sequences_whole():
    family = "👩\u200d👩\u200d👧"
    _, body = body_for(title="x" + family * 300)
    kept = body["summary"].removeprefix("x").removesuffix(ELLIPSIS)
    assert kept == family * (len(kept) // len(family))
