"""Routes of the ``integrations`` function (contract §4).

    GET    /connect?token=…                   link token → OAuth (state + PKCE S256) → 302
    GET    /oauth/callback?code=…&state=…     exchange, store the refresh token → 302 /calendars
    GET    /calendars                         the account's writable calendars, a form
    POST   /calendars                         save the choice (moving synced events) → 302
    GET    /done                              the flow's last page
    GET    /api/connections/{acct}/{user}     status, for the platform's backend
    DELETE /api/connections/{acct}/{user}     disconnect (?remove_events=true deletes them)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response

from sync import bootstrap
from sync.adapters.calendar_api import SCOPES
from sync.apply.parked import resume_parked
from sync.integrations import oauth, pages, privacy
from sync.integrations.paths import function_names, route_path, route_segments
from sync.integrations.session import Session, cookie_header, cookie_name
from sync.kernel import logs
from sync.kernel.errors import (
    AuthRevoked,
    CalendarNotFound,
    CalendarUnavailable,
    ConfigError,
    DisconnectInProgress,
    Permanent,
    Retryable,
)
from sync.kernel.model import Connection, ConnectionStatus, connection_key
from sync.web.tokens import ReturnUrlRefused, TokenInvalid, api_refusal, verify_link

STATE_SECONDS = 10 * 60


class _Page(Exception):
    """Answer with an HTML message page."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status, self.key = status, key


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Integrations:
    def __init__(self) -> None:
        self.settings = bootstrap.config()
        self.secrets = bootstrap.config_secrets()
        self.store = bootstrap.integrations_store()

    @property
    def flows(self) -> Any:
        return bootstrap.container().flow_sessions

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def link_secret(self) -> str:
        return str(self.secrets.get("LINK_SIGNING_SECRET"))

    @property
    def https(self) -> bool:
        return self.settings.public_base_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return self.settings.public_base_url + "/oauth/callback"

    def url(self, path: str) -> str:
        return self.settings.public_base_url + path

    def session(self, request: Any) -> Session:
        session = Session.decode(request.cookies.get(cookie_name(self.https)), self.link_secret)
        if session is None:
            raise _Page(401, "session")
        return session

    # -- GET /connect --------------------------------------------------------------------------
    def connect(self, request: Any, lang: str) -> Response:
        try:
            claims = verify_link(request.args.get("token", ""), self.link_secret,
                                 self.settings.allowed_return_origins)
        except ReturnUrlRefused:
            raise _Page(400, "return") from None
        except TokenInvalid:
            raise _Page(401, "expired") from None
        session = Session.new(claims.account_id, claims.user_id, claims.return_url)
        state, pkce = secrets.token_urlsafe(32), oauth.Pkce.new()
        bootstrap.container().oauth_states.put_state(_sha(state), {
            "sid_hash": session.sid_hash, "account_id": claims.account_id, "user_id": claims.user_id,
            "verifier": pkce.verifier, "expires_at": datetime.now(UTC) + timedelta(seconds=STATE_SECONDS),
        })
        self.flows.start(session.sid_hash, claims.account_id, claims.user_id,
                         datetime.fromtimestamp(session.expires, UTC))
        target = oauth.authorization_url(self.settings.oauth_auth_uri, self.secrets.get("OAUTH_CLIENT_ID"),
                                         self.redirect_uri, state, pkce)
        return Response(status=302, headers={
            "Location": target, "Set-Cookie": cookie_header(session.encode(self.link_secret), self.https),
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    # -- GET /oauth/callback -------------------------------------------------------------------
    def callback(self, request: Any, lang: str) -> Response:
        session = self.session(request)
        state = request.args.get("state", "")
        saved = bootstrap.container().oauth_states.consume_state(_sha(state)) if state else None
        if (saved is None or saved.get("sid_hash") != session.sid_hash
                or saved["expires_at"].timestamp() < time.time()):
            raise _Page(400, "state")
        if request.args.get("error"):
            raise _Page(400, "denied")
        try:
            tokens = oauth.exchange_code(self.settings.oauth_token_uri, self.secrets.get("OAUTH_CLIENT_ID"),
                                         self.secrets.get("OAUTH_CLIENT_SECRET"), request.args.get("code", ""),
                                         saved["verifier"], self.redirect_uri)
        except oauth.OAuthRefused:
            raise _Page(400, "state") from None
        # RFC 6749 §5.1: "scope" may be left out when it is what was asked for.
        granted = set(str(tokens["scope"]).split()) if tokens.get("scope") else set(SCOPES)
        if not set(SCOPES) <= granted:
            raise _Page(400, "scopes")
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            raise _Page(400, "no_refresh")
        ref = bootstrap.vault().store_refresh_token(connection_key(session.account_id, session.user_id),
                                                    refresh_token)
        calendar = bootstrap.calendars().session_for_ref(ref, access_token=tokens.get("access_token"))
        try:  # the primary calendar's id is the account's address (our scopes include no email scope)
            email = str(calendar.calendar_entry("primary").get("id", ""))
        except (CalendarNotFound, Permanent):
            email = ""  # shown as unknown; the connection works all the same
        self.store.set_pending(session.account_id, session.user_id, ref, email)
        # The grant belongs to this browser session alone: /calendars reads it from here.
        if not self.flows.authorize(session.sid_hash, session.account_id, session.user_id, ref, email):
            raise _Page(401, "session")
        return Response(status=302, headers={"Location": self.url("/calendars"), "Cache-Control": "no-store"})

    # -- GET/POST /calendars -------------------------------------------------------------------
    def _grant(self, session: Session) -> tuple[str, str]:
        """The grant this browser session obtained at its own OAuth callback and has not used yet:
        never the connection's (a session that only visited /connect has none)."""
        grant = self.flows.grant(session.sid_hash, session.account_id, session.user_id)
        if grant is None:
            raise _Page(401, "session")
        return grant.token_ref, grant.google_email

    def show_calendars(self, request: Any, lang: str) -> Response:
        session = self.session(request)
        ref, email = self._grant(session)
        conn = self.store.get_connection(session.account_id, session.user_id)
        items = bootstrap.calendars().session_for_ref(ref).writable_calendars()
        body, nonce = pages.calendars(lang, email, items, conn.calendar_id if conn else None,
                                      session.csrf_token(self.link_secret))
        return Response(body, status=200,
                        headers=pages.security_headers(nonce, self.settings.allowed_return_origins))

    def choose_calendar(self, request: Any, lang: str) -> Response:
        session = self.session(request)
        if not session.csrf_ok(self.link_secret, request.form.get("csrf_token")):
            raise _Page(403, "csrf")
        ref, email = self._grant(session)
        chosen = request.form.get("calendar_id", "")
        calendar = bootstrap.calendars().session_for_ref(ref)
        try:
            entry = calendar.calendar_entry(chosen) if chosen else {}
        except (CalendarNotFound, CalendarUnavailable, Permanent):
            entry = {}
        if entry.get("accessRole") not in ("owner", "writer"):
            raise _Page(400, "calendar")
        # Single use: of two requests with this cookie, only the one that takes the step saves.
        if self.flows.use(session.sid_hash, session.account_id, session.user_id) is None:
            raise _Page(401, "session")
        try:
            moved = self._save_choice(session, entry["id"], ref, email)
        except BaseException:
            self.flows.release(session.sid_hash)  # nothing was settled: the user may try again
            raise
        resumed = resume_parked(self.store, bootstrap.publisher(), session.account_id, session.user_id)
        logs.log(logging.INFO, "calendar chosen", {
            "function": "integrations", "account_id": session.account_id, "user_id": session.user_id,
            "outcome": "active", "count": moved + resumed})
        target = session.return_url or self.url("/done")
        return Response(status=302, headers={"Location": target, "Set-Cookie": cookie_header("", self.https, 0),
                                             "Cache-Control": "no-store"})

    def _save_choice(self, session: Session, calendar_id: str, ref: str, email: str) -> int:
        conn = self.store.get_connection(session.account_id, session.user_id)
        previous = conn.calendar_id if conn else None
        self.store.activate(session.account_id, session.user_id, calendar_id, ref, email or None)
        bootstrap.container().channels.activated(session.account_id, session.user_id)  # §9: watch it
        if conn is not None:
            self._retire_replaced_grant(conn, ref, email)
        bootstrap.vault().retire_others(ref)
        if not previous or previous == calendar_id:
            return 0
        # The synced events follow as jobs on the bulk lane (CONTRACT §7): the page answers at once.
        return bootstrap.container().moves.start(session.account_id, session.user_id, previous, calendar_id)

    def _retire_replaced_grant(self, doc: Connection, ref: str, email: str) -> None:
        """A grant of another Google account that this connection no longer uses is revoked.
        (Revoking one of the same account would revoke the new grant too: Google revokes per
        user and client.) Best effort: the token version is destroyed either way."""
        old_ref, old_email = doc.token_ref, doc.google_email
        if not old_ref or old_ref == ref or not old_email or old_email == email:
            return
        try:
            oauth.revoke(self.settings.oauth_revoke_uri, bootstrap.vault().read_refresh_token(old_ref))
        except AuthRevoked:
            pass  # already gone
        except Retryable as exc:
            logs.log(logging.WARNING, "replaced grant not revoked at the provider",
                     {"function": "integrations", "account_id": doc.account_id,
                      "user_id": doc.user_id, "reason": exc.reason})

    # -- the platform's API --------------------------------------------------------------------
    def api(self, request: Any, account_id: str, user_id: str, fields: dict[str, Any]) -> Response:
        refused = api_refusal(request, self.link_secret, account_id, user_id)
        if refused is not None:
            return refused
        # Only now are the path's ids worth a log field: they are the token's own.
        fields.update(account_id=account_id, user_id=user_id)
        if request.method not in ("GET", "DELETE"):  # as the snapshot routes: after the token, 405
            return _json({"error": "method_not_allowed"}, 405, {"Allow": "GET, DELETE"})
        if request.method == "DELETE":
            return self.disconnect(account_id, user_id, request.args.get("remove_events", "").lower() == "true")
        return _json(self.status(account_id, user_id), 200)

    def status(self, account_id: str, user_id: str) -> dict[str, Any]:
        conn = self.store.get_connection(account_id, user_id)
        # Disconnecting is disconnected for the platform: what is left is being removed.
        if conn is not None and conn.status is ConnectionStatus.DISCONNECTING:
            from sync.disconnect.api import removing

            return {"account_id": account_id, "user_id": user_id, "status": "disconnected", "google_email": None,
                    "calendar_id": None, "last_synced_at": None, "last_error": None,
                    "counts": {"synced": 0, "failed": 0, "parked": 0, "deleted": 0}, "snapshot": None,
                    "moving": None, "removing": removing(account_id, user_id)}
        status = conn.status.value if conn else "disconnected"
        figures = self.store.status_figures(account_id, user_id) if conn else {
            "last_synced_at": None, "last_error": None, "counts": {"synced": 0, "failed": 0, "parked": 0, "deleted": 0}}
        if status == "needs_reauth":
            figures["last_error"] = {"reason": "google_grant_revoked", "event_id": None, "at": None}
        elif status == "calendar_unavailable":
            figures["last_error"] = {"reason": "calendar_unavailable", "event_id": None, "at": None}
        return {"account_id": account_id, "user_id": user_id, "status": status,
                "google_email": conn.google_email if conn and status != "disconnected" else None,
                "calendar_id": conn.calendar_id if conn and status != "disconnected" else None, **figures,
                "snapshot": bootstrap.container().snapshots.status(account_id, user_id) if conn else None,
                "moving": bootstrap.container().moves.status(account_id, user_id) if conn else None,
                "removing": None}

    def disconnect(self, account_id: str, user_id: str, remove_events: bool) -> Response:
        from sync.disconnect import api as disconnect_api  # CONTRACT §4: sync/disconnect/

        return disconnect_api.handle(account_id, user_id, remove_events)


def _json(payload: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status,
                    headers={"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})})


ROUTES = {("GET", "/connect"): "connect", ("GET", "/oauth/callback"): "callback",
          ("GET", "/calendars"): "show_calendars", ("POST", "/calendars"): "choose_calendar"}


def _route_label(path: str) -> str:
    """What the log says was asked for: a known route's path, never unknown input."""
    if path.startswith("/api/"):
        return "/api"
    return path if path in ("/done", privacy.PATH) or any(path == known for _, known in ROUTES) else "(unknown path)"


def _message_page(lang: str, status: int, key: str) -> Response:
    body, nonce = pages.message(lang, key)
    return Response(body, status=status, headers=pages.security_headers(nonce))


def _route(request: Any, path: str, lang: str, fields: dict[str, Any]) -> Response:
    if path == "/google/notifications":  # Calendar push pings (§9)
        from sync.web import pings

        return pings.handle(request, bootstrap.container(), fields)
    if path == privacy.PATH:  # the data-use policy: sync/integrations/privacy.py
        return privacy.handle(request, lang)
    app = Integrations()
    if path.startswith("/api/connections/"):
        parts = route_segments(request.environ, path, function_names(os.environ))  # ids may hold '/' or '%'
        if len(parts) > 5 and parts[5] == "snapshots":  # CONTRACT §7: sync/snapshots/api.py
            from sync.web import snapshots as snapshots_api

            return snapshots_api.handle(request, bootstrap.container(), app.link_secret, parts[3], parts[4],
                                        parts[6:], fields)
        if len(parts) != 5:
            return _json({"error": "not_found"}, 404)
        return app.api(request, parts[3], parts[4], fields)
    if (request.method, path) == ("GET", "/done"):
        return _message_page(lang, 200, "done")
    if (request.method, path) in ROUTES:
        return getattr(app, ROUTES[(request.method, path)])(request, lang)  # type: ignore[no-any-return]
    return _message_page(lang, 404, "not_found")


def _json_route(path: str) -> bool:
    """The routes a program calls (the platform's API, Google's pings): their errors are JSON too."""
    return path.startswith("/api/") or path == "/google/notifications"


def handle(request: Any) -> Response:
    started = time.perf_counter()
    lang = pages.language(request.headers.get("Accept-Language"))
    path = route_path(request.path, function_names(os.environ))
    fields: dict[str, Any] = {"function": "integrations"}
    trace = logs.trace_from_headers(request.headers)
    try:
        s = bootstrap.config()
        logs.configure(s.project, s.log_level)
        response = _route(request, path, lang, fields)
    except _Page as page:
        response = _message_page(lang, page.status, page.key)
        fields["reason"] = page.key
    except (Retryable, ConfigError) as exc:
        logs.log(logging.WARNING, "integrations dependency unavailable", {**fields, "reason": str(exc)}, trace)
        response = (_json({"error": "unavailable"}, 503, {"Retry-After": "5"}) if _json_route(path)
                    else _message_page(lang, 503, "unavailable"))
    except AuthRevoked:
        response = _message_page(lang, 401, "session")
    except DisconnectInProgress:  # a reconnect while the previous disconnect still removes events
        response = _message_page(lang, 409, "disconnecting")
    except Exception as exc:  # the boundary
        logs.log(logging.ERROR, "integrations failed unexpectedly", {**fields, "error_type": type(exc).__name__},
                 trace, exc_info=exc)
        response = (_json({"error": "internal"}, 500) if _json_route(path)
                    else _message_page(lang, 500, "unavailable"))
    fields.update(status=response.status_code, latency_ms=round((time.perf_counter() - started) * 1000, 2))
    level = logging.INFO if response.status_code < 500 else logging.ERROR
    logs.log(level, f"{request.method} {_route_label(path)}", fields, trace)
    return response
