"""§10.1's fields (docs/events.md#presentation-and-google-meet): validated at the webhook and in snapshot
pages, kept in parked / applied messages, mapped by the planner, and back to Google's defaults when a
later version leaves them out."""

import pytest

from sync.drift.compare import same_content
from sync.kernel.errors import InvalidPayload
from sync.kernel.model import Change
from sync.kernel.payload import parse_change
from sync.kernel.planner import event_body
from sync.snapshots import model as snapshots
from tests.helpers import event, payload

FULL = {"conference": {"type": "google_meet"}, "visibility": "private", "busy": False, "status": "tentative",
        "color": 11, "notify_attendees": "external"}


def problems(data):
    with pytest.raises(InvalidPayload) as info:
        parse_change(data, "msg")
    return {d["loc"]: d["msg"] for d in info.value.detail}


def test_the_new_fields_are_read_into_the_event():
    got = parse_change(payload(**FULL), "m").event
    assert (got.conference, got.visibility, got.busy, got.status, got.color, got.notify_attendees) == (
        "google_meet", "private", False, "tentative", 11, "external")


@pytest.mark.parametrize("absent", [{}, dict.fromkeys(FULL)])  # left out, or null
def test_absent_or_null_fields_are_the_defaults(absent):
    data = payload()
    data["event"].update(absent)
    got = parse_change(data, "m").event
    assert (got.conference, got.visibility, got.busy, got.status, got.color, got.notify_attendees) == (
        None, "default", True, "confirmed", None, None)


@pytest.mark.parametrize(("field", "value", "loc"), [
    ("conference", "google_meet", "event.conference"),
    ("conference", [{"type": "google_meet"}], "event.conference"),
    ("conference", True, "event.conference"),
    ("conference", {}, "event.conference.type"),
    ("conference", {"type": "zoom"}, "event.conference.type"),
    ("conference", {"type": "GOOGLE_MEET"}, "event.conference.type"),
    ("conference", {"type": None}, "event.conference.type"),
    ("visibility", "confidential", "event.visibility"),  # Google knows it; the contract does not
    ("visibility", "Private", "event.visibility"),
    ("visibility", 1, "event.visibility"),
    ("busy", "false", "event.busy"),
    ("busy", 0, "event.busy"),
    ("status", "cancelled", "event.status"),  # a cancellation is a delete
    ("status", True, "event.status"),
    ("color", 0, "event.color"),
    ("color", 12, "event.color"),
    ("color", -1, "event.color"),
    ("color", True, "event.color"),  # a bool is no colour, though Python counts it an int
    ("color", "4", "event.color"),
    ("color", 4.0, "event.color"),
    ("notify_attendees", "externalOnly", "event.notify_attendees"),  # the contract's name is "external"
    ("notify_attendees", "", "event.notify_attendees"),
    ("notify_attendees", ["all"], "event.notify_attendees"),
])
def test_wrong_types_and_values_are_a_400_with_their_loc(field, value, loc):
    found = problems(payload(**{field: value}))
    assert set(found) == {loc}


def test_every_problem_is_listed_at_once():
    found = problems(payload(color=99, busy="yes", visibility="hidden", status="x", conference={"type": "zoom"},
                             notify_attendees="some", title=""))
    assert set(found) == {"event.color", "event.busy", "event.visibility", "event.status",
                          "event.conference.type", "event.notify_attendees", "event.title"}


def test_unknown_keys_inside_conference_are_ignored_like_in_every_other_object():
    got = parse_change(payload(conference={"type": "google_meet", "future": {"x": [1]}}), "m")
    assert got.event.conference == "google_meet"
    assert got.parked_message()["event"]["conference"] == {"type": "google_meet"}


def test_a_delete_checks_its_policy_and_ignores_the_rest():
    deletion = {"type": "event.deleted", "account_id": "a", "user_id": "u",
                "event": {"id": "e", "updated_at": "2026-11-20T13:00:00Z", "color": "x", "notify_attendees": "all"}}
    change = parse_change(deletion, "m")
    assert change.parked_message()["event"] == {"id": "e", "updated_at": "2026-11-20T13:00:00Z",
                                                "notify_attendees": "all"}
    deletion["event"]["notify_attendees"] = "everyone"
    assert set(problems(deletion)) == {"event.notify_attendees"}


def test_parked_and_applied_messages_round_trip_the_fields():
    change = parse_change(payload(**FULL), "m")
    kept = change.parked_message()
    assert {k: kept["event"][k] for k in FULL} == FULL
    again = parse_change({k: v for k, v in kept.items() if k != "schema"}, "m")
    assert again.event == change.event
    assert event_body(again, "gid") == event_body(change, "gid")


def test_snapshot_pages_validate_the_fields_like_the_webhook():
    good = event("a", **FULL)
    with pytest.raises(InvalidPayload) as info:
        snapshots.parse_page({"events": [good, event("b", color=True), event("c", conference={"type": "teams"})]},
                             "acct", "u", "snp_x")
    assert {d["loc"] for d in info.value.detail} == {"events[1].color", "events[2].conference.type"}
    (parsed,) = snapshots.parse_page({"events": [good]}, "acct", "u", "snp_x")
    assert parsed.event.color == 11 and parsed.event.conference == "google_meet"
    assert {k: parsed.raw_event[k] for k in FULL} == FULL  # what the page stores, applied later


def body(**fields):
    change: Change = parse_change(payload(**fields), "m")
    return event_body(change, "gid")


def test_the_planner_maps_presentation():
    got = body(visibility="private", busy=False, status="tentative", color=7)
    assert (got["visibility"], got["transparency"], got["status"], got["colorId"]) == (
        "private", "transparent", "tentative", "7")
    assert body(visibility="public")["visibility"] == "public"


def test_defaults_are_left_out_so_a_whole_update_puts_google_s_defaults_back():
    got = body()
    assert got["status"] == "confirmed"
    assert not {"visibility", "transparency", "colorId"} & got.keys()  # the calendar's colour applies
    assert not {"visibility", "transparency", "colorId"} & body(visibility="default", busy=True).keys()


def test_notify_attendees_is_no_part_of_the_event_body():
    assert body(notify_attendees="all") == body()


def test_drift_sees_a_hand_made_change_of_presentation_and_nothing_when_it_is_as_written():
    written = body(busy=False, color=3, visibility="private")
    listed = {**written, "etag": "x"}
    assert same_content(listed, written)
    assert not same_content({**listed, "colorId": "4"}, written)
    assert not same_content({k: v for k, v in listed.items() if k != "transparency"}, written)
    assert not same_content({**listed, "visibility": "public"}, written)
    plain = body()
    assert same_content({**plain, "transparency": "opaque", "visibility": "default"}, plain)  # Google's defaults
