"""The browser connect flow (docs/connections.md#the-browser-flow), as use cases on ports; the
routes that decode cookies and forms and render pages are sync/web/connect.py.

    begin       (a verified link token's user) → an OAuth state and PKCE verifier kept for this
                browser session, its flow session started → the authorization URL
    authorize   the OAuth callback: the state checked (single use, this session's), the code
                exchanged, both scopes granted, the refresh token stored, the grant kept for this
                browser session alone (and pending on the connection)
    calendars   the account's writable calendars, for the grant this session obtained
    choose      the chosen calendar checked writable, the session's single step taken, the
                connection activated (sync/connections/activate.py), parked changes resumed

A refusal is ``FlowRefused(status, page)``: the page (sync/web/pages.py) the browser is shown.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.connections import oauth
from sync.connections.activate import Activation
from sync.kernel import logs
from sync.kernel.errors import CalendarNotFound, CalendarUnavailable, OAuthRefused, Permanent, SyncError
from sync.kernel.model import SCOPES, ConnectionStatus, connection_key
from sync.kernel.ports import Calendars, ConnectionStore, FlowSessions, OAuthClient, OAuthStates, Secrets, TokenVault

STATE_SECONDS = 10 * 60


class FlowRefused(SyncError):
    """The browser is answered ``status`` with the message page ``page``."""

    def __init__(self, status: int, page: str) -> None:
        super().__init__(page)
        self.status, self.page = status, page


@dataclass(frozen=True)
class Browser:
    """The browser session a request comes from (its cookie, verified)."""

    sid_hash: str
    account_id: str
    user_id: str


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ConnectFlow:
    def __init__(self, public_base_url: str, auth_uri: str, secrets: Secrets, states: OAuthStates,
                 flows: FlowSessions, connections: ConnectionStore, vault: TokenVault, calendars: Calendars,
                 oauth_client: OAuthClient, activation: Activation, clock: Callable[[], float] = time.time) -> None:
        self.public_base_url = public_base_url
        self.auth_uri = auth_uri
        self.secrets = secrets
        self.states = states
        self.flows = flows
        self.connections = connections
        self.vault = vault
        self.calendars = calendars
        self.oauth = oauth_client
        self.activation = activation
        self.clock = clock

    @property
    def redirect_uri(self) -> str:
        return self.public_base_url + "/oauth/callback"

    def begin(self, browser: Browser, session_expires: datetime) -> str:
        """The authorization URL to send this browser session to."""
        state, pkce = secrets.token_urlsafe(32), oauth.Pkce.new()
        self.states.put_state(_sha(state), {
            "sid_hash": browser.sid_hash, "account_id": browser.account_id, "user_id": browser.user_id,
            "verifier": pkce.verifier, "expires_at": datetime.now(UTC) + timedelta(seconds=STATE_SECONDS),
        })
        self.flows.start(browser.sid_hash, browser.account_id, browser.user_id, session_expires)
        return oauth.authorization_url(self.auth_uri, self.secrets.get("OAUTH_CLIENT_ID"), self.redirect_uri,
                                       state, pkce)

    def authorize(self, browser: Browser, state: str, error: str, code: str) -> None:
        saved = self.states.consume_state(_sha(state)) if state else None
        if (saved is None or saved.get("sid_hash") != browser.sid_hash
                or saved["expires_at"].timestamp() < self.clock()):
            raise FlowRefused(400, "state")
        if error:
            raise FlowRefused(400, "denied")
        try:
            tokens = self.oauth.exchange_code(self.secrets.get("OAUTH_CLIENT_ID"),
                                              self.secrets.get("OAUTH_CLIENT_SECRET"), code, saved["verifier"],
                                              self.redirect_uri)
        except OAuthRefused:
            raise FlowRefused(400, "state") from None
        # RFC 6749 §5.1: "scope" may be left out when it is what was asked for.
        granted = set(str(tokens["scope"]).split()) if tokens.get("scope") else set(SCOPES)
        if not set(SCOPES) <= granted:
            raise FlowRefused(400, "scopes")
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            raise FlowRefused(400, "no_refresh")
        a, u = browser.account_id, browser.user_id
        ref = self.vault.store_refresh_token(connection_key(a, u), refresh_token)
        calendar = self.calendars.session_for_ref(ref, access_token=tokens.get("access_token"))
        try:  # the primary calendar's id is the account's address (our scopes include no email scope)
            email = str(calendar.calendar_entry("primary").get("id", ""))
        except (CalendarNotFound, Permanent):
            email = ""  # shown as unknown; the connection works all the same
        self.connections.set_pending(a, u, ref, email)
        # The grant belongs to this browser session alone: /calendars reads it from here.
        if not self.flows.authorize(browser.sid_hash, a, u, ref, email):
            raise FlowRefused(401, "session")

    def _grant(self, browser: Browser) -> tuple[str, str]:
        """The grant this browser session obtained at its own OAuth callback and has not used yet:
        never the connection's (a session that only visited /connect has none)."""
        grant = self.flows.grant(browser.sid_hash, browser.account_id, browser.user_id)
        if grant is None:
            raise FlowRefused(401, "session")
        return grant.token_ref, grant.google_email

    def calendars_to_choose(self, browser: Browser) -> tuple[str, list[dict[str, Any]], str | None, datetime | None]:
        """(the account's address, its writable calendars, the connection's current calendar, and when
        it is tried again while Google's usage limits hold it: docs/errors-and-limits.md#usage-limits)."""
        ref, email = self._grant(browser)
        conn = self.connections.get_connection(browser.account_id, browser.user_id)
        items = self.calendars.session_for_ref(ref).writable_calendars()
        limited = conn.retry_at if conn and conn.status is ConnectionStatus.USAGE_LIMITED else None
        return email, items, conn.calendar_id if conn else None, limited

    def choose(self, browser: Browser, chosen: str) -> None:
        ref, email = self._grant(browser)
        calendar = self.calendars.session_for_ref(ref)
        try:
            entry = calendar.calendar_entry(chosen) if chosen else {}
        except (CalendarNotFound, CalendarUnavailable, Permanent):
            entry = {}
        if entry.get("accessRole") not in ("owner", "writer"):
            raise FlowRefused(400, "calendar")
        a, u = browser.account_id, browser.user_id
        # Single use: of two requests with this cookie, only the one that takes the step saves.
        if self.flows.use(browser.sid_hash, a, u) is None:
            raise FlowRefused(401, "session")
        try:
            moved = self.activation.activate(a, u, entry["id"], ref, email)
        except BaseException:
            self.flows.release(browser.sid_hash)  # nothing was settled: the user may try again
            raise
        resumed = self.activation.resume(a, u)
        logs.log(logging.INFO, "calendar chosen", {
            "function": "integrations", "account_id": a, "user_id": u, "outcome": "active",
            "count": moved + resumed})
