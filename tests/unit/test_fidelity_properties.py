"""Property: for any valid platform event, the Event body the worker sends validates against the
``calendar.v3.json`` discovery schema and Calendar's own rules, and denotes the platform's instants."""

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from local import discovery
from local.standin import _check_event_semantics, _instant
from sync.kernel.errors import InvalidPayload
from sync.kernel.model import google_event_id
from sync.kernel.payload import instant, parse_change
from sync.kernel.planner import ELLIPSIS, event_body

ZONES = ["America/Sao_Paulo", "America/New_York", "Europe/Lisbon", "UTC", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns", "Africa/Casablanca", "America/Noronha"]
# Local times right at DST transitions (gaps and overlaps), where off-by-an-hour bugs live.
EDGES = [datetime(2018, 11, 4, 0, 30), datetime(2019, 2, 16, 23, 30), datetime(2026, 3, 8, 2, 30),
         datetime(2026, 11, 1, 1, 30), datetime(2026, 3, 29, 1, 30), datetime(2026, 10, 25, 1, 30)]

local_times = st.one_of(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
    st.builds(lambda edge, minutes: edge + timedelta(minutes=minutes), st.sampled_from(EDGES),
              st.integers(-90, 90)),
)
durations = st.integers(min_value=1, max_value=60 * 24 * 14).map(lambda m: timedelta(minutes=m))
text = st.text(min_size=1, max_size=1500).filter(lambda t: t.strip())
emails = st.builds(lambda u, d: f"{u}@{d}.example.com",
                   st.from_regex(r"[a-z][a-z0-9._+-]{0,20}", fullmatch=True),
                   st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True))


@st.composite
def timed(draw):
    zone = draw(st.sampled_from(ZONES))
    start_local = draw(local_times)
    start_utc = start_local.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    end_zone = draw(st.sampled_from([zone, *ZONES]))
    end_local = (start_utc + draw(durations)).astimezone(ZoneInfo(end_zone)).replace(tzinfo=None, fold=0)
    form = draw(st.sampled_from(["zone", "offset", "utc"]))
    if form == "zone":
        start = {"date_time": start_local.isoformat(timespec="seconds"), "time_zone": zone}
        end = {"date_time": end_local.isoformat(timespec="seconds"), "time_zone": end_zone}
    elif form == "offset":
        start = {"date_time": start_utc.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")}
        end = {"date_time": (start_utc + (draw(durations))).astimezone(ZoneInfo(end_zone)).isoformat()}
    else:
        start = {"date_time": start_utc.strftime("%Y-%m-%dT%H:%M:%SZ")}
        end = {"date_time": (start_utc + draw(durations)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    recurrence = []
    if form == "zone" and draw(st.booleans()):
        rule = f"RRULE:FREQ={draw(st.sampled_from(['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY']))}"
        rule += draw(st.sampled_from(["", f";INTERVAL={draw(st.integers(1, 4))}"]))
        rule += draw(st.sampled_from([f";COUNT={draw(st.integers(1, 30))}",
                                      f";UNTIL={(start_utc + timedelta(days=90)).strftime('%Y%m%dT%H%M%SZ')}", ""]))
        recurrence.append(rule)
        if draw(st.booleans()):
            exception = start_local + timedelta(days=7)
            recurrence.append(f"EXDATE;TZID={zone}:{exception.strftime('%Y%m%dT%H%M%S')}")
    return start, end, recurrence


@st.composite
def all_day(draw):
    first = draw(st.dates(min_value=date(1971, 1, 1), max_value=date(2099, 12, 1)))
    last = first + timedelta(days=draw(st.integers(1, 60)))
    recurrence = []
    if draw(st.booleans()):
        recurrence = [f"RRULE:FREQ=YEARLY;UNTIL={(first + timedelta(days=800)).strftime('%Y%m%d')}",
                      f"EXDATE;VALUE=DATE:{(first + timedelta(days=365)).strftime('%Y%m%d')}"]
    return {"date": first.isoformat()}, {"date": last.isoformat()}, recurrence


@st.composite
def platform_events(draw):
    start, end, recurrence = draw(st.one_of(timed(), all_day()))
    event = {"id": draw(st.from_regex(r"[A-Za-z0-9._:-]{1,40}", fullmatch=True)), "updated_at": "2026-11-20T13:00:00Z",
             "title": draw(text), "start": start, "end": end}
    if recurrence:
        event["recurrence"] = recurrence
    optional = {
        "description": st.text(max_size=8192),
        "location": text,
        "url": st.just("https://app.example.com/events/1"),
        "conference_url": st.just("https://meet.example.com/abc-defg"),
        "attendees": st.lists(st.builds(lambda e, n, o: {"email": e, "display_name": n, "optional": o},
                                        emails, st.one_of(st.none(), text), st.booleans()), max_size=5),
        "reminders_minutes": st.lists(st.integers(0, 40320), max_size=5),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return {"type": draw(st.sampled_from(["event.created", "event.updated"])), "account_id": "acct",
            "user_id": "user", "event": event}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(platform_events())
def test_every_valid_event_becomes_a_valid_calendar_event_at_the_same_instants(data):
    wire = json.loads(json.dumps(data))  # what travels through the webhook and Pub/Sub
    try:
        change = parse_change(wire, "msg")
    except InvalidPayload as exc:
        # A local end that falls before its start across a DST overlap is the generator's
        # doing, and rightly refused; any other refusal of a valid event is a bug.
        if all(d["loc"] == "event.end" and "after start" in d["msg"] for d in exc.detail):
            assume(False)
        raise
    body = event_body(change, google_event_id("acct", "user", change.event_id))
    assert discovery.validate(body, {"$ref": "Event"}, "event") == []
    _check_event_semantics(json.loads(json.dumps(body)))
    for side, platform_time in (("start", change.event.start), ("end", change.event.end)):
        assert _instant(body[side]) == instant(platform_time)
        if platform_time.time_zone:
            assert body[side]["timeZone"] == platform_time.time_zone
    title = change.event.title
    assert body["summary"] == title or (body["summary"].endswith(ELLIPSIS)
                                        and title.startswith(body["summary"][:-1].rstrip()))
    assert json.loads(json.dumps(body, ensure_ascii=False)) == body  # any Unicode survives the wire
