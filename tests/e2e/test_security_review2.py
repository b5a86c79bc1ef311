"""Findings of the outside security review of the snapshot API (round 3), end to end on the local stack.

In-process reproductions of the other findings are in tests/unit/test_security_review2.py.
"""

from __future__ import annotations

import pytest

from tests.e2e.snapshots_client import SnapshotApi, event, version


@pytest.fixture
def snap(stack, user) -> SnapshotApi:
    return SnapshotApi(stack.url("integrations"), stack.env, user)


@pytest.mark.parametrize("big", [
    {"location": "x" * (2 * 1024 * 1024)},  # a page may be 32 MiB, a Firestore document only 1 MiB
    {"attendees": [{"email": f"a{i}@example.com", "display_name": "n" * 2000} for i in range(1000)]},
])
def test_an_event_too_big_to_store_is_a_400_not_a_500(snap, big):
    sid = snap.create(as_of=version(100))
    r = snap.put(sid, 0, [event("small"), event("big", **big)])
    assert r.status_code == 400, r.text[:300]
    assert [d["loc"] for d in r.json()["detail"]] == ["events[1]"]
    assert snap.put(sid, 0, [event("small")]).json() == {"accepted": 1}  # the snapshot is still usable


def test_event_ids_at_the_limits_are_stored_and_applied(snap):
    """The longest ids the webhook accepts (256 characters, ordering key within 1024 bytes): a page of
    1000 of them, and ids whose escaped form was too long for a Firestore document id (a 500)."""
    sid = snap.create(as_of=version(100))
    long_ids = [f"{i:04d}" + "é" * 252 for i in range(1000)]
    r = snap.put(sid, 0, [event(i) for i in long_ids])
    assert r.status_code == 202, r.text[:300]
    wide = ["€" * 256, "\U0001f600" * 200]  # escaped: 2,304 and 2,400 characters, over Firestore's 1,500
    r = snap.put(sid, 1, [event(i, geo=[[-23.55, -46.63]]) for i in wide])  # an unknown field nesting arrays
    assert r.status_code == 202, r.text[:300]
    r = snap.complete(sid, 2)
    assert r.status_code == 202 and r.json()["upserts"] == 1002, r.text[:300]
    view = snap.wait_done(sid, timeout=400)
    assert view["counts"]["created"] == 1002, view
