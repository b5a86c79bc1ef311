import time

import jwt
import pytest

from sync.web.pages import language, security_headers
from sync.web.paths import function_names, route_path
from sync.web.session import Session, cookie_header
from sync.web.tokens import (
    ReturnUrlRefused,
    TokenForbidden,
    TokenInvalid,
    origin_of,
    verify_api,
    verify_link,
)

SECRET = "s3cret-for-links-0123456789abcdef"
ORIGINS = ("https://app.evolutto.com.br",)


def link(**claims):
    base = {"sub": "u-1", "acct": "a-1", "exp": int(time.time()) + 600}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


def test_link_token_claims():
    claims = verify_link(link(return_url="https://app.evolutto.com.br/x?y=1"), SECRET, ORIGINS)
    assert (claims.account_id, claims.user_id, claims.return_url) == ("a-1", "u-1", "https://app.evolutto.com.br/x?y=1")


@pytest.mark.parametrize("claims", [{"exp": int(time.time()) + 3600}, {"exp": int(time.time()) - 60},
                                    {"sub": ""}, {"acct": 7}, {"sub": "a\nb"}])
def test_link_token_refusals(claims):
    with pytest.raises(TokenInvalid):
        verify_link(link(**claims), SECRET, ORIGINS)


@pytest.mark.parametrize("url", ["https://evil.example/x", "http://app.evolutto.com.br/x", "javascript:alert(1)",
                                 "https://app.evolutto.com.br.evil.example/", "https://x@app.evolutto.com.br/", 5])
def test_return_url_must_be_on_an_allowed_origin(url):
    with pytest.raises(ReturnUrlRefused):
        verify_link(link(return_url=url), SECRET, ORIGINS)


def test_origin_parsing():
    assert origin_of("HTTPS://App.Evolutto.com.br:443/x") == "https://app.evolutto.com.br:443"
    assert origin_of("//evil.example") is None and origin_of("mailto:a@b.c") is None
    for malformed in ("http://localhost:8000:1/", "https://app.evolutto.com.br:x/", "http://[::1/",
                      "https://app.evolutto.com.br:99999/"):
        assert origin_of(malformed) is None


def test_a_malformed_return_url_port_is_refused_not_a_crash():
    with pytest.raises(ReturnUrlRefused):
        verify_link(link(return_url="https://app.evolutto.com.br:443:1/"), SECRET, ORIGINS)


@pytest.mark.parametrize("aud", ["api", "other", ["link", "api"], ["link"], ""])
def test_a_link_token_has_no_audience_or_link(aud):
    with pytest.raises(TokenInvalid):
        verify_link(link(aud=aud), SECRET, ORIGINS)
    assert verify_link(link(aud="link"), SECRET, ORIGINS).user_id == "u-1"
    assert verify_link(link(), SECRET, ORIGINS).user_id == "u-1"  # the platform's links of today


def api(**claims):
    base = {"sub": "u", "acct": "a", "aud": "api", "exp": int(time.time()) + 60}
    return "Bearer " + jwt.encode({k: v for k, v in {**base, **claims}.items() if v is not None}, SECRET,
                                  algorithm="HS256")


@pytest.mark.parametrize("claims", [{"aud": None}, {"aud": "link"}, {"aud": ["link", "api"]},
                                    {"exp": int(time.time()) + 2 * 3600}, {"exp": None}])
def test_api_tokens_need_aud_api_and_at_most_an_hour(claims):
    with pytest.raises(TokenInvalid):
        verify_api(api(**claims), SECRET, "a", "u")
    verify_api(api(exp=int(time.time()) + 3600), SECRET, "a", "u")


def test_a_link_token_is_never_an_api_token():
    with pytest.raises(TokenInvalid):
        verify_api("Bearer " + jwt.encode({"sub": "u", "acct": "a", "exp": int(time.time()) + 600}, SECRET,
                                          algorithm="HS256"), SECRET, "a", "u")


def test_api_token():
    good = jwt.encode({"sub": "u", "acct": "a", "aud": "api", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    verify_api(f"Bearer {good}", SECRET, "a", "u")
    with pytest.raises(TokenForbidden):
        verify_api(f"Bearer {good}", SECRET, "a", "other")
    for header in ("", "Basic x", f"Bearer {good}x", "Bearer"):
        with pytest.raises(TokenInvalid):
            verify_api(header, SECRET, "a", "u")


@pytest.mark.parametrize("account_id, user_id", [("a", "u" * 257), ("a" * 257, "u"), ("a", "u\tx"), ("a", "u\u2028"),
                                                 ("", "u"), ("a", "")])
def test_api_token_for_ids_no_connection_can_have_is_403(account_id, user_id):
    """A token minted for the very ids of the path still cannot reach ids the webhook refuses
    (over 256 characters, not printable, empty): no connection has them (found by Schemathesis:
    the status of a 257-character user id was a 200)."""
    token = jwt.encode({"sub": user_id, "acct": account_id, "aud": "api", "exp": int(time.time()) + 60}, SECRET,
                       algorithm="HS256")
    with pytest.raises(TokenForbidden):
        verify_api(f"Bearer {token}", SECRET, account_id, user_id)


def test_session_cookie_is_signed_and_expires():
    session = Session.new("a", "u", None)
    value = session.encode(SECRET)
    assert Session.decode(value, SECRET) == session
    assert Session.decode(value, "other-secret") is None
    body, _, sig = value.partition(".")
    assert Session.decode(body + "x." + sig, SECRET) is None
    stale = Session("sid", "a", "u", None, int(time.time()) - 1)
    assert Session.decode(stale.encode(SECRET), SECRET) is None


def test_csrf_is_bound_to_the_session():
    a, b = Session.new("a", "u", None), Session.new("a", "u", None)
    assert a.csrf_ok(SECRET, a.csrf_token(SECRET))
    assert not a.csrf_ok(SECRET, b.csrf_token(SECRET)) and not a.csrf_ok(SECRET, None)
    assert not a.csrf_ok(SECRET, "é" + a.csrf_token(SECRET)[1:])  # non-ASCII: refused, not a TypeError


@pytest.mark.parametrize("value", ["é.é", "x.\u00ff", "\u2603", "a.b\udcff"])
def test_a_non_ascii_session_cookie_is_no_session(value):
    assert Session.decode(value, SECRET) is None


def test_cookie_flags():
    assert cookie_header("v", secure=True) == \
        "__Host-evs_session=v; Max-Age=1800; Path=/; HttpOnly; SameSite=Lax; Secure"
    assert cookie_header("v", secure=False) == "evs_session=v; Max-Age=1800; Path=/; HttpOnly; SameSite=Lax"
    assert "Domain" not in cookie_header("v", secure=True)


@pytest.mark.parametrize("header,lang", [(None, "pt-BR"), ("", "pt-BR"), ("en-US,en;q=0.9", "en"),
                                         ("pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"), ("fr-FR,en;q=0.5", "en"),
                                         ("de-DE", "pt-BR"), ("en;q=0.3,pt;q=0.7", "pt-BR"), ("en;q=x", "pt-BR")])
def test_language(header, lang):
    assert language(header) == lang


def test_csp_allows_the_return_origins_as_form_targets_only():
    csp = security_headers("n0nce", ("https://app.evolutto.com.br",))["Content-Security-Policy"]
    assert "style-src 'nonce-n0nce'" in csp and "form-action 'self' https://app.evolutto.com.br" in csp


@pytest.mark.parametrize("raw,path", [
    ("/oauth/callback", "/oauth/callback"), ("/integrations/oauth/callback", "/oauth/callback"),
    ("/evs-integrations/calendars/", "/calendars"), ("/integrations", "/"), ("/integrations/", "/"),
    ("/integrationsx/connect", "/integrationsx/connect"),
    ("/api/connections/integrations/u", "/api/connections/integrations/u"),
    ("/integrations/integrations/connect", "/integrations/connect"), ("/", "/"), ("//", "/"),
])
def test_a_leading_function_name_is_dropped_once(raw, path):
    names = function_names({"K_SERVICE": "evs-integrations", "FUNCTION_TARGET": "integrations"})
    assert names == ("evs-integrations", "integrations")
    assert route_path(raw, names) == path
