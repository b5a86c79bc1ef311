"""Security cases of the connect flow and the status API: each refused with the right status."""

import time

import jwt
import pytest
import requests
from google.cloud import firestore

from sync.adapters.firestore.connections import OAUTH_STATES
from sync.web.session import Session
from tests.e2e.conftest import Browser, api_token


def connect_url(stack):
    return stack.url("integrations") + "connect"


@pytest.mark.parametrize("case", ["forged", "expired", "too_long", "missing", "garbage", "no_sub", "alg_none"])
def test_bad_link_tokens_are_401(stack, case):
    secret = stack.env["LINK_SIGNING_SECRET"]
    now = int(time.time())
    tokens = {
        "forged": jwt.encode({"sub": "u", "acct": "a", "exp": now + 600}, "not-the-secret", algorithm="HS256"),
        "expired": jwt.encode({"sub": "u", "acct": "a", "exp": now - 120}, secret, algorithm="HS256"),
        "too_long": jwt.encode({"sub": "u", "acct": "a", "exp": now + 3600}, secret, algorithm="HS256"),
        "missing": "",
        "garbage": "a.b.c",
        "no_sub": jwt.encode({"acct": "a", "exp": now + 600}, secret, algorithm="HS256"),
        "alg_none": jwt.encode({"sub": "u", "acct": "a", "exp": now + 600}, None, algorithm="none"),
    }
    r = Browser(stack).get(connect_url(stack), params={"token": tokens[case]})
    assert r.status_code == 401 and "Set-Cookie" not in r.headers


@pytest.mark.parametrize("url", ["https://evil.example.com/phish", "javascript:alert(1)", "//evil.example.com",
                                 "http://localhost:8001/x", "http://user@localhost:8000/x",
                                 "http://localhost:8000:1/", "http://localhost:x/"])
def test_open_redirect_through_return_url_is_400(stack, url):
    r = Browser(stack).start("a", "u", return_url=url)
    assert r.status_code == 400 and "Set-Cookie" not in r.headers


def test_an_api_token_is_not_a_link_token(stack, google_user):
    """Both are signed with LINK_SIGNING_SECRET: only the audience tells them apart."""
    a, u = google_user["account_id"], google_user["user_id"]
    r = Browser(stack).get(connect_url(stack), params={"token": api_token(stack, a, u)})
    assert r.status_code == 401 and "Set-Cookie" not in r.headers
    assert Browser(stack).start(a, u, aud="other").status_code == 401
    assert Browser(stack).start(a, u, aud="link").status_code == 302
    assert Browser(stack).start(a, u).status_code == 302  # no aud: the platform's links of today


def test_a_link_token_is_not_an_api_token_and_api_tokens_live_an_hour_at_most(stack, user):
    a, u = user["account_id"], user["user_id"]
    url = f"{stack.url('integrations')}api/connections/{a}/{u}"
    secret, now = stack.env["LINK_SIGNING_SECRET"], int(time.time())

    def call(claims):
        token = jwt.encode({"sub": u, "acct": a, **claims}, secret, algorithm="HS256")
        return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code

    assert call({"exp": now + 600}) == 401  # a link token
    assert call({"exp": now + 600, "aud": "link"}) == 401
    assert call({"exp": now + 6 * 3600, "aud": "api"}) == 401  # lives too long
    assert call({"exp": now + 3600, "aud": "api"}) == 200


def test_non_ascii_cookie_csrf_and_headers_are_4xx_not_5xx(stack, platform, google_user):
    base = stack.url("integrations")
    for path in ("oauth/callback?state=x&code=y", "calendars"):
        r = requests.get(base + path, headers={"Cookie": "evs_session=\u00e9t\u00e9.\u00ff"}, timeout=30)
        assert r.status_code == 401, (path, r.status_code)
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    calendars = browser.get(callback).headers["Location"]
    r = browser.post(calendars, data={"calendar_id": google_user["email"], "csrf_token": "\u00e9" * 43})
    assert r.status_code == 403
    body = b'{"type": "event.created"}'
    r = requests.post(stack.url("handle_webhook"), data=body, timeout=30, headers={
        "Content-Type": "application/json", "webhook-id": "msg_x", "webhook-timestamp": "\u00b2",
        "webhook-signature": "v1,AAAA"})
    assert r.status_code == 401 and r.json() == {"error": "invalid_signature"}


def test_unknown_replayed_and_foreign_state_are_400(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    back = browser.consent(started.headers["Location"], google_user["email"])
    callback = back.headers["Location"]

    other = Browser(stack)  # another browser, with a session of its own, replays the callback
    other.start(google_user["account_id"], google_user["user_id"])
    assert other.get(callback).status_code == 400

    assert browser.get(callback).status_code == 400  # the state was consumed by the attempt above
    unknown = callback.split("state=")[0] + "state=unknown-state&code=x"
    assert browser.get(unknown).status_code == 400


def test_the_state_works_once(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    assert browser.get(callback).status_code == 302
    assert browser.get(callback).status_code == 400


def test_callback_without_the_session_cookie_is_401(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    assert requests.get(callback, allow_redirects=False, timeout=30).status_code == 401


def test_wrong_pkce_verifier_is_400(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    db = firestore.Client(project="local-project")
    for snap in db.collection(OAUTH_STATES).stream():  # someone swaps the verifier kept for this flow
        snap.reference.update({"verifier": "x" * 64})
    r = browser.get(callback)
    assert r.status_code == 400 and "Não foi possível concluir" in r.text


def test_denied_consent_is_a_clear_page(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    back = browser.consent(started.headers["Location"], google_user["email"], decision="deny")
    r = browser.get(back.headers["Location"])
    assert r.status_code == 400 and "Conexão cancelada" in r.text


def test_csrf_missing_forged_or_from_another_session_is_403(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    calendars = browser.get(callback).headers["Location"]
    good = browser.csrf(browser.get(calendars).text)
    other = Browser(stack)
    other_started = other.start(google_user["account_id"], google_user["user_id"])
    other_cb = other.consent(other_started.headers["Location"], google_user["email"]).headers["Location"]
    foreign = other.csrf(other.get(other.get(other_cb).headers["Location"]).text)
    for token in (None, "forged", foreign):
        data = {"calendar_id": google_user["email"], **({"csrf_token": token} if token else {})}
        assert browser.post(calendars, data=data).status_code == 403
    assert browser.post(calendars, data={"calendar_id": google_user["readonly"], "csrf_token": good}).status_code == 400
    assert browser.post(calendars, data={"calendar_id": "nope@x", "csrf_token": good}).status_code == 400
    assert browser.post(calendars, data={"calendar_id": google_user["email"], "csrf_token": good}).status_code == 302


def test_the_calendar_page_lists_only_writable_calendars_primary_first(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    page = browser.get(browser.get(callback).headers["Location"]).text
    assert google_user["readonly"] not in page
    assert page.index(google_user["email"]) < page.index(google_user["team"])


def test_status_api_refuses_missing_bad_and_cross_user_tokens(stack, google_user):
    Browser(stack).connect(google_user)
    a, u = google_user["account_id"], google_user["user_id"]
    url = f"{stack.url('integrations')}api/connections/{a}/{u}"

    def call(method, token):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return requests.request(method, url, headers=headers, timeout=30).status_code

    for method in ("GET", "DELETE"):
        assert call(method, None) == 401
        assert call(method, "garbage") == 401
        assert call(method, api_token(stack, a, u, secret="wrong")) == 401
        assert call(method, api_token(stack, a, u, aud="link")) == 401
        assert call(method, api_token(stack, a, "someone-else")) == 403  # another user of the account
        assert call(method, api_token(stack, "other-account", u)) == 403
    expired = jwt.encode({"sub": u, "acct": a, "aud": "api", "exp": int(time.time()) - 120},
                         stack.env["LINK_SIGNING_SECRET"], algorithm="HS256")
    assert call("GET", expired) == 401
    assert requests.get(url, headers={"Authorization": "Bearer " + api_token(stack, a, u)},
                        timeout=30).json()["status"] == "active"  # nothing was disconnected


def test_pages_carry_security_headers_and_no_external_assets(stack):
    r = Browser(stack).get(connect_url(stack), params={"token": "forged"})
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp.split("form-action")[0]
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in r.text and "http" not in r.text.split("<body>")[0].replace('content="width', "")


def test_session_cookie_flags(stack, google_user):
    r = Browser(stack).start(google_user["account_id"], google_user["user_id"])
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert r.headers["Location"].startswith(stack.env["OAUTH_AUTH_URI"])
    for must in ("code_challenge_method=S256", "access_type=offline", "prompt=consent",
                 "calendar.events", "calendar.calendarlist.readonly"):
        assert must in r.headers["Location"]


def test_a_grant_without_a_refresh_token_is_a_clear_page(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    stack.standin.state.withhold_refresh_tokens = True
    try:
        callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
        r = browser.get(callback)
    finally:
        stack.standin.state.withhold_refresh_tokens = False
    assert r.status_code == 400 and "acesso contínuo" in r.text
    assert Browser(stack).get(f"{stack.url('integrations')}api/connections/x/y").status_code == 401


def test_a_token_response_without_scope_means_the_scopes_asked_for(stack, google_user):
    """RFC 6749 5.1: the provider may leave "scope" out when it granted what was asked."""
    state = stack.standin.state
    state.omit_scope_in_token_response = True
    try:
        done = Browser(stack).connect(google_user)
    finally:
        state.omit_scope_in_token_response = False
    assert done.headers["Location"].endswith("/done")


def test_unauthenticated_input_does_not_size_the_log(stack, user):
    """The path's ids are logged only once the bearer token vouches for them, and every logged
    value is bounded, so a long request line cannot write a long log line."""
    log = stack.log_dir / "integrations.log"
    base = stack.url("integrations")
    long_id = "acct-" + "x" * 3000  # gunicorn takes request lines up to 4094 bytes
    before = log.stat().st_size
    assert requests.get(f"{base}api/connections/{long_id}/u-1", timeout=30).status_code == 401
    assert requests.get(f"{base}{'y' * 3000}", timeout=30).status_code == 404
    written = log.read_text(encoding="utf-8")[before:]
    assert "x" * 100 not in written and "y" * 100 not in written
    assert len(written) < 3000, len(written)
    # Authenticated, the ids are logged (bounded all the same).
    a, u = user["account_id"], user["user_id"]
    before = log.stat().st_size
    r = requests.get(f"{base}api/connections/{a}/{u}", timeout=30,
                     headers={"Authorization": "Bearer " + api_token(stack, a, u)})
    assert r.status_code == 200
    assert f'"account_id": "{a}"' in log.read_text(encoding="utf-8")[before:]


def _status(stack, user):
    a, u = user["account_id"], user["user_id"]
    return requests.get(f"{stack.url('integrations')}api/connections/{a}/{u}", timeout=30,
                        headers={"Authorization": "Bearer " + api_token(stack, a, u)}).json()


def _csrf_of(stack, cookie_value):
    secret = stack.env["LINK_SIGNING_SECRET"]
    return Session.decode(cookie_value, secret).csrf_token(secret)


def _cookie(browser):
    [(name, value)] = [(c.name, c.value) for c in browser.http.cookies if "evs_session" in c.name]
    return name, value


def test_calendars_refuses_a_session_that_did_not_finish_oauth_itself(stack, google_user):
    """A link alone must not reach the Google account already connected (its stored grant)."""
    user = google_user
    stack.connect(user["account_id"], user["user_id"], user["email"])  # connected without a browser
    browser = Browser(stack)
    assert browser.start(user["account_id"], user["user_id"]).status_code == 302  # /connect, no OAuth
    calendars = stack.url("integrations") + "calendars"
    page = browser.get(calendars)
    assert page.status_code in (401, 403) and user["team"] not in page.text
    _, value = _cookie(browser)
    r = browser.post(calendars, data={"calendar_id": user["team"], "csrf_token": _csrf_of(stack, value)})
    assert r.status_code in (401, 403)
    assert _status(stack, user)["calendar_id"] == user["email"]  # nothing changed


def test_the_session_saves_its_choice_once(stack, google_user):
    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    calendars = browser.get(callback).headers["Location"]
    csrf = browser.csrf(browser.get(calendars).text)
    name, value = _cookie(browser)
    assert browser.post(calendars, data={"calendar_id": google_user["team"], "csrf_token": csrf}).status_code == 302
    assert _status(stack, google_user)["calendar_id"] == google_user["team"]
    # The server cleared the cookie; whoever kept a copy replays it.
    for method in ("get", "post"):
        r = getattr(requests, method)(calendars, cookies={name: value}, allow_redirects=False, timeout=30,
                                      data={"calendar_id": google_user["email"], "csrf_token": csrf})
        assert r.status_code in (401, 403), (method, r.status_code)
    assert _status(stack, google_user)["calendar_id"] == google_user["team"]


def test_two_posts_with_one_session_only_one_saves(stack, google_user):
    from concurrent.futures import ThreadPoolExecutor

    browser = Browser(stack)
    started = browser.start(google_user["account_id"], google_user["user_id"])
    callback = browser.consent(started.headers["Location"], google_user["email"]).headers["Location"]
    calendars = browser.get(callback).headers["Location"]
    csrf = browser.csrf(browser.get(calendars).text)
    name, value = _cookie(browser)

    def choose(calendar_id):
        return requests.post(calendars, cookies={name: value}, allow_redirects=False, timeout=30,
                             data={"calendar_id": calendar_id, "csrf_token": csrf}).status_code

    choices = [google_user["team"], google_user["email"]] * 2
    with ThreadPoolExecutor(len(choices)) as pool:
        statuses = list(pool.map(choose, choices))
    assert statuses.count(302) == 1 and all(s in (401, 403) for s in statuses if s != 302), statuses
    winner = choices[statuses.index(302)]
    assert _status(stack, google_user)["calendar_id"] == winner
