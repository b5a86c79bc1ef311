"""Findings of the outside security review (second round), end to end on the local stack.

In-process reproductions of the 5xx findings are in tests/unit/test_security_review.py.
"""

import json

import pytest
import requests

from tests.e2e.conftest import Browser
from tests.e2e.test_integrations_flow import ids, in_calendar, status
from tests.helpers import signed_headers, wait_for


def test_a_change_with_unknown_nested_fields_is_parked_and_applied_after_reconnect(stack, platform, google_user):
    """Unknown fields are ignored (contract §2), and a change made while the grant is revoked is kept
    and applied after the user reconnects (§3, §4). A parked change used to be stored whole in its
    Firestore mapping: an unknown field holding an array of arrays (say, a future "geo" polygon) made
    that write fail for good, so the worker answered 500 until the change was dead-lettered."""
    user = google_user
    Browser(stack).connect(user)
    platform.wait_outcome(platform.accepted(ids(user)), "created")
    stack.standin.state.revoke_user(user["email"])
    change = ids(user, kind="event.updated", updated=1, title="parked with a polygon")
    change["event"]["geo"] = [[-23.55, -46.63], [-23.56, -46.64]]
    change["event"]["attendees"] = [{"email": "c@example.com", "extra": [[1]]}]
    webhook_id = platform.accepted(change)
    outcomes = platform.wait_outcome(webhook_id, "parked_needs_reauth", "error", "retry")
    assert "parked_needs_reauth" in outcomes, outcomes
    assert status(stack, user)["counts"]["parked"] == 1

    Browser(stack).connect(user)
    applied = wait_for(lambda: (e := in_calendar(platform, user, user["email"]))
                       and e["summary"] == "parked with a polygon" and e, what="parked change applied")
    assert [a["email"] for a in applied["attendees"]] == ["c@example.com"]


@pytest.mark.parametrize("url", ["http://localhost:8000/settings\r\nSet-Cookie: evs=x", "http://localhost:8000/\n",
                                 "http://localhost:8000/\x00", "http://local\thost:8000/"])
def test_a_return_url_with_control_characters_is_refused_at_connect(stack, url):
    """URL parsers drop CR, LF and TAB, so such a return_url looked like an allowed origin; but no
    Location header can carry them, so the flow ended in a 500 after the choice was saved."""
    r = Browser(stack).start("a", "u", return_url=url)
    assert r.status_code == 400 and "Set-Cookie" not in r.headers


def test_a_deeply_nested_signed_webhook_is_400_not_a_retried_503(stack, platform):
    """A 503 tells the platform to retry: a body nested past the JSON parser's limit was one, for ever."""
    body = "[" * 100_000 + "]" * 100_000
    r = requests.post(stack.url("handle_webhook"), data=body.encode(), timeout=30,
                      headers=signed_headers(platform.secret, body))
    assert r.status_code == 400, r.text
    assert json.loads(r.text)["error"] == "invalid_payload"


def test_a_string_exp_is_401_at_connect_and_at_the_api(stack, user):
    """PyJWT takes "exp": "<digits>" for a number; the lifetime check then raised TypeError (500)."""
    import time

    import jwt

    exp = str(int(time.time()) + 60)
    r = Browser(stack).start(user["account_id"], user["user_id"], exp=exp)
    assert r.status_code == 401 and "Set-Cookie" not in r.headers
    token = jwt.encode({"sub": user["user_id"], "acct": user["account_id"], "aud": "api", "exp": exp},
                       stack.env["LINK_SIGNING_SECRET"], algorithm="HS256")
    r = requests.get(f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}",
                     headers={"Authorization": "Bearer " + token}, timeout=30)
    assert r.status_code == 401, r.text
