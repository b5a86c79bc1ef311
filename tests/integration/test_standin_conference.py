"""Google Meet on the stand-in through the real client: conferenceDataVersion, create requests and
their ids, pending creation, calendars that cannot host Meet."""

import re

import pytest
import requests
from googleapiclient.errors import HttpError

from tests.helpers import wait_for
from tests.integration.standin_client import OWNER, ROOMLESS, client, event, standin  # noqa: F401 (fixtures)
from tests.integration.test_drift_standin import Receiver

pytestmark = pytest.mark.integration
CODE = re.compile(r"^[a-z]{3}-[a-z]{4}-[a-z]{3}$")


def meet(request_id="req-1", solution="hangoutsMeet"):
    create = {"requestId": request_id}
    if solution:
        create["conferenceSolutionKey"] = {"type": solution}
    return {"conferenceData": {"createRequest": create}}


def code_of(e):
    return e.get("conferenceData", {}).get("conferenceId")


def status_of(e):
    return e["conferenceData"]["createRequest"]["status"]["statusCode"]


def bare(e):
    """An event as a client that knows nothing of conferences would send it back."""
    return {k: v for k, v in e.items() if k not in ("conferenceData", "hangoutLink")}


def refusal(write):
    with pytest.raises(HttpError) as info:
        write()
    return info.value.resp.status, info.value.error_details[0]["reason"], info.value.reason


def test_a_meet_conference_as_google_makes_it(client):  # noqa: F811
    created = client.insert(event(**meet()), conferenceDataVersion=1)
    data = created["conferenceData"]
    code = data["conferenceId"]
    assert CODE.match(code)
    assert data["createRequest"] == {"requestId": "req-1", "conferenceSolutionKey": {"type": "hangoutsMeet"},
                                     "status": {"statusCode": "success"}}
    assert created["hangoutLink"] == f"https://meet.google.com/{code}"
    kinds = {p["entryPointType"]: p for p in data["entryPoints"]}
    assert kinds["video"] == {"entryPointType": "video", "uri": f"https://meet.google.com/{code}",
                              "label": f"meet.google.com/{code}"}
    assert kinds["phone"]["uri"].startswith("tel:+") and kinds["phone"]["pin"]
    assert kinds["more"]["uri"].startswith("https://tel.meet/" + code)
    assert data["conferenceSolution"]["key"] == {"type": "hangoutsMeet"}
    assert data["conferenceSolution"]["name"] == "Google Meet" and data["conferenceSolution"]["iconUri"]
    assert client.get(created["id"]) == created
    other = client.insert(event(**meet()), conferenceDataVersion=1)  # request ids are per event
    assert code_of(other) != code
    no_key = client.insert(event(**meet(solution=None)), conferenceDataVersion=1)  # the calendar's default
    assert CODE.match(code_of(no_key))


def test_version_0_ignores_conference_data_and_keeps_the_conference(client):  # noqa: F811
    assert "conferenceData" not in client.insert(event(**meet())) and \
        "conferenceData" not in client.insert(event(**meet()), conferenceDataVersion=0)
    created = client.insert(event(**meet()), conferenceDataVersion=1)
    updated = client.update({**bare(created), "summary": "Novo título"})  # no conferenceDataVersion: 0
    assert updated["summary"] == "Novo título"
    assert updated["conferenceData"] == created["conferenceData"] and updated["hangoutLink"] == created["hangoutLink"]
    asked = client.update({**bare(created), **meet("req-2")}, conferenceDataVersion=0)  # ignored too
    assert code_of(asked) == code_of(created)
    assert code_of(client.patch(created["id"], {"summary": "x"}, conferenceDataVersion=0)) == code_of(created)


def test_version_1_keeps_what_is_copied_back_and_removes_what_is_left_out(client):  # noqa: F811
    created = client.insert(event(**meet()), conferenceDataVersion=1)
    kept = client.update({**client.get(created["id"]), "summary": "Outro"}, conferenceDataVersion=1)
    assert kept["conferenceData"] == created["conferenceData"] and kept["etag"] != created["etag"]
    assert code_of(client.patch(created["id"], {"summary": "y"}, conferenceDataVersion=1)) == code_of(created)
    removed = client.update(bare(kept), conferenceDataVersion=1)
    assert "conferenceData" not in removed and "hangoutLink" not in removed
    again = client.insert(event(**meet()), conferenceDataVersion=1)
    patched = client.patch(again["id"], {"conferenceData": None}, conferenceDataVersion=1)
    assert "conferenceData" not in patched and "hangoutLink" not in patched


def test_a_repeated_request_id_creates_nothing(standin, client):  # noqa: F811
    created = client.insert(event(**meet("same")), conferenceDataVersion=1)
    retried = client.update({**bare(created), **meet("same")}, conferenceDataVersion=1)
    assert retried["conferenceData"] == created["conferenceData"]
    assert standin.state.meet.created["success"] == 1
    removed = client.update(bare(created), conferenceDataVersion=1)
    assert "conferenceData" not in removed
    # "If an ID provided is the same as for the previous request, the request is ignored" — even now
    assert "conferenceData" not in client.update({**bare(created), **meet("same")}, conferenceDataVersion=1)
    fresh = client.update({**bare(created), **meet("another")}, conferenceDataVersion=1)
    assert CODE.match(code_of(fresh)) and code_of(fresh) != code_of(created)
    replaced = client.update({**bare(created), **meet("third")}, conferenceDataVersion=1)
    assert code_of(replaced) not in (code_of(fresh), code_of(created))  # a new id: a new conference
    assert standin.state.meet.created["success"] == 3


def test_a_calendar_that_cannot_host_meet(standin, client):  # noqa: F811
    standin.state.configure_conferences(ROOMLESS, allowed=[])
    calendars = client.service.calendarList()
    properties = {c["id"]: c["conferenceProperties"] for c in client(calendars.list())["items"]}
    assert properties == {OWNER: {"allowedConferenceSolutionTypes": ["hangoutsMeet"]}, ROOMLESS: {}}
    assert client(calendars.get(calendarId=ROOMLESS))["conferenceProperties"] == {}
    body = event(**meet())
    assert refusal(lambda: client.insert(body, ROOMLESS, conferenceDataVersion=1)) == (
        400, "invalid", "Invalid conference type value.")
    assert standin.state.events_of(ROOMLESS) == []  # nothing was written
    plain = client.insert(body, ROOMLESS)  # without conference data the appointment is written
    assert "conferenceData" not in plain
    assert refusal(lambda: client.update({**plain, **meet("r2")}, ROOMLESS, conferenceDataVersion=1))[0] == 400
    for solution in ("eventHangout", "eventNamedHangout", "addOn", "zoom"):  # deprecated, add-on, unknown
        assert refusal(lambda s=solution: client.insert(event(**meet(solution=s)), conferenceDataVersion=1)) == (
            400, "invalid", "Invalid conference type value.")


def test_conference_data_copied_from_elsewhere_and_malformed(client):  # noqa: F811
    source = client.insert(event(**meet()), conferenceDataVersion=1)
    copied = {k: v for k, v in source["conferenceData"].items() if k != "createRequest"}
    target = client.insert(event(conferenceData=copied), conferenceDataVersion=1)
    assert target["conferenceData"]["conferenceId"] == code_of(source)
    assert target["hangoutLink"] == source["hangoutLink"]
    for data in ({}, {"notes": "só notas"}, {"conferenceSolution": copied["conferenceSolution"],
                                              "entryPoints": [{"entryPointType": "more", "uri": "https://x.example"}]},
                 {"createRequest": {"conferenceSolutionKey": {"type": "hangoutsMeet"}}}):
        assert refusal(lambda d=data: client.insert(event(conferenceData=d), conferenceDataVersion=1))[:2] == (
            400, "invalid")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


def test_pending_then_success_on_a_later_read_with_a_new_etag_and_a_ping(standin, client, receiver):  # noqa: F811
    standin.state.configure_conferences(OWNER, creation="pending", after_reads=2)
    client(client.events().watch(calendarId=OWNER, body={"id": "ch-meet", "type": "web_hook",
                                                          "address": receiver.url}))
    first_page = client(client.events().list(calendarId=OWNER))
    created = client.insert(event(**meet()), conferenceDataVersion=1)
    assert status_of(created) == "pending" and "hangoutLink" not in created
    assert set(created["conferenceData"]) == {"createRequest"}
    wait_for(lambda: receiver.states() == ["sync", "exists"], timeout=10, what="the insert's ping")
    read1 = client.get(created["id"])
    assert status_of(read1) == "pending" and read1["etag"] == created["etag"]
    read2 = client.get(created["id"])
    assert status_of(read2) == "success" and read2["etag"] != created["etag"]
    assert read2["hangoutLink"] == f"https://meet.google.com/{code_of(read2)}"
    assert read2["sequence"] == created["sequence"]  # Google's change, not the organizer's
    wait_for(lambda: receiver.states() == ["sync", "exists", "exists"], timeout=10, what="the settle's ping")
    changed = client(client.events().list(calendarId=OWNER, syncToken=first_page["nextSyncToken"]))["items"]
    assert [e["etag"] for e in changed] == [read2["etag"]]
    assert client.get(created["id"]) == read2  # settled for good


def test_pending_then_failure(standin, client):  # noqa: F811
    standin.state.configure_conferences(OWNER, creation="pending", outcome="failure", after_reads=1)
    created = client.insert(event(**meet()), conferenceDataVersion=1)
    failed = client.get(created["id"])
    assert failed["conferenceData"] == {"createRequest": {"requestId": "req-1", "conferenceSolutionKey": {
        "type": "hangoutsMeet"}, "status": {"statusCode": "failure"}}}
    assert "hangoutLink" not in failed and failed["etag"] != created["etag"]


def test_settled_by_the_test_through_the_admin_route(standin, client):  # noqa: F811
    admin = standin.url + "_admin/conferences"
    assert requests.post(admin, json={"calendar_id": OWNER, "creation": "pending", "after_reads": None},
                         timeout=5).status_code == 200
    a = client.insert(event(**meet()), conferenceDataVersion=1)
    b = client.insert(event(**meet()), conferenceDataVersion=1)
    for _ in range(3):
        client(client.events().list(calendarId=OWNER))
        assert status_of(client.get(a["id"])) == "pending"  # never on reads under this policy
    pending = requests.get(admin, timeout=5).json()["pending"]
    assert sorted(p["eventId"] for p in pending) == sorted([a["id"], b["id"]])
    assert requests.post(admin + "/settle", json={"event_id": a["id"], "outcome": "failure"},
                         timeout=5).json() == {"settled": 1}
    assert status_of(client.get(a["id"])) == "failure"
    assert requests.post(admin + "/settle", json={}, timeout=5).json() == {"settled": 1}
    assert status_of(client.get(b["id"])) == "success"
    assert requests.post(admin + "/settle", json={"outcome": "maybe"}, timeout=5).status_code == 400
    for wrong in ({"creation": "later"}, {"after_reads": 0}, {"allowed": "hangoutsMeet"}, {"colour": 1}):
        assert requests.post(admin, json=wrong, timeout=5).status_code == 400


def test_pending_settles_on_time_without_reads(standin, client):  # noqa: F811
    standin.state.configure_conferences(creation="pending", after_reads=None, after_seconds=0.2)  # every calendar
    created = client.insert(event(**meet()), conferenceDataVersion=1)
    assert status_of(created) == "pending"
    settled = wait_for(lambda: [e for e in standin.state.events_of(OWNER)
                                if e["conferenceData"]["createRequest"]["status"]["statusCode"] == "success"],
                       timeout=10, what="the conference to settle")
    assert settled[0]["etag"] != created["etag"]


def test_a_request_replaced_or_removed_while_pending_never_settles_into_the_event(standin, client):  # noqa: F811
    standin.state.configure_conferences(OWNER, creation="pending", after_reads=None)
    created = client.insert(event(**meet("first")), conferenceDataVersion=1)
    removed = client.update(bare(created), conferenceDataVersion=1)
    assert standin.state.settle_conferences() == 0
    assert client.get(created["id"]) == removed
    client.update({**bare(created), **meet("second")}, conferenceDataVersion=1)
    assert standin.state.settle_conferences() == 1
    assert client.get(created["id"])["conferenceData"]["createRequest"]["requestId"] == "second"


def test_the_conference_moves_with_the_event(standin, client):  # noqa: F811
    created = client.insert(event(**meet("m")), conferenceDataVersion=1)
    moved = client(client.events().move(calendarId=OWNER, eventId=created["id"], destination=ROOMLESS))
    assert moved["conferenceData"] == created["conferenceData"]
    retried = client.update({**bare(moved), **meet("m")}, ROOMLESS, conferenceDataVersion=1)
    assert retried["conferenceData"] == created["conferenceData"]  # the same request id, still ignored
