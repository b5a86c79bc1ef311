import re

import pytest

from sync.kernel.model import Version, connection_key, event_key, google_event_id


def test_google_event_id_is_stable_and_valid_for_calendar():
    gid = google_event_id("acme", "u-42", "ev-1")
    assert gid == google_event_id("acme", "u-42", "ev-1")
    assert re.fullmatch(r"[a-v0-9]{5,1024}", gid)
    assert len(gid) == 52


def test_google_event_id_separates_its_parts():
    assert google_event_id("a", "bc", "d") != google_event_id("ab", "c", "d")
    assert google_event_id("a", "u", "e1") != google_event_id("a", "u", "e2")
    assert google_event_id("a1", "u", "e") != google_event_id("a2", "u", "e")


@pytest.mark.parametrize("text,key,short", [
    ("2026-11-20T13:00:00.123Z", "2026-11-20T13:00:00.123000000Z", "2026-11-20T13:00:00.123Z"),
    ("2026-11-20T13:00:00Z", "2026-11-20T13:00:00.000000000Z", "2026-11-20T13:00:00Z"),
    ("2026-11-20T10:00:00-03:00", "2026-11-20T13:00:00.000000000Z", "2026-11-20T13:00:00Z"),
    ("2026-11-20T13:00:00.123456789+00:00", "2026-11-20T13:00:00.123456789Z", "2026-11-20T13:00:00.123456789Z"),
    ("2026-11-20t13:00:00.1z", "2026-11-20T13:00:00.100000000Z", "2026-11-20T13:00:00.100Z"),
    ("2026-11-20T13:00:00.1234Z", "2026-11-20T13:00:00.123400000Z", "2026-11-20T13:00:00.123400Z"),
])
def test_versions_normalise_to_utc_nanoseconds(text, key, short):
    v = Version.parse(text)
    assert v.key == key and v.rfc3339 == short


def test_versions_compare_exactly_below_a_microsecond():
    assert Version.parse("2026-11-20T13:00:00.000000001Z") > Version.parse("2026-11-20T13:00:00Z")
    assert Version.parse("2026-11-20T10:00:00-03:00") == Version.parse("2026-11-20T13:00:00Z")


@pytest.mark.parametrize("text", ["2026-11-20T13:00:00", "2026-13-01T00:00:00Z", "2026-11-20", "x",
                                  "2026-11-20T13:00:00+24:00"])
def test_invalid_versions(text):
    with pytest.raises(ValueError):
        Version.parse(text)


def test_document_ids_cannot_contain_slashes():
    assert "/" not in connection_key("a/b", "c/d")
    assert connection_key("a:b", "c") != connection_key("a", "b:c")
    assert "/" not in event_key("ev/1")
