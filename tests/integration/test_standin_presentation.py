"""Presentation fields and conferenceDataVersion through the real client: the stand-in refuses the
values Google refuses, where the discovery document only describes them in prose."""

import pytest
from googleapiclient.errors import HttpError

from tests.integration.standin_client import client, event, standin  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("field,good,bad", [
    ("colorId", ["1", "7", "11"], ["0", "12", "red", ""]),
    ("transparency", ["opaque", "transparent"], ["busy", "Opaque"]),
    ("visibility", ["default", "public", "private", "confidential"], ["secret", "Private"]),
    ("status", ["confirmed", "tentative"], ["maybe"]),
])
def test_presentation_values(client, field, good, bad):  # noqa: F811
    for value in good:
        assert client.insert(event(**{field: value}))[field] == value
    for value in bad:
        with pytest.raises(HttpError) as refused:
            client.insert(event(**{field: value}))
        assert refused.value.resp.status == 400
        assert refused.value.error_details[0]["reason"] == "invalid"


def test_a_full_update_without_presentation_fields_goes_back_to_the_defaults(client):  # noqa: F811
    body = event(colorId="5", transparency="transparent", visibility="private", status="tentative")
    client.insert(body)
    bare = {k: v for k, v in body.items() if k not in ("colorId", "transparency", "visibility", "status")}
    back = client.update(bare)
    assert "colorId" not in back and "transparency" not in back and "visibility" not in back
    assert back["status"] == "confirmed"
    kept = client.patch(body["id"], {"summary": "Novo"})  # a patch leaves what it does not name
    assert "colorId" not in kept
    assert client.patch(body["id"], {"colorId": "3"})["colorId"] == "3"
    assert client.patch(body["id"], {"summary": "Outro"})["colorId"] == "3"


@pytest.mark.parametrize("version", [-1, 2, 10])
def test_conference_data_version_is_0_or_1(client, version):  # noqa: F811
    body = event()
    with pytest.raises(HttpError) as refused:
        client.insert(body, conferenceDataVersion=version)
    assert refused.value.resp.status == 400
    client.insert(body, conferenceDataVersion=1)
    for write in (lambda: client.update(body, conferenceDataVersion=version),
                  lambda: client.patch(body["id"], {"summary": "x"}, conferenceDataVersion=version)):
        with pytest.raises(HttpError) as refused:
            write()
        assert refused.value.resp.status == 400
