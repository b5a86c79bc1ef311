"""The guest mails the stand-in logs per sendUpdates, through the real client: who gets an
invitation, an update or a cancellation, and that Google de-duplicates nothing."""

import pytest
import requests
from googleapiclient.errors import HttpError

from tests.integration.standin_client import OWNER, ROOMLESS, client, event, standin  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
CLIENT = "cliente@clientex.com.br"  # on another mail provider: not a Google Calendar user
COLLEAGUE = "colega@consultoria.example"  # the organizer's Google Workspace domain
FRIEND = "amigo@gmail.com"  # a consumer Google account
ROOM = "sala-1@resource.calendar.google.com"
GUESTS = [{"email": CLIENT}, {"email": COLLEAGUE}, {"email": FRIEND}, {"email": ROOM, "resource": True},
          {"email": OWNER, "organizer": True, "responseStatus": "accepted"}]


def guests(*emails):
    return [a for a in GUESTS if a["email"] in emails]


def test_all_mails_every_guest_once_per_write_even_when_nothing_changed(standin, client):  # noqa: F811
    body = event(attendees=GUESTS)
    client.insert(body, sendUpdates="all")
    invited = {CLIENT: {"invitation": 1}, COLLEAGUE: {"invitation": 1}, FRIEND: {"invitation": 1}}
    assert standin.state.mail_counts() == invited  # no mail to the organizer, none to the room
    client.update(body, sendUpdates="all")
    client.update(body, sendUpdates="all")  # the same body again: Google mails again
    assert standin.state.mail_counts(CLIENT) == {CLIENT: {"invitation": 1, "update": 2}}
    client.patch(body["id"], {"summary": "Remarcada"}, sendUpdates="all")
    client.delete(body["id"], sendUpdates="all")
    assert standin.state.mail_counts() == {g: {"invitation": 1, "update": 3, "cancellation": 1}
                                           for g in (CLIENT, COLLEAGUE, FRIEND)}
    mails = standin.state.mails(CLIENT)
    assert [(m["kind"], m["method"]) for m in mails] == [
        ("invitation", "events.insert"), ("update", "events.update"), ("update", "events.update"),
        ("update", "events.patch"), ("cancellation", "events.delete")]
    assert mails[3]["summary"] == "Remarcada" and mails[0]["eventId"] == body["id"]
    assert standin.state.calls["mails.sent"] == 15


def test_external_only_mails_only_guests_outside_google_calendar(standin, client):  # noqa: F811
    body = event(attendees=GUESTS)
    client.insert(body, sendUpdates="externalOnly")
    client.update({**body, "summary": "Outra"}, sendUpdates="externalOnly")
    client.delete(body["id"], sendUpdates="externalOnly")
    assert standin.state.mail_counts() == {CLIENT: {"invitation": 1, "update": 1, "cancellation": 1}}
    standin.state.reset_mails()
    standin.state.set_google_domains(["gmail.com"])  # the consultancy's domain off Google Calendar
    other = event(attendees=GUESTS)
    client.insert(other, sendUpdates="externalOnly")
    assert standin.state.mail_counts() == {CLIENT: {"invitation": 1}, COLLEAGUE: {"invitation": 1}}


@pytest.mark.parametrize("params", [{}, {"sendUpdates": "none"}, {"sendNotifications": False}])
def test_none_or_no_parameter_mails_nobody(standin, client, params):  # noqa: F811
    body = event(attendees=GUESTS)
    client.insert(body, **params)
    client.update({**body, "summary": "Nova"}, **params)
    client.patch(body["id"], {"attendees": guests(CLIENT)}, **params)
    client(client.events().move(calendarId=OWNER, eventId=body["id"], destination=ROOMLESS, **params))
    client.delete(body["id"], ROOMLESS, **params)
    assert standin.state.mails() == []


def test_the_deprecated_send_notifications_true_is_all(standin, client):  # noqa: F811
    client.insert(event(attendees=guests(CLIENT, COLLEAGUE)), sendNotifications=True)
    assert standin.state.mail_counts() == {CLIENT: {"invitation": 1}, COLLEAGUE: {"invitation": 1}}


def test_guests_added_and_removed(standin, client):  # noqa: F811
    body = event(attendees=guests(CLIENT, COLLEAGUE))
    client.insert(body, sendUpdates="all")
    standin.state.reset_mails()
    client.update({**body, "attendees": guests(CLIENT, FRIEND)}, sendUpdates="all")
    assert standin.state.mail_counts() == {CLIENT: {"update": 1}, FRIEND: {"invitation": 1},
                                           COLLEAGUE: {"cancellation": 1}}
    standin.state.reset_mails()
    client.update({**body, "attendees": guests(CLIENT, FRIEND), "status": "cancelled"}, sendUpdates="all")
    client.update({**body, "attendees": guests(CLIENT)}, sendUpdates="all")  # brought back: invited again
    assert standin.state.mail_counts() == {CLIENT: {"cancellation": 1, "invitation": 1},
                                           FRIEND: {"cancellation": 1}}


def test_a_move_tells_the_guests_of_the_new_organizer(standin, client):  # noqa: F811
    body = client.insert(event(attendees=guests(CLIENT)))
    client(client.events().move(calendarId=OWNER, eventId=body["id"], destination=ROOMLESS, sendUpdates="all"))
    assert [(m["kind"], m["method"], m["calendarId"]) for m in standin.state.mails()] == [
        ("update", "events.move", ROOMLESS)]


def test_refused_writes_mail_nobody(standin, client):  # noqa: F811
    body = client.insert(event(attendees=guests(CLIENT)))
    standin.state.configure_conferences(OWNER, allowed=[])
    writes = [
        lambda: client.update({**body, "conferenceData": {"createRequest": {"requestId": "r"}}},
                              sendUpdates="all", conferenceDataVersion=1),  # 400 Invalid conference type value.
        lambda: client.insert({**body, "id": "other12345"}, sendUpdates="all", conferenceDataVersion=2),  # 400
        lambda: client.insert(body, sendUpdates="all"),  # 409
    ]
    for write in writes:
        with pytest.raises(HttpError):
            write()
    standin.state.limit_usage(OWNER)
    with pytest.raises(HttpError):  # 403 quotaExceeded
        client.update(body, sendUpdates="all")
    assert standin.state.mails() == []


def test_mails_carry_the_meet_link(standin, client):  # noqa: F811
    created = client.insert(event(attendees=guests(CLIENT), conferenceData={"createRequest": {"requestId": "m1"}}),
                            sendUpdates="all", conferenceDataVersion=1)
    assert standin.state.mails(CLIENT)[0]["hangoutLink"] == created["hangoutLink"]


def test_admin_routes_and_hand_edits(standin, client):  # noqa: F811
    admin = standin.url + "_admin/"
    body = event(attendees=guests(CLIENT, COLLEAGUE))
    client.insert(body, sendUpdates="all")
    edit = f"{admin}calendars/{OWNER}/events/{body['id']}"
    assert requests.patch(edit, json={"summary": "Mudada à mão"}, timeout=5).status_code == 200  # nobody told
    assert requests.patch(edit, params={"sendUpdates": "externalOnly"}, json={"location": "Sala 2"},
                          timeout=5).status_code == 200
    assert requests.patch(edit, params={"sendUpdates": "some"}, json={}, timeout=5).status_code == 400
    mine = requests.get(admin + "mail", params={"to": CLIENT}, timeout=5).json()
    assert [(m["kind"], m["method"]) for m in mine["items"]] == [("invitation", "events.insert"),
                                                                 ("update", "ui.edit")]
    assert mine["counts"] == {CLIENT: {"invitation": 1, "update": 1}}
    assert requests.delete(edit, params={"sendUpdates": "all"}, timeout=5).status_code == 200
    assert requests.get(admin + "mail", params={"event_id": body["id"]}, timeout=5).json()["counts"] == {
        CLIENT: {"invitation": 1, "update": 1, "cancellation": 1}, COLLEAGUE: {"invitation": 1, "cancellation": 1}}
    assert requests.delete(admin + "mail", timeout=5).json() == {"items": [], "counts": {}}
    domains = requests.post(admin + "mail/google_domains", json={"domains": ["Consultoria.example"]},
                            timeout=5).json()
    assert domains == {"domains": ["consultoria.example"], "users": [OWNER]}
    assert requests.post(admin + "mail/google_domains", json={"domains": "x"}, timeout=5).status_code == 400
