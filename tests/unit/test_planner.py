from datetime import datetime, timedelta, timezone

from sync.kernel.model import Connection, ConnectionStatus, Lease, Mapping, Version
from sync.kernel.payload import parse_change
from sync.kernel.planner import Action, decide, event_body
from tests.fakes import active_connection
from tests.helpers import payload, version

NOW = datetime(2026, 11, 20, 13, tzinfo=timezone.utc)


def change(kind="event.created", updated=10, **fields):
    return parse_change(payload(kind, updated=updated, **fields), "msg")


def mapping(updated=None, **fields):
    return Mapping(event_id="ev-1001", google_event_id="gid", version=Version.parse(version(updated))
                   if updated is not None else None, **fields)


def test_no_connection_or_disconnected():
    assert decide(None, None, change(), NOW).action is Action.NO_CONNECTION
    conn = Connection("acme-consulting", "u-42", ConnectionStatus.DISCONNECTED)
    assert decide(conn, None, change(), NOW).action is Action.NO_CONNECTION


def test_first_create_inserts_into_the_connected_calendar():
    d = decide(active_connection(calendar_id="cal-1"), None, change(), NOW)
    assert (d.action, d.calendar_id) == (Action.INSERT, "cal-1")


def test_update_of_never_seen_event_inserts():
    assert decide(active_connection(), None, change("event.updated"), NOW).action is Action.INSERT


def test_update_of_existing_event_updates():
    m = mapping(5, google_exists=True, calendar_id="user@example.com")
    assert decide(active_connection(), m, change("event.updated"), NOW).action is Action.UPDATE


def test_older_and_equal_versions():
    m = mapping(10, google_exists=True)
    assert decide(active_connection(), m, change(updated=9), NOW).action is Action.STALE
    assert decide(active_connection(), m, change(updated=10), NOW).action is Action.DUPLICATE
    assert decide(active_connection(), m, change("event.deleted", updated=9), NOW).action is Action.STALE


def test_delete_before_create_records_a_tombstone_that_wins_over_older_creates():
    assert decide(active_connection(), None, change("event.deleted"), NOW).action is Action.TOMBSTONE
    tomb = mapping(10, deleted=True)
    assert decide(active_connection(), tomb, change(updated=9), NOW).action is Action.STALE
    assert decide(active_connection(), tomb, change(updated=11), NOW).action is Action.INSERT


def test_delete_of_synced_event_deletes_where_it_lives():
    m = mapping(5, google_exists=True, calendar_id="old-cal")
    d = decide(active_connection(), m, change("event.deleted"), NOW)
    assert (d.action, d.calendar_id) == (Action.DELETE, "old-cal")


def test_lease_in_flight():
    lease = Lease("x", Version.parse(version(10)), NOW + timedelta(seconds=30))
    m = mapping(5, google_exists=True, lease=lease)
    assert decide(active_connection(), m, change(updated=9), NOW).action is Action.STALE
    assert decide(active_connection(), m, change(updated=10), NOW).action is Action.BUSY
    assert decide(active_connection(), m, change(updated=11), NOW).action is Action.BUSY
    expired = mapping(5, google_exists=True, lease=Lease("x", lease.version, NOW - timedelta(seconds=1)))
    assert decide(active_connection(), expired, change(updated=11), NOW).action is Action.UPDATE


def test_revoked_connection_parks_newest_only():
    conn = Connection("acme-consulting", "u-42", ConnectionStatus.NEEDS_REAUTH, "cal", "ref")
    assert decide(conn, None, change(), NOW).action is Action.PARK
    parked = mapping(5, parked={"x": 1}, parked_version=Version.parse(version(10)))
    assert decide(conn, parked, change(updated=9), NOW).action is Action.STALE
    assert decide(conn, parked, change(updated=10), NOW).action is Action.DUPLICATE
    assert decide(conn, parked, change(updated=11), NOW).action is Action.PARK


def test_event_body_follows_the_contract_mapping():
    c = change(description="Pauta", location=None, url="https://app.example.com/e/1",
               conference_url="https://meet.example.com/abc", recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"],
               attendees=[{"email": "c@example.com", "display_name": "Cliente", "optional": True},
                          {"email": "d@example.com"}], reminders_minutes=[10, 60])
    body = event_body(c, "gid123")
    assert body["id"] == "gid123" and body["status"] == "confirmed"
    assert body["summary"] == "Diagnóstico — Cliente X"
    assert body["description"] == "Pauta\nhttps://app.example.com/e/1\nhttps://meet.example.com/abc"
    assert body["location"] == "https://meet.example.com/abc"
    assert body["source"] == {"title": "Evolutto", "url": "https://app.example.com/e/1"}
    assert body["start"] == {"dateTime": "2026-11-25T14:00:00", "timeZone": "America/Sao_Paulo"}
    assert body["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    assert body["attendees"] == [{"email": "c@example.com", "displayName": "Cliente", "optional": True},
                                 {"email": "d@example.com", "optional": False}]
    assert body["reminders"] == {"useDefault": False, "overrides": [{"method": "popup", "minutes": 10},
                                                                    {"method": "popup", "minutes": 60}]}
    assert body["extendedProperties"]["private"] == {
        "sync_source": "evolutto", "source_account_id": "acme-consulting", "source_user_id": "u-42",
        "source_event_id": "ev-1001", "source_updated_at": "2026-11-20T13:00:10.123Z"}


def test_event_body_minimal_uses_default_reminders_and_keeps_location():
    body = event_body(change(location="Sala 3", start={"date": "2026-12-31"}, end={"date": "2027-01-01"}), "gid")
    assert body["reminders"] == {"useDefault": True}
    assert body["location"] == "Sala 3"
    assert body["start"] == {"date": "2026-12-31"} and body["end"] == {"date": "2027-01-01"}
    assert not {"description", "source", "recurrence", "attendees"} & body.keys()


def test_a_change_older_than_a_write_that_may_have_landed_unrecorded_is_stale():
    """Released uncertain (a 503, no answer) or a lease its killed worker left behind: that version's
    message comes again, and an older one written now would bring the older version back."""
    conn = active_connection()
    uncertain = mapping(5, google_exists=True, google_uncertain=True, attempted=Version.parse(version(9)))
    assert decide(conn, uncertain, change("event.updated", 8), NOW).action is Action.STALE
    assert decide(conn, uncertain, change("event.updated", 9), NOW).action is Action.UPDATE  # its redelivery
    left = mapping(5, google_exists=True, lease=Lease("dead", Version.parse(version(9)), NOW - timedelta(seconds=1)))
    assert decide(conn, left, change("event.deleted", 7), NOW).action is Action.STALE
    assert decide(conn, left, change("event.updated", 10), NOW).action is Action.UPDATE
