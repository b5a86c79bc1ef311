"""The browser connect flow's routes on ``integrations`` (docs/connections.md#the-browser-flow):
the link token and the session cookie checked here, the flow's steps are sync/connections/flow.py,
its pages sync/web/pages.py.

    GET    /connect?token=…                   link token → OAuth (state + PKCE S256) → 302
    GET    /oauth/callback?code=…&state=…     exchange, store the refresh token → 302 /calendars
    GET    /calendars                         the account's writable calendars, a form
    POST   /calendars                         save the choice (moving synced events) → 302
    GET    /done                              the flow's last page
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.connections.flow import Browser, FlowRefused
from sync.web import pages
from sync.web.session import Session, cookie_header, cookie_name
from sync.web.tokens import ReturnUrlRefused, TokenInvalid, verify_link

if TYPE_CHECKING:
    from sync.bootstrap import Container

ROUTES = {("GET", "/connect"): "connect", ("GET", "/oauth/callback"): "callback",
          ("GET", "/calendars"): "show_calendars", ("POST", "/calendars"): "choose_calendar"}


class Connect:
    def __init__(self, c: Container) -> None:
        self.c = c
        self.settings = c.settings

    @property
    def link_secret(self) -> str:
        return str(self.c.secrets.get("LINK_SIGNING_SECRET"))

    @property
    def https(self) -> bool:
        return self.settings.public_base_url.startswith("https://")

    def url(self, path: str) -> str:
        return self.settings.public_base_url + path

    def session(self, request: Any) -> Session:
        session = Session.decode(request.cookies.get(cookie_name(self.https)), self.link_secret)
        if session is None:
            raise FlowRefused(401, "session")
        return session

    @staticmethod
    def browser(session: Session) -> Browser:
        return Browser(session.sid_hash, session.account_id, session.user_id)

    # -- GET /connect --------------------------------------------------------------------------
    def connect(self, request: Any, lang: str) -> Response:
        try:
            claims = verify_link(request.args.get("token", ""), self.link_secret,
                                 self.settings.allowed_return_origins)
        except ReturnUrlRefused:
            raise FlowRefused(400, "return") from None
        except TokenInvalid:
            raise FlowRefused(401, "expired") from None
        session = Session.new(claims.account_id, claims.user_id, claims.return_url)
        target = self.c.connect_flow.begin(self.browser(session), datetime.fromtimestamp(session.expires, UTC))
        return Response(status=302, headers={
            "Location": target, "Set-Cookie": cookie_header(session.encode(self.link_secret), self.https),
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    # -- GET /oauth/callback -------------------------------------------------------------------
    def callback(self, request: Any, lang: str) -> Response:
        session = self.session(request)
        self.c.connect_flow.authorize(self.browser(session), request.args.get("state", ""),
                                      request.args.get("error", ""), request.args.get("code", ""))
        return Response(status=302, headers={"Location": self.url("/calendars"), "Cache-Control": "no-store"})

    # -- GET/POST /calendars -------------------------------------------------------------------
    def show_calendars(self, request: Any, lang: str) -> Response:
        session = self.session(request)
        email, items, selected, limited = self.c.connect_flow.calendars_to_choose(self.browser(session))
        body, nonce = pages.calendars(lang, email, items, selected, session.csrf_token(self.link_secret),
                                      usage_limited_until=limited)
        return Response(body, status=200,
                        headers=pages.security_headers(nonce, self.settings.allowed_return_origins))

    def choose_calendar(self, request: Any, lang: str) -> Response:
        session = self.session(request)
        if not session.csrf_ok(self.link_secret, request.form.get("csrf_token")):
            raise FlowRefused(403, "csrf")
        self.c.connect_flow.choose(self.browser(session), request.form.get("calendar_id", ""))
        target = session.return_url or self.url("/done")
        return Response(status=302, headers={"Location": target, "Set-Cookie": cookie_header("", self.https, 0),
                                             "Cache-Control": "no-store"})


def route(request: Any, c: Container, path: str, lang: str) -> Response | None:
    """The flow's page for ``path``, or None when it is not one of the flow's routes."""
    if (request.method, path) == ("GET", "/done"):
        return message_page(lang, 200, "done")
    if (request.method, path) in ROUTES:
        return getattr(Connect(c), ROUTES[(request.method, path)])(request, lang)  # type: ignore[no-any-return]
    return None


def message_page(lang: str, status: int, key: str) -> Response:
    body, nonce = pages.message(lang, key)
    return Response(body, status=status, headers=pages.security_headers(nonce))
