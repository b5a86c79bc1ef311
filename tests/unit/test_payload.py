import json

import pytest

from sync.kernel.errors import InvalidPayload
from sync.kernel.model import Version
from sync.kernel.payload import _writable, decode_json, parse_body, parse_change
from tests.helpers import payload


def problems(data):
    with pytest.raises(InvalidPayload) as info:
        parse_change(data, "msg_1")
    return {d["loc"] for d in info.value.detail}


def test_the_contract_example_is_valid():
    data = {
        "type": "event.created", "account_id": "acme-consulting", "user_id": "u-42",
        "event": {
            "id": "ev-1001", "updated_at": "2026-11-20T13:00:00.123Z", "title": "Diagnóstico — Cliente X",
            "description": "optional", "location": "optional",
            "start": {"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paulo"},
            "end": {"date_time": "2026-11-25T15:30:00", "time_zone": "America/Sao_Paulo"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
            "attendees": [{"email": "cliente@example.com", "display_name": "Cliente", "optional": False}],
            "reminders_minutes": [10, 60], "conference_url": "https://meet.example.com/abc",
            "url": "https://app.example.com/events/ev-1001",
        },
    }
    change = parse_change(data, "msg_1")
    assert change.ordering_key == "acme-consulting/u-42/ev-1001"
    assert change.version == Version.parse("2026-11-20T13:00:00.123Z")
    assert change.event.attendees[0].display_name == "Cliente"
    assert change.event.reminders_minutes == (10, 60)


def test_unknown_fields_are_ignored():
    data = payload()
    data["future_field"] = {"x": 1}
    data["event"]["colour"] = "blue"
    assert parse_change(data, "m").event_id == "ev-1001"


def test_delete_needs_only_id_and_updated_at():
    change = parse_change({"type": "event.deleted", "account_id": "a", "user_id": "u",
                           "event": {"id": "e", "updated_at": "2026-11-20T13:00:00Z"}}, "m")
    assert change.is_delete and change.event is None


@pytest.mark.parametrize("field", ["id", "updated_at", "title", "start", "end"])
def test_required_event_fields(field):
    data = payload()
    del data["event"][field]
    assert f"event.{field}" in problems(data)


@pytest.mark.parametrize("field", ["type", "account_id", "user_id", "event"])
def test_required_top_level_fields(field):
    data = payload()
    del data[field]
    assert field in problems(data)


@pytest.mark.parametrize("field,value,loc", [
    ("type", "event.moved", "type"),
    ("account_id", "", "account_id"),
    ("account_id", 42, "account_id"),
    ("user_id", None, "user_id"),
    ("user_id", "x" * 257, "user_id"),
    ("account_id", "tab\there", "account_id"),
    ("event", [], "event"),
])
def test_top_level_types(field, value, loc):
    data = payload()
    data[field] = value
    assert loc in problems(data)


@pytest.mark.parametrize("field,value,loc", [
    ("id", 5, "event.id"),
    ("updated_at", "2026-11-20T13:00:00", "event.updated_at"),
    ("updated_at", "yesterday", "event.updated_at"),
    ("updated_at", 1700000000, "event.updated_at"),
    ("title", "", "event.title"),
    ("title", "   ", "event.title"),
    ("title", ["x"], "event.title"),
    ("description", 1, "event.description"),
    ("description", "x" * 8193, "event.description"),
    ("location", {"a": 1}, "event.location"),
    ("url", "javascript:alert(1)", "event.url"),
    ("url", "app.example.com/x", "event.url"),
    ("conference_url", "ftp://x.example.com", "event.conference_url"),
    ("start", "2026-11-25", "event.start"),
    ("start", {}, "event.start"),
    ("start", {"date": "2026-11-25", "date_time": "2026-11-25T10:00:00Z"}, "event.start"),
    ("start", {"date": "2026-02-30"}, "event.start.date"),
    ("start", {"date": "25/11/2026"}, "event.start.date"),
    ("start", {"date_time": "2026-11-25T14:00:00"}, "event.start.date_time"),
    ("start", {"date_time": "2026-11-25 14h", "time_zone": "UTC"}, "event.start.date_time"),
    ("start", {"date_time": "2026-11-25T14:00:00", "time_zone": "Mars/Olympus"}, "event.start.time_zone"),
    ("start", {"date_time": "2026-11-25T14:00:00", "time_zone": 3}, "event.start.time_zone"),
    ("start", {"date_time": "2026-11-25T25:00:00Z"}, "event.start.date_time"),
    ("end", {"date_time": "2026-11-25T13:00:00", "time_zone": "America/Sao_Paulo"}, "event.end"),
    ("end", {"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paulo"}, "event.end"),
    ("end", {"date": "2026-11-26"}, "event.end"),
    ("recurrence", "RRULE:FREQ=DAILY", "event.recurrence"),
    ("recurrence", ["FREQ=DAILY"], "event.recurrence[0]"),
    ("recurrence", ["RRULE:FREQ=SOMETIMES"], "event.recurrence[0]"),
    ("recurrence", ["RRULE:FREQ=DAILY;COUNT=0"], "event.recurrence[0]"),
    ("recurrence", ["RRULE:FREQ=DAILY;COUNT=2;UNTIL=20261231T000000Z"], "event.recurrence[0]"),
    ("recurrence", ["RRULE:FREQ=DAILY\nX:1"], "event.recurrence[0]"),
    ("attendees", {"email": "a@example.com"}, "event.attendees"),
    ("attendees", [{"email": "not-an-email"}], "event.attendees[0].email"),
    ("attendees", [{"display_name": "x"}], "event.attendees[0].email"),
    ("attendees", ["a@example.com"], "event.attendees[0]"),
    ("attendees", [{"email": "a@example.com", "optional": "yes"}], "event.attendees[0].optional"),
    ("attendees", [{"email": "a@example.com", "display_name": 7}], "event.attendees[0].display_name"),
    ("reminders_minutes", [10, 20, 30, 40, 50, 60], "event.reminders_minutes"),
    ("reminders_minutes", [-1], "event.reminders_minutes[0]"),
    ("reminders_minutes", [40321], "event.reminders_minutes[0]"),
    ("reminders_minutes", [1.5], "event.reminders_minutes[0]"),
    ("reminders_minutes", [True], "event.reminders_minutes[0]"),
    ("reminders_minutes", 10, "event.reminders_minutes"),
])
def test_wrong_types_and_ranges_are_400(field, value, loc):
    data = payload()
    data["event"][field] = value
    assert loc in problems(data)


def test_recurrence_with_date_time_needs_time_zones():
    data = payload(start={"date_time": "2026-11-25T14:00:00-03:00"}, end={"date_time": "2026-11-25T15:00:00-03:00"},
                   recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    assert "event.recurrence" in problems(data)


def test_every_problem_is_reported_at_once():
    data = payload()
    data["event"].update(title="", reminders_minutes=[-5], url="nope")
    assert {"event.title", "event.reminders_minutes[0]", "event.url"} <= problems(data)


def test_all_day_and_offsets_are_valid():
    data = payload(start={"date": "2026-12-31"}, end={"date": "2027-01-02"})
    assert parse_change(data, "m").event.start.all_day
    data = payload(start={"date_time": "2026-11-25T14:00:00-03:00"}, end={"date_time": "2026-11-25T17:30:00Z"})
    assert parse_change(data, "m").event.end.date_time.endswith("Z")


def test_end_after_start_is_compared_as_instants_across_zones():
    # 14:00 in São Paulo is 17:00 UTC; 15:00 in Lisbon (UTC+0 in November) is 15:00 UTC: earlier.
    data = payload(start={"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paulo"},
                   end={"date_time": "2026-11-25T15:00:00", "time_zone": "Europe/Lisbon"})
    assert "event.end" in problems(data)


def test_null_optional_fields_are_absent():
    data = payload(description=None)
    data["event"].update(location=None, attendees=None, reminders_minutes=None, recurrence=None)
    change = parse_change(data, "m")
    assert change.event.reminders_minutes is None and change.event.attendees == ()


def test_repeated_reminders_are_folded():
    assert parse_change(payload(reminders_minutes=[10, 10, 60]), "m").event.reminders_minutes == (10, 60)


def test_ordering_key_limit():
    data = payload(account_id="a" * 256, user_id="u" * 256, event_id="e" * 256)
    assert parse_change(data, "m")
    data = payload(account_id="á" * 256, user_id="ú" * 256, event_id="é" * 256)
    assert "event.id" in problems(data)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1,2]", b'"x"', b"\xff\xfe", b"null"])
def test_body_must_be_a_json_object(body):
    with pytest.raises(InvalidPayload):
        parse_body(body)


def test_body_json_object_is_returned():
    assert parse_body(json.dumps(payload()).encode())["type"] == "event.created"


@pytest.mark.parametrize("where", ["title", "key", "attendee", "low half"])
def test_a_lone_surrogate_escape_anywhere_in_the_body_is_refused_at_body(where):
    """JSON lets "\ud800" through, but no UTF-8 text holds it: the change could never be written."""
    data = payload()
    if where == "title":
        data["event"]["title"] = "Mentoria \ud800"
    elif where == "key":
        data["event"]["\udc00extra"] = 1  # an unknown field's name: ignored, but still unwritable
    elif where == "attendee":
        data["event"]["attendees"] = [{"email": "a@b.co", "display_name": "x\udfff"}]
    else:
        data["event"]["description"] = "\ude00 then text"
    body = json.dumps(data).encode()  # ensure_ascii: the surrogate is sent as a \u escape
    with pytest.raises(InvalidPayload) as exc:
        parse_body(body)
    assert [d["loc"] for d in exc.value.detail] == ["body"] and "lone surrogate" in exc.value.detail[0]["msg"]


@pytest.mark.parametrize("text", ["\U0001F600 escaped as a pair", "a literal backslash: \\ud800", "\\uD83D"])
def test_escaped_pairs_and_literal_backslashes_are_taken(text):
    data = payload()
    data["event"]["title"] = text
    assert parse_body(json.dumps(data).encode())["event"]["title"] == text


def test_a_version_more_than_the_skew_ahead_of_now_is_refused():
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    for text in ("9999-12-31T23:59:59Z", "2026-11-23T12:00:00.000000001Z", "2026-11-23T09:00:01-03:00"):
        with pytest.raises(InvalidPayload) as err:
            parse_change(payload(updated_at=text), "m", now=now)
        assert [d["loc"] for d in err.value.detail] == ["event.updated_at"]
        assert "24 hours ahead" in err.value.detail[0]["msg"]
    assert parse_change(payload(updated_at="2026-11-23T12:00:00Z"), "m", now=now)  # exactly 24 hours: fine
    assert parse_change(payload("event.deleted", updated_at="2026-11-23T11:00:00Z"), "m", now=now)
    with pytest.raises(InvalidPayload):  # deletes too
        parse_change(payload("event.deleted", updated_at="2026-11-24T11:00:00Z"), "m", now=now)
    with pytest.raises(InvalidPayload):
        parse_change(payload(updated_at="2026-11-22T14:00:01Z"), "m", now=now, max_skew=timedelta(hours=2))
    assert parse_change(payload(updated_at="9999-12-31T23:59:59Z"), "m")  # no clock given: no clock rule


@pytest.mark.parametrize("field,value,loc", [
    ("updated_at", "2026-11-20T13:00:00Z\n", "event.updated_at"),
    ("start", {"date_time": "2026-11-25T14:00:00\n", "time_zone": "America/Sao_Paulo"}, "event.start.date_time"),
    ("start", {"date": "2026-W48-3"}, "event.start.date"),
    ("start", {"date": "2026-11-25\n"}, "event.start.date"),
    ("url", "https://app.example.com/x\n", "event.url"),
    ("conference_url", "https://meet.example.com/x\n", "event.conference_url"),
    ("attendees", [{"email": "a@b.co\n"}], "event.attendees[0].email"),
])
def test_a_value_that_only_fits_before_a_final_line_break_is_refused(field, value, loc):
    """``$`` also matches before a final "\\n", and date.fromisoformat takes ISO week dates: both
    let through values Calendar refuses (or reads otherwise) and docs/openapi.yaml's patterns do not."""
    assert loc in problems(payload(**{field: value}))


def test_the_surrogate_check_walks_documents_of_any_depth_without_recursion():
    """json.loads takes a document nested close to the interpreter's limit; the check must not be
    the one to raise RecursionError (a 503 or 500 for a valid body)."""
    deep: object = ["\U0001F600"]
    for _ in range(100_000):
        deep = [deep]
    assert _writable(deep)
    lone: object = {"k": "x\ud800"}
    for _ in range(100_000):
        lone = {"a": lone}
    assert not _writable(lone)

    def nested(depth: int, leaf: str) -> bytes:
        return ("[" * depth + leaf + "]" * depth).encode()

    depth = 1
    while True:  # the deepest document decode_json takes from here (no escape: no check)
        try:
            decode_json(nested(depth + 1, '"x"'))
        except InvalidPayload:
            break
        depth += 1
    assert decode_json(nested(depth, '"\\ud83d\\ude00"'))  # as deep, with the check's walk
