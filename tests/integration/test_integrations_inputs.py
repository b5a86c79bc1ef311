"""The integrations function in process (functions-framework's test client) on the Firestore
emulator, served as in the cloud (https PUBLIC_BASE_URL): the session cookie's name, and a
fuzz of every route with non-ASCII and Unicode-digit input: never a 5xx."""

from __future__ import annotations

import time

import jwt
import pytest
from functions_framework import create_app
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync import bootstrap
from sync.web.session import Session

LINK_SECRET = "link-secret-for-the-inprocess-tests-0123456789"
PUBLIC = "https://evs-integrations-abc123-uc.a.run.app"


@pytest.fixture(scope="module")
def client(emulator_hosts):
    mp = pytest.MonkeyPatch()
    for name, value in {"SECRETS_BACKEND": "env", "LINK_SIGNING_SECRET": LINK_SECRET,
                        "OAUTH_CLIENT_ID": "client", "OAUTH_CLIENT_SECRET": "client-secret",
                        "PUBLIC_BASE_URL": PUBLIC, "ALLOWED_RETURN_ORIGINS": "https://app.evolutto.com.br",
                        "OAUTH_AUTH_URI": "https://accounts.example/auth",
                        "OAUTH_TOKEN_URI": "http://127.0.0.1:9/token",  # nothing listens: never reached
                        "OAUTH_REVOKE_URI": "http://127.0.0.1:9/revoke",
                        "CALENDAR_API_ROOT": "http://127.0.0.1:9/", "K_SERVICE": "evs-integrations"}.items():
        mp.setenv(name, value)
    bootstrap.reset()
    yield create_app("integrations", "main.py").test_client(use_cookies=False)
    bootstrap.reset()
    mp.undo()


def link(**claims):
    base = {"sub": "u-1", "acct": "a-1", "exp": int(time.time()) + 600}
    return jwt.encode({**base, **claims}, LINK_SECRET, algorithm="HS256")


def test_over_https_the_session_cookie_is_host_prefixed(client):
    r = client.get("/connect", query_string={"token": link()})
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-evs_session=")
    assert "; Secure" in cookie and "; Path=/;" in cookie and "Domain" not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    # The callback reads the prefixed cookie only: the bare name could be set by any function of
    # the shared cloudfunctions.net host.
    assert client.get("/oauth/callback?state=x&code=y", headers={"Cookie": f"evs_session={value}"}).status_code == 401
    assert client.get("/oauth/callback?state=x&code=y",
                      headers={"Cookie": f"__Host-evs_session={value}"}).status_code == 400  # session ok, state not
    # Through the cloudfunctions.net path too, and the redirect is to the public URL.
    r = client.get("/evs-integrations/connect", query_string={"token": link()})
    assert r.status_code == 302 and "redirect_uri=https%3A%2F%2Fevs-integrations-abc123" in r.headers["Location"]


# -- fuzz ---------------------------------------------------------------------------------------
unicode_text = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x10FFFF,
                                              exclude_categories=("Cs",)), max_size=40)
digits = st.text(alphabet="0123456789²³¹٠١٢٣४५६๗໘༩၀", min_size=1, max_size=12)
latin1 = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
                 max_size=60)
high_latin1 = st.text(alphabet=st.characters(min_codepoint=128, max_codepoint=255), min_size=1, max_size=20)
value = st.one_of(unicode_text, digits, latin1, high_latin1)
# Headers travel as latin-1: what a client can send beyond ASCII is U+0080..U+00FF ("²", "³", "¹" among them).
header_value = st.one_of(latin1, high_latin1, st.builds(lambda a, b: a + b, latin1, high_latin1),
                         digits.filter(lambda s: all(ord(c) < 256 for c in s)))

ROUTES = ["/connect", "/oauth/callback", "/calendars", "/calendars", "/done", "/api/connections/{a}/{b}",
          "/api/connections/{a}", "/{a}", "/integrations/{a}", "/evs-integrations/calendars",
          "/integrations/api/connections/{a}/{b}", "/", "/privacy", "/integrations/privacy"]


@st.composite
def requests_(draw):
    route = draw(st.sampled_from(ROUTES)).format(a=draw(value) or "x", b=draw(value) or "y")
    method = draw(st.sampled_from(["GET", "GET", "POST", "POST", "DELETE", "PUT"]))
    query = draw(st.dictionaries(st.sampled_from(["token", "state", "code", "error", "remove_events", "lang"]),
                                 st.one_of(value, st.just(link()), st.just(link(return_url="http://x:1:2/")),
                                           st.just(link(aud="api")),
                                           st.just(link(return_url="https://app.evolutto.com.br:²/"))),
                                 max_size=3))
    headers = draw(st.dictionaries(st.sampled_from(["Cookie", "Authorization", "Accept-Language", "traceparent",
                                                    "X-Cloud-Trace-Context", "Content-Type"]),
                                   header_value, max_size=4))
    shape = draw(st.sampled_from(["none", "any", "body.signature", "body.signature", "signed", "signed"]))
    if shape != "none":  # a session cookie: anything, signed-looking (non-ASCII likely), or a real one
        name = draw(st.sampled_from(["__Host-evs_session", "__Host-evs_session", "evs_session"]))
        cookie = {"any": lambda: draw(header_value),
                  "body.signature": lambda: f"{draw(header_value)}.{draw(high_latin1)}",
                  "signed": lambda: Session.new("a-1", "u-1", None).encode(LINK_SECRET)}[shape]()
        headers["Cookie"] = f"{name}={cookie}"
    if draw(st.booleans()):
        headers["Authorization"] = "Bearer " + draw(st.one_of(header_value, st.just(
            jwt.encode({"sub": "y", "acct": "x", "aud": "api", "exp": int(time.time()) + 600}, LINK_SECRET,
                       algorithm="HS256"))))
    form = draw(st.dictionaries(st.sampled_from(["calendar_id", "csrf_token"]), value, max_size=2))
    return method, route, query, headers, form


SIGNED = Session.new("a-1", "u-1", None).encode(LINK_SECRET)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(req=requests_())
# The crashes found by hand, kept as fixed examples beside the random ones.
@example(req=("GET", "/calendars", {}, {"Cookie": "__Host-evs_session=\u00e9t\u00e9.\u00ff"}, {}))
@example(req=("GET", "/oauth/callback", {"state": "x"}, {"Cookie": "__Host-evs_session=a.\u00b2"}, {}))
@example(req=("POST", "/calendars", {}, {"Cookie": f"__Host-evs_session={SIGNED}"},
              {"calendar_id": "c", "csrf_token": "\u00e9" * 43}))
@example(req=("GET", "/connect", {"token": link(return_url="https://app.evolutto.com.br:443:1/")}, {}, {}))
def test_no_input_on_any_route_gives_a_5xx(client, req):
    method, route, query, headers, form = req
    try:
        r = client.open(route, method=method, query_string=query, headers=headers,
                        data=form if method == "POST" else None)
    except (ValueError, UnicodeEncodeError):
        return  # the test client could not build the request: it would never reach us
    assert r.status_code < 500, (r.status_code, method, route, query, headers, form)


def api_token(account_id="a-1", user_id="u-1"):
    return jwt.encode({"sub": user_id, "acct": account_id, "aud": "api", "exp": int(time.time()) + 600}, LINK_SECRET,
                      algorithm="HS256")


def test_the_status_route_answers_other_methods_405_after_the_token(client):
    """As the snapshot routes do (it was a 404, which docs/openapi.yaml does not say)."""
    for method in ("POST", "PUT", "PATCH"):
        r = client.open("/api/connections/a-1/u-1", method=method, headers={"Authorization": "Bearer " + api_token()})
        assert (r.status_code, r.json, r.headers["Allow"]) == (405, {"error": "method_not_allowed"}, "GET, DELETE")
        assert client.open("/api/connections/a-1/u-1", method=method).status_code == 401


def test_a_dependency_down_is_a_json_503_on_the_api_and_the_pings(client, monkeypatch):
    """The platform's API and Google's pings are called by programs: a 503 there is JSON, as
    docs/openapi.yaml says (it was the people's HTML page)."""
    from sync import bootstrap
    from sync.connections.status import StatusReport
    from sync.kernel.errors import Retryable
    from sync.web.connect import Connect

    def down(*_args, **_kwargs):
        raise Retryable("firestore unavailable")

    monkeypatch.setattr(StatusReport, "status", down)
    r = client.get("/api/connections/a-1/u-1", headers={"Authorization": "Bearer " + api_token()})
    assert (r.status_code, r.json, r.headers["Retry-After"]) == (503, {"error": "unavailable"}, "5")
    assert r.headers["Content-Type"] == "application/json"
    class Down:
        channel = down

    bootstrap.container().override(drift_store=Down())
    r = client.post("/google/notifications", headers={"X-Goog-Channel-ID": "0" * 32, "X-Goog-Channel-Token": "t"})
    assert (r.status_code, r.json) == (503, {"error": "unavailable"})
    monkeypatch.setattr(Connect, "show_calendars", down)
    page = client.get("/calendars")
    assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")  # people get a page


@pytest.mark.parametrize("account_id", ["a/b", "a%41", "50%off", "a b", "ação", "x%2Fy"])
def test_ids_holding_a_slash_or_a_percent_reach_the_api_as_themselves(client, account_id):
    """The webhook takes such ids, so the status, disconnect and snapshot routes must reach them:
    ``a/b`` (sent as ``a%2Fb``) was a 404, so such a user could never be disconnected, and ``a%41``
    was decoded twice into ``aA`` (a 403). Found writing docs/openapi.yaml's path parameters."""
    from urllib.parse import quote

    for prefix in ("", "/evs-integrations"):
        base = f"{prefix}/api/connections/{quote(account_id, safe='')}/u-1"
        r = client.get(base, headers={"Authorization": "Bearer " + api_token(account_id)})
        assert (r.status_code, r.json["account_id"]) == (200, account_id)
        r = client.get(base + "/snapshots/snp_" + "x" * 24,
                       headers={"Authorization": "Bearer " + api_token(account_id)})
        assert (r.status_code, r.json) == (404, {"error": "not_found"})  # reached the snapshot route: none such
    r = client.get("/api/connections/a/b/u-1", headers={"Authorization": "Bearer " + api_token("a/b")})
    assert r.status_code == 404  # a bare '/' still separates segments
