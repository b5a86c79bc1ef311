"""Partial responses (``fields``) through the real client: only what was asked for comes back."""

import pytest
from googleapiclient.errors import HttpError

from tests.integration.standin_client import OWNER, ROOMLESS, client, event, standin  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
MEET = {"conferenceData": {"createRequest": {"requestId": "f1"}}}
LIST_FIELDS = "nextPageToken,nextSyncToken,items(id,etag,status,summary,attendees,extendedProperties)"


def test_a_listing_with_fields_leaves_out_what_it_does_not_name(client):  # noqa: F811
    created = client.insert(event(colorId="4", attendees=[{"email": "c@x.example"}], **MEET),
                            conferenceDataVersion=1)
    page = client(client.events().list(calendarId=OWNER, fields=LIST_FIELDS))
    assert set(page) == {"items", "nextSyncToken"}
    (item,) = page["items"]
    assert "conferenceData" not in item and "hangoutLink" not in item and "colorId" not in item
    assert item["id"] == created["id"] and item["etag"] == created["etag"] and item["attendees"]
    whole = client(client.events().list(calendarId=OWNER))["items"][0]
    assert whole["hangoutLink"] == created["hangoutLink"]


def test_get_insert_and_calendar_list_with_fields(standin, client):  # noqa: F811
    body = event(**MEET)
    assert client.insert(body, conferenceDataVersion=1, fields="id") == {"id": body["id"]}
    assert set(standin.state.events_of(OWNER)[0]) > {"id", "etag", "hangoutLink", "conferenceData"}
    got = client(client.events().get(calendarId=OWNER, eventId=body["id"],
                                     fields="hangoutLink,conferenceData(conferenceId,entryPoints/uri),start/timeZone"))
    assert set(got) == {"hangoutLink", "conferenceData", "start"} and got["start"] == {"timeZone": "America/Sao_Paulo"}
    assert set(got["conferenceData"]) == {"conferenceId", "entryPoints"}
    assert all(set(p) == {"uri"} for p in got["conferenceData"]["entryPoints"])
    listed = client(client.service.calendarList().list(fields="items(id,conferenceProperties)"))
    assert {c["id"] for c in listed["items"]} == {OWNER, ROOMLESS}
    assert all(set(c) <= {"id", "conferenceProperties"} for c in listed["items"])


@pytest.mark.parametrize("fields", ["start(", "nope", "id,start(dateTime,nope)", "id)", "items(id)"])
def test_a_bad_selection_is_a_400_and_writes_nothing(standin, client, fields):  # noqa: F811
    with pytest.raises(HttpError) as refused:
        client.insert(event(), fields=fields)
    assert refused.value.resp.status == 400
    assert refused.value.error_details[0]["reason"] == "invalidParameter"
    assert standin.state.events_of(OWNER) == []
