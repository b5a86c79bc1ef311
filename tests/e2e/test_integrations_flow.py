"""The External integrations flow end to end against the OAuth/Calendar stand-in (contract §4)."""

import requests

from sync.kernel.model import google_event_id
from tests.e2e.conftest import Browser, api_token
from tests.helpers import payload, wait_for


def ids(user, **kw):
    return payload(account_id=user["account_id"], user_id=user["user_id"], **kw)


def status(stack, user):
    r = requests.get(f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}",
                     headers={"Authorization": "Bearer " + api_token(stack, user["account_id"], user["user_id"])},
                     timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def disconnect(stack, user, remove_events=False):
    return requests.delete(f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}",
                           params={"remove_events": "true"} if remove_events else None, timeout=30,
                           headers={"Authorization": "Bearer " + api_token(stack, user["account_id"],
                                                                           user["user_id"])})


def in_calendar(platform, user, calendar_id, event_id="ev-1001"):
    gid = google_event_id(user["account_id"], user["user_id"], event_id)
    return platform.events(calendar_id).get(gid)


def test_connect_pick_sync_switch_and_disconnect(stack, platform, google_user):
    user = google_user
    browser = Browser(stack)
    done = browser.connect(user, calendar_id=user["team"])
    assert done.headers["Location"].endswith("/done")
    assert "Tudo pronto" in browser.get(done.headers["Location"]).text
    s = status(stack, user)
    assert (s["status"], s["google_email"], s["calendar_id"]) == ("active", user["email"], user["team"])

    for i in range(3):
        platform.accepted(ids(user, event_id=f"ev-{i}"))
    wait_for(lambda: all(in_calendar(platform, user, user["team"], f"ev-{i}") for i in range(3)), timeout=45,
             what="events in the chosen calendar")
    assert wait_for(lambda: status(stack, user)["counts"]["synced"] == 3, what="status counts")
    assert status(stack, user)["last_synced_at"]

    # Choosing another calendar later moves what was synced (jobs on the bulk lane): same ids, no duplicates.
    browser.connect(user, calendar_id=user["email"])
    wait_for(lambda: (s := status(stack, user)["moving"]) and s["done"] == s["total"] == 3, what="the move")
    for i in range(3):
        assert in_calendar(platform, user, user["email"], f"ev-{i}")["status"] == "confirmed"
        assert in_calendar(platform, user, user["team"], f"ev-{i}") is None
    platform.accepted(ids(user, kind="event.updated", event_id="ev-0", updated=1, title="Depois da troca"))
    wait_for(lambda: in_calendar(platform, user, user["email"], "ev-0")["summary"] == "Depois da troca",
             what="update in the new calendar")
    assert in_calendar(platform, user, user["team"], "ev-0") is None

    # Disconnect without removing events: grant revoked, token destroyed, mappings deleted, events stay.
    r = disconnect(stack, user)
    assert r.status_code == 200 and r.json()["status"] == "disconnected"
    assert status(stack, user)["status"] == "disconnected"
    assert all(g.revoked for g in stack.standin.state.grants.values() if g.email == user["email"])
    assert in_calendar(platform, user, user["email"], "ev-1")["status"] == "confirmed"
    hook = platform.accepted(ids(user, kind="event.updated", event_id="ev-1", updated=5, title="após desconectar"))
    platform.wait_outcome(hook, "no_connection")


def test_disconnect_with_remove_events_deletes_them(stack, platform, google_user):
    user = google_user
    Browser(stack).connect(user)
    for i in range(2):
        platform.wait_outcome(platform.accepted(ids(user, event_id=f"rm-{i}")), "created")
    r = disconnect(stack, user, remove_events=True)
    assert r.status_code == 200 and r.json()["removed_events"] == 2
    for i in range(2):
        assert in_calendar(platform, user, user["email"], f"rm-{i}")["status"] == "cancelled"
    assert status(stack, user)["counts"]["synced"] == 0


def test_revoked_at_the_provider_parks_until_the_user_reconnects(stack, platform, google_user):
    user = google_user
    Browser(stack).connect(user)
    platform.wait_outcome(platform.accepted(ids(user)), "created")
    stack.standin.state.revoke_user(user["email"])  # the user removed our access in their Google account
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", updated=1, title="v1")),
                          "parked_needs_reauth")
    platform.wait_outcome(platform.accepted(ids(user, kind="event.updated", updated=2, title="v2")), "park")
    platform.wait_outcome(platform.accepted(ids(user, event_id="novo", title="novo")), "park")
    s = status(stack, user)
    assert s["status"] == "needs_reauth" and s["counts"]["parked"] == 2
    assert s["last_error"]["reason"] == "google_grant_revoked"

    Browser(stack).connect(user)  # the user goes through the flow again
    wait_for(lambda: in_calendar(platform, user, user["email"])["summary"] == "v2", what="parked v2 applied")
    wait_for(lambda: in_calendar(platform, user, user["email"], "novo"), what="parked create applied")
    assert wait_for(lambda: (s := status(stack, user))["counts"]["parked"] == 0 and s["status"] == "active",
                    what="active again")


def test_return_url_on_an_allowed_origin_is_where_the_flow_ends(stack, google_user):
    done = Browser(stack).connect(google_user, return_url="http://localhost:8000/settings/integrations?ok=1")
    assert done.headers["Location"] == "http://localhost:8000/settings/integrations?ok=1"


def test_english_pages_by_accept_language(stack, google_user):
    browser = Browser(stack, lang="en-US,en;q=0.9,pt;q=0.5")
    r = browser.get(stack.url("integrations") + "connect", params={"token": "forged"})
    assert r.status_code == 401 and "Expired or invalid link" in r.text and 'lang="en"' in r.text
    r = Browser(stack).get(stack.url("integrations") + "connect", params={"token": "forged"})
    assert "Link expirado ou inválido" in r.text and 'lang="pt-BR"' in r.text


def test_routes_answer_behind_the_function_name_prefix(stack, google_user):
    """cloudfunctions.net URLs put the function's name in front of the path; every link and
    redirect the service makes still uses PUBLIC_BASE_URL."""
    base, public = stack.url("integrations") + "integrations/", stack.env["PUBLIC_BASE_URL"]
    browser = Browser(stack)
    token = browser.link_token(google_user["account_id"], google_user["user_id"])
    started = browser.get(base + "connect", params={"token": token})
    assert started.status_code == 302 and started.headers["Location"].startswith(stack.env["OAUTH_AUTH_URI"])
    assert "redirect_uri=" + requests.utils.quote(public + "/oauth/callback", safe="") in started.headers["Location"]
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    assert callback.startswith(public + "/oauth/callback?")
    called = browser.get(callback.replace(public + "/", base, 1))  # as if through the prefixed URL
    assert called.status_code == 302 and called.headers["Location"] == public + "/calendars"
    page = browser.get(base + "calendars/")
    assert page.status_code == 200 and google_user["team"] in page.text
    done = browser.post(base + "calendars", data={"calendar_id": google_user["team"],
                                                  "csrf_token": browser.csrf(page.text)})
    assert done.status_code == 302 and done.headers["Location"] == public + "/done"
    assert browser.get(base + "done").status_code == 200
    r = requests.get(f"{base}api/connections/{google_user['account_id']}/{google_user['user_id']}", timeout=30,
                     headers={"Authorization": "Bearer " + api_token(stack, google_user["account_id"],
                                                                     google_user["user_id"])})
    assert r.status_code == 200 and r.json()["calendar_id"] == google_user["team"]
    assert browser.get(base + "nowhere").status_code == 404
