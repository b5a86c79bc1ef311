"""No signing secret, refresh or access token, or event title may appear in any log line.

Runs last in the e2e folder (by name) so it also reads what every earlier test logged, and
makes its own traffic through each path that logs: accepted, rejected, invalid, retried,
parked, failed, deleted.
"""

import base64
import json

import requests

from local.standin import Fault
from sync.kernel.model import google_event_id
from tests.helpers import payload, signed_headers, wait_for

MARK = "Título-confidencial-7d1e"


def test_no_secret_token_or_title_reaches_the_logs(platform, user, stack):
    ids = {"account_id": user["account_id"], "user_id": user["user_id"]}
    state = stack.standin.state
    platform.wait_outcome(platform.accepted(payload(**ids, title=MARK, description=MARK, location=MARK)), "created")
    # A hand edit in Google, undone by drift repair (§9): its path logs too.
    gid = google_event_id(user["account_id"], user["user_id"], "ev-1001")
    requests.patch(f"{stack.standin.url}_admin/calendars/{user['email']}/events/{gid}",
                   json={"summary": MARK + " à mão"}, timeout=10)
    wait_for(lambda: state.calendars[user["email"]].events[gid]["summary"] == MARK, timeout=30, what="drift repair")
    with state.lock:
        state.faults.append(Fault(503, "backendError", ("events.update",), count=1, users=(user["email"],)))
    platform.wait_outcome(platform.accepted(payload("event.updated", **ids, updated=1, title=MARK + " 2")), "updated")
    with state.lock:
        state.faults.append(Fault(400, "invalid", ("events.update",), count=1, users=(user["email"],)))
    platform.wait_outcome(platform.accepted(payload("event.updated", **ids, updated=2, title=MARK)), "failed_permanent")
    bad = json.dumps(payload(**ids, title=MARK, reminders_minutes=[99999]))
    assert platform.send(payload(**ids, title=MARK), headers={"Content-Type": "application/json"}).status_code == 401
    r = platform.send(json.loads(bad), headers=signed_headers(platform.secret, bad))
    assert r.status_code == 400
    state.revoke_user(user["email"])
    platform.wait_outcome(platform.accepted(payload("event.updated", **ids, updated=3, title=MARK)),
                          "parked_needs_reauth")
    platform.wait_outcome(platform.accepted(payload("event.deleted", **ids, updated=4)), "park")

    # The connect flow too: link token, session cookie, code, state and PKCE verifier in flight.
    from tests.e2e.conftest import Browser

    browser = Browser(stack)
    google = {"account_id": user["account_id"], "user_id": "browser-" + user["user_id"], "email": user["email"]}
    started = browser.start(google["account_id"], google["user_id"])
    link_token = started.request.url.split("token=")[1]
    cookie = started.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    callback = browser.consent(started.headers["Location"], google["email"]).headers["Location"]
    state_param = callback.split("state=")[1].split("&")[0]
    assert browser.get(callback).status_code == 302

    logs = {p.name: p.read_text(encoding="utf-8") for p in stack.log_dir.glob("*.log")}
    assert "integrations.log" in logs
    secret = stack.env["WEBHOOK_SIGNING_SECRET"]
    with state.lock:
        forbidden = {
            "webhook signing secret": [secret, secret.removeprefix("whsec_"),
                                       base64.b64decode(secret.removeprefix("whsec_")).hex()],
            "link signing secret": [stack.env["LINK_SIGNING_SECRET"]],
            "platform webhook secret": [stack.env["PLATFORM_WEBHOOK_SECRET"],
                                        stack.env["PLATFORM_WEBHOOK_SECRET"].removeprefix("whsec_")],
            "oauth client secret": [stack.env["OAUTH_CLIENT_SECRET"]],
            "refresh tokens": list(state.grants),
            "access tokens": list(state.issued_access_tokens),
            "authorization codes": list(state.issued_codes),
            "event title": [MARK, json.dumps(MARK)[1:-1]],
            "link token, session cookie, OAuth state": [link_token, cookie, state_param],
            "push channel tokens": [c.token for c in state.channels.values() if c.token],
        }
    assert forbidden["refresh tokens"] and forbidden["access tokens"] and forbidden["push channel tokens"]
    leaks = [f"{what} in {name}" for what, values in forbidden.items() for value in values
             for name, text in logs.items() if value and value in text]
    assert not leaks, leaks
    # And every line the functions wrote is a structured JSON entry with a severity.
    for name in ("handle_webhook.log", "sync_worker.log", "deliver_notification.log"):
        entries = [json.loads(line) for line in logs[name].splitlines() if line.startswith("{")]
        assert entries and all("severity" in e and "message" in e for e in entries)
