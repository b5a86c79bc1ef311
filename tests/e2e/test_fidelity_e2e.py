"""Issue 5's cases through the local stack: each lands in the stand-in calendar as scheduled."""

import pytest

from local.standin import _instant
from tests.helpers import payload, wait_for
from tests.unit.test_fidelity import DST_CASES, utc


def ids(user, **kw):
    return payload(account_id=user["account_id"], user_id=user["user_id"], **kw)


def landed(platform, user, event_id, check=lambda e: True):
    return wait_for(lambda: (e := platform.event(user, event_id)) and check(e) and e, timeout=45,
                    what=f"{event_id} in the calendar")


def test_dst_cases_land_at_the_scheduled_wall_clock(platform, user):
    for i, (zone, local, _) in enumerate(DST_CASES):
        platform.accepted(ids(user, event_id=f"dst-{i}", start={"date_time": local, "time_zone": zone},
                              end={"date_time": local[:11] + "23:59:00", "time_zone": zone}))
    for i, (zone, local, expected) in enumerate(DST_CASES):
        event = landed(platform, user, f"dst-{i}")
        assert event["start"] == {"dateTime": local, "timeZone": zone}
        assert _instant(event["start"]) == utc(expected)


@pytest.mark.parametrize("start,end", [("2026-12-31", "2027-01-01"), ("2026-01-30", "2026-02-02"),
                                       ("2028-02-28", "2028-03-01")])
def test_all_day_spans(platform, user, start, end):
    platform.accepted(ids(user, start={"date": start}, end={"date": end}))
    event = landed(platform, user, "ev-1001")
    assert event["start"] == {"date": start} and event["end"] == {"date": end}


def test_weekly_series_with_an_exception_then_a_new_rule_replaces_it(platform, user):
    series = ["RRULE:FREQ=WEEKLY;BYDAY=WE;COUNT=6", "EXDATE;TZID=America/Sao_Paulo:20261202T140000"]
    platform.accepted(ids(user, recurrence=series))
    assert landed(platform, user, "ev-1001")["recurrence"] == series
    platform.accepted(ids(user, kind="event.updated", updated=1, recurrence=["RRULE:FREQ=DAILY;COUNT=3"]))
    event = landed(platform, user, "ev-1001", lambda e: e["recurrence"] == ["RRULE:FREQ=DAILY;COUNT=3"])
    assert event["sequence"] == 1
    platform.accepted(ids(user, kind="event.updated", updated=2))  # no longer recurring
    landed(platform, user, "ev-1001", lambda e: "recurrence" not in e)


def test_long_unicode_html_fields_land_trimmed_and_intact(platform, user):
    title = "<b>Sessão</b> 👩\u200d👩\u200d👧 " + "ç" * 2000
    platform.accepted(ids(user, title=title, description=("Ação — " * 1170)[:8192],
                          url="https://app.example.com/e/1", attendees=[{"email": "cliente@example.com"}],
                          reminders_minutes=[0, 40320]))
    event = landed(platform, user, "ev-1001")
    assert event["summary"].startswith("<b>Sessão</b> 👩\u200d👩\u200d👧 ç") and event["summary"].endswith("…")
    assert event["description"].endswith("[…]\nhttps://app.example.com/e/1")
    assert event["attendees"] == [{"email": "cliente@example.com", "optional": False}]
    assert event["reminders"]["overrides"] == [{"method": "popup", "minutes": 0},
                                               {"method": "popup", "minutes": 40320}]


def test_unknown_zone_and_bad_rules_are_refused_at_the_webhook(platform, user):
    r = platform.send(ids(user, start={"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paolo"}))
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == "event.start.time_zone"
    r = platform.send(ids(user, recurrence=["RRULE:FREQ=WEEKLY;UNTIL=20261231"]))
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == "event.recurrence[0]"


def test_presentation_lands_and_a_version_without_it_goes_back_to_the_defaults(platform, user):
    platform.accepted(ids(user, event_id="look", visibility="private", busy=False, status="tentative", color=9))
    event = landed(platform, user, "look")
    assert (event["visibility"], event["transparency"], event["status"], event["colorId"]) == (
        "private", "transparent", "tentative", "9")
    platform.accepted(ids(user, event_id="look", kind="event.updated", updated=1, title="Sem cor"))
    event = landed(platform, user, "look", lambda e: e["summary"] == "Sem cor")
    assert event["status"] == "confirmed"
    assert not {"visibility", "transparency", "colorId"} & event.keys()  # Google's defaults, the calendar's colour
    r = platform.send(ids(user, event_id="look", kind="event.updated", updated=2, color=True, busy="no"))
    assert r.status_code == 400 and {d["loc"] for d in r.json()["detail"]} == {"event.color", "event.busy"}
