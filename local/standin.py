"""A strict local stand-in for Google Calendar v3 and Google's OAuth 2.0 endpoints.

The real ``google-api-python-client`` and ``google-auth`` talk to it over HTTP. It is strict
where Google is: request bodies are checked against the ``calendar.v3.json`` discovery
document shipped with the client, event ids must be base32hex of 5-1024 characters, a reused
id is a 409 even when the event was cancelled, deleted events stay as ``cancelled``, updates
honour ``If-Match`` etags, and the OAuth endpoints enforce client credentials, redirect URIs,
PKCE S256, single-use codes and revocation.

Failures are switchable through ``/_admin`` routes: injected statuses (a count or a rate),
answered before the call or, with ``applied``, only once it took effect (Google's 503 to a write
it applied, guests mailed), delays (timeouts), per-user rate limits answered as Google does (403
``userRateLimitExceeded``), revoked grants and removed calendars.

Push notifications as Calendar sends them: ``events.watch`` opens a channel (https address, or
http on loopback), ``channels.stop`` closes it, and every change to a watched calendar is POSTed
to each live channel's address with Google's ``X-Goog-*`` headers, from a background pool so no
API call waits for it. ``events.list`` speaks sync tokens (``nextSyncToken`` on a listing's last
page; ``syncToken`` lists what changed since, deletions included; the parameters Google refuses
next to one are a 400; an expired one is a 410). ``/_admin`` can edit or delete an event by hand
(as the user in Calendar's UI: a new etag, a ping), switch pings off, and expire sync tokens.

What guests see (docs/events.md#attendees), in parts of their own:

- Google Meet (``local/standin_meet.py``, its docstring has the rules): ``conferenceDataVersion``
  0 / 1 on insert, update and patch (anything else a 400), create requests whose repeated
  ``requestId`` is ignored, Meet codes and entry points, calendars whose
  ``conferenceProperties.allowedConferenceSolutionTypes`` (in the calendar list) lack
  ``hangoutsMeet`` (400 ``invalid`` "Invalid conference type value."), and creation that stays
  ``pending`` until it settles to ``success`` / ``failure`` on a later read, after a delay or when a
  test says so — a new etag and a ping when it does.
- Guest mails (``local/standin_mail.py``): every accepted write with ``sendUpdates`` ``all`` or
  ``externalOnly`` logs one ``invitation`` / ``update`` / ``cancellation`` per guest who should
  get it, never de-duplicated; ``externalOnly`` skips guests of Google Calendar domains.
- Usage limits (``local/standin_limits.py``): a user switched over them gets 403 ``quotaExceeded``
  (domain ``usageLimits``, "Calendar usage limits exceeded.") on every write; reads answer.
- Partial responses (``local/standin_fields.py``): ``fields`` on events and calendar-list calls
  keeps only what it names; a selection of a field the answer lacks is a 400 ``invalidParameter``.
- ``colorId`` "1"–"11", ``transparency``, ``visibility`` and ``status`` outside Google's values are
  a 400 ``invalid``.

The test API (``State`` methods, the same behind ``/_admin`` routes for other processes):

==========================================  ===============================================================
``configure_conferences(cal=None, **f)``    ``POST /_admin/conferences {"calendar_id"?, f…}``: ``allowed`` (types),
                                            ``creation`` (``immediate`` / ``pending``), ``outcome``
                                            (``success`` / ``failure``), ``after_reads`` (N or null),
                                            ``after_seconds`` (or null), ``phone``; no calendar: the default
``meet.describe()``                         ``GET /_admin/conferences``: policies, what is pending, ``created``
``settle_conferences(cal, event, outcome)`` ``POST /_admin/conferences/settle {…}`` → ``{"settled": n}``
``mails(to, event_id, calendar_id)``        ``GET /_admin/mail?to=&event_id=&calendar_id=`` → ``items``, ``counts``
``mail_counts(to, event_id)``               guest → kind → n (also in the GET above)
``reset_mails()``                           ``DELETE /_admin/mail``
``set_google_domains([...])``               ``POST /_admin/mail/google_domains {"domains": [...]}`` (GET shows)
``limit_usage(email, seconds?, until?)``    ``POST /_admin/usage_limits {"email", "seconds"?, "until"?}``
``lift_usage_limit(email=None)``            ``DELETE /_admin/usage_limits[?email=]`` (GET lists)
hand edits                                  ``PATCH|DELETE /_admin/calendars/{cal}/events/{id}?sendUpdates=all``
==========================================  ===============================================================

``calls`` (``/_admin/stats``) also counts ``mails.sent``, ``rejected_usage_limit`` and
``rejected_precondition`` (a 412 to ``If-Match``);
``stats(user=email)`` / ``?user=`` keeps one Google account's calls, ``stats(calendar=id)`` /
``?calendar=`` one calendar's pings and mails: what a test counts cannot move with another test's
work still running. A ``Fault`` with ``users`` hits only those accounts' calls.

Run it alone with ``python -m local.standin --port 8089``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import email.utils
import hashlib
import html
import itertools
import json
import random
import re
import secrets
import threading
import time
import urllib.request
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, available_timezones

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from local import discovery, standin_fields
from local.serving import BackgroundServer
from local.standin_errors import ApiError
from local.standin_limits import UsageLimits
from local.standin_mail import MailLog, notification_policy
from local.standin_meet import ConferencePolicy, Meet

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
SCOPE_EVENTS = "https://www.googleapis.com/auth/calendar.events"
SCOPE_CALENDAR = "https://www.googleapis.com/auth/calendar"
SCOPE_CALENDARLIST_RO = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
WRITE_ROLES = ("owner", "writer")
ACCESS_TOKEN_SECONDS = 3599
CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]{1,64}$")
CHANNEL_TTL_DEFAULT = 7 * 24 * 3600
CHANNEL_TTL_MAX = 30 * 24 * 3600
# The Calendar methods behind the routes that answer a resource (what ``fields`` selects from).
RESPONSES = {
    ("events_collection", "GET"): ("events", "list"), ("events_collection", "POST"): ("events", "insert"),
    ("event", "GET"): ("events", "get"), ("event", "PUT"): ("events", "update"),
    ("event", "PATCH"): ("events", "patch"), ("event_move", "POST"): ("events", "move"),
    ("events_watch", "POST"): ("events", "watch"), ("calendar_list", "GET"): ("calendarList", "list"),
    ("calendar_list_get", "GET"): ("calendarList", "get"),
}
# Google refuses these next to a syncToken (they would change what "changed since" means).
NOT_WITH_SYNC_TOKEN = ("iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin",
                       "timeMax", "updatedMin")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Calendar:
    id: str
    summary: str
    acl: dict[str, str]  # email → role
    time_zone: str = "America/Sao_Paulo"
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0  # bumped by every change: what sync tokens count
    changed_at: dict[str, int] = field(default_factory=dict)  # event id → seq of its last change
    token_epoch: int = 0  # sync tokens of an older epoch are expired (410)


@dataclass
class Grant:
    refresh_token: str
    email: str
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class Channel:
    """A push channel (``events.watch``) on one calendar's events."""

    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    client_id: str
    stopped: bool = False
    messages: int = 0


@dataclass
class Fault:
    status: int
    reason: str
    methods: tuple[str, ...] = ()
    count: int | None = None  # the next N matching calls
    rate: float | None = None  # or this fraction of them
    delay: float = 0.0  # seconds to stall before answering (timeouts)
    retry_after: int | None = None
    users: tuple[str, ...] = ()  # the Google accounts (emails) whose calls it hits; none: everyone's
    # Answered only once the call took effect (a write applied, its guests mailed): Google's 503 to
    # a write it did apply. The client cannot tell it from a 503 that applied nothing.
    applied: bool = False


class State:
    """Everything the stand-in knows; one lock guards it."""

    def __init__(self, clients: dict[str, dict[str, Any]] | None = None) -> None:
        self.lock = threading.RLock()
        # client_id → {"secret", "redirect_uris", optional branding: "name", "privacy_policy_uri"}
        self.clients = clients or {}
        self.users: dict[str, str] = {}  # email → display name
        self.calendars: dict[str, Calendar] = {}
        self.grants: dict[str, Grant] = {}  # refresh token → grant
        self.access: dict[str, tuple[Grant, float]] = {}  # access token → (grant, expiry)
        self.codes: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.rate_limit_per_minute: int | None = None  # calls per window (60 s unless set)
        self.rate_limit_window = 60.0
        self.user_calls: dict[str, deque[float]] = defaultdict(deque)
        self.calls: Counter[str] = Counter()
        # The same counts for each Google account (its Calendar and token calls, their faults, rate
        # and usage refusals) and each calendar (pings, mails): ``stats(user=…, calendar=…)``.
        self.calls_by_user: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.calls_by_calendar: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.issued_access_tokens: list[str] = []  # every one ever issued (for log-hygiene checks)
        self.issued_codes: list[str] = []
        self.withhold_refresh_tokens = False  # as Google does when consent is not prompted again
        self.omit_scope_in_token_response = False  # RFC 6749 allows it when nothing was narrowed
        self.etag_counter = itertools.count(1)
        self.random = random.Random(1234)
        self.channels: dict[str, Channel] = {}
        self.pings_enabled = True
        self._pinger: ThreadPoolExecutor | None = None
        self.usage = UsageLimits()  # users over Calendar's usage limits (403 quotaExceeded on writes)
        self.meet = Meet(self)  # conferences: policies per calendar, pending create requests
        self.mail = MailLog()  # the guest mails writes with sendUpdates sent

    # -- what was called ---------------------------------------------------------------------
    def count(self, key: str, n: int = 1, user: str | None = None, calendar: str | None = None) -> None:
        """Count ``key`` (a method, ``pings.sent``, …) overall and for the user / calendar it was
        for. Call with the lock held."""
        self.calls[key] += n
        if user is not None:
            self.calls_by_user[user][key] += n
        if calendar is not None:
            self.calls_by_calendar[calendar][key] += n

    def stats(self, user: str | None = None, calendar: str | None = None) -> Counter[str]:
        """A copy of the counts: every call's, or only those of one Google account (``user``, its
        email) or of one calendar (pings and mails). Counts of one user or calendar cannot move
        with another test's work in the background."""
        with self.lock:
            if user is not None:
                return Counter(self.calls_by_user.get(user, {}))
            if calendar is not None:
                return Counter(self.calls_by_calendar.get(calendar, {}))
            return Counter(self.calls)

    def clear_stats(self) -> None:
        with self.lock:
            self.calls.clear()
            self.calls_by_user.clear()
            self.calls_by_calendar.clear()

    # -- changes and the pings they send ---------------------------------------------------
    def changed(self, cal: Calendar, eid: str) -> None:
        """Record a change to ``eid`` (sync tokens) and notify the calendar's live channels.
        Call with the lock held; the pings go out from a background pool."""
        cal.seq += 1
        cal.changed_at[eid] = cal.seq
        now_ms = int(time.time() * 1000)
        for channel in self.channels.values():
            if channel.calendar_id != cal.id or channel.stopped or channel.expiration_ms <= now_ms:
                continue
            if not self.pings_enabled:
                self.count("pings.suppressed", calendar=cal.id)
                continue
            self.ping(channel, "exists")

    def touched(self, cal: Calendar, event: dict[str, Any]) -> None:
        """Google changed ``event`` on its own (a conference settled): a new etag and ``updated``,
        and a change like any other. Call with the lock held."""
        event.update(etag=self.next_etag(), updated=_rfc3339(_now()))
        self.changed(cal, event["id"])

    def ping(self, channel: Channel, state: str) -> None:
        channel.messages += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": email.utils.formatdate(channel.expiration_ms / 1000, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": ("https://www.googleapis.com/calendar/v3/calendars/"
                                    f"{quote(channel.calendar_id, safe='')}/events?alt=json"),
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages),
            "Content-Length": "0",
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        if self._pinger is None:
            self._pinger = ThreadPoolExecutor(4, thread_name_prefix="standin-ping")
        self._pinger.submit(self._deliver, channel.address, headers, channel.calendar_id)

    def _deliver(self, address: str, headers: dict[str, str], calendar_id: str) -> None:
        request = urllib.request.Request(address, data=b"", method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                ok = 200 <= response.status < 300
        except OSError:  # URLError, HTTPError (a 4xx/5xx answer), timeouts
            ok = False
        with self.lock:
            self.count("pings.sent" if ok else "pings.failed", calendar=calendar_id)

    def sync_token(self, cal: Calendar, seq: int) -> str:
        raw = json.dumps({"c": hashlib.sha256(cal.id.encode()).hexdigest()[:16], "s": seq, "e": cal.token_epoch})
        return "CP" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def next_etag(self) -> str:
        """A fresh etag, Calendar-style: a quoted number that changes with every write."""
        return f'"{3000000000000000 + next(self.etag_counter)}"'

    # -- set-up helpers (also behind /_admin) ---------------------------------------------
    def add_user(self, email: str, name: str = "", calendars: list[dict[str, Any]] | None = None) -> None:
        with self.lock:
            self.users[email] = name or email.split("@")[0]
            self.mail.add_google_user(email)
            if email not in self.calendars:
                self.calendars[email] = Calendar(email, name or email, {email: "owner"})
            for spec in calendars or []:
                cal = self.calendars.setdefault(spec["id"], Calendar(spec["id"], spec.get("summary", spec["id"]), {}))
                cal.acl[email] = spec.get("role", "owner")
                if "conference_types" in spec:  # conferenceProperties.allowedConferenceSolutionTypes
                    self.meet.configure(spec["id"], {"allowed": list(spec["conference_types"])})

    def issue_grant(self, email: str, client_id: str, scopes: tuple[str, ...]) -> str:
        with self.lock:
            if email not in self.users:
                raise ApiError(400, "invalid_request", "unknown user")
            token = "1//rt-" + secrets.token_urlsafe(24)
            self.grants[token] = Grant(token, email, client_id, scopes)
            return token

    def revoke_user(self, email: str) -> int:
        with self.lock:
            n = 0
            for grant in self.grants.values():
                if grant.email == email and not grant.revoked:
                    grant.revoked, n = True, n + 1
            self.access = {k: v for k, v in self.access.items() if v[0].email != email}
            return n

    def limit_usage(self, email: str, seconds: float | None = None, until: float | None = None) -> float:
        """Put ``email`` over Calendar's usage limits: each of its writes is a 403 ``quotaExceeded``
        for ``seconds``, until the epoch time ``until``, or until lifted (reads still answer)."""
        with self.lock:
            return self.usage.limit(email, seconds, until)

    def lift_usage_limit(self, email: str | None = None) -> None:
        with self.lock:
            self.usage.lift(email)

    def configure_conferences(self, calendar_id: str | None = None, **spec: Any) -> ConferencePolicy:
        """Set how Google creates conferences on ``calendar_id`` (``None``: every calendar without a
        policy of its own); the fields of ``ConferencePolicy`` (``allowed``, ``creation``,
        ``outcome``, ``after_reads``, ``after_seconds``, ``phone``). A wrong one is a ``ValueError``."""
        with self.lock:
            return self.meet.configure(calendar_id, spec)

    def settle_conferences(self, calendar_id: str | None = None, event_id: str | None = None,
                           outcome: str | None = None) -> int:
        """Settle pending conferences now (to their policy's outcome, or ``outcome``); how many."""
        with self.lock:
            return self.meet.settle(calendar_id, event_id, outcome)

    def mails(self, to: str | None = None, event_id: str | None = None,
              calendar_id: str | None = None) -> list[dict[str, Any]]:
        """The guest mails sent (oldest first), of one guest / event / calendar when given: each
        ``{"n", "to", "kind", "method", "sendUpdates", "calendarId", "eventId", "summary", "start",
        "sequence", "hangoutLink", "at"}`` with ``kind`` ``invitation`` / ``update`` / ``cancellation``."""
        with self.lock:
            return self.mail.mails(to, event_id, calendar_id)

    def mail_counts(self, to: str | None = None, event_id: str | None = None) -> dict[str, dict[str, int]]:
        """Guest → kind → how many mails, e.g. ``{"cliente@x.com": {"invitation": 1, "update": 2}}``."""
        with self.lock:
            return self.mail.counts(to, event_id)

    def reset_mails(self) -> None:
        with self.lock:
            self.mail.reset()

    def set_google_domains(self, domains: list[str]) -> None:
        """The domains whose addresses use Google Calendar (``externalOnly`` skips them); replaces
        the default (``gmail.com``, ``googlemail.com`` and the stand-in users' domains)."""
        with self.lock:
            self.mail.set_google_domains(domains)

    def events_of(self, calendar_id: str, include_cancelled: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            cal = self.calendars.get(calendar_id)
            if cal is None:
                return []
            return [json.loads(json.dumps(e)) for e in cal.events.values()
                    if include_cancelled or e["status"] != "cancelled"]


class StandIn:
    """The WSGI application."""

    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()
        r = Rule
        self.url_map = Map([
            r("/calendar/v3/calendars/<path:cal>/events", endpoint="events_collection", methods=["GET", "POST"]),
            r("/calendar/v3/calendars/<path:cal>/events/<eid>", endpoint="event",
              methods=["GET", "PUT", "PATCH", "DELETE"]),
            r("/calendar/v3/calendars/<path:cal>/events/<eid>/move", endpoint="event_move", methods=["POST"]),
            r("/calendar/v3/calendars/<path:cal>/events/watch", endpoint="events_watch", methods=["POST"]),
            r("/calendar/v3/channels/stop", endpoint="channels_stop", methods=["POST"]),
            r("/calendar/v3/users/me/calendarList", endpoint="calendar_list", methods=["GET"]),
            r("/calendar/v3/users/me/calendarList/<path:cal>", endpoint="calendar_list_get", methods=["GET"]),
            r("/o/oauth2/auth", endpoint="oauth_auth", methods=["GET"]),
            r("/o/oauth2/approve", endpoint="oauth_approve", methods=["POST"]),
            r("/token", endpoint="oauth_token", methods=["POST"]),
            r("/revoke", endpoint="oauth_revoke", methods=["POST", "GET"]),
            r("/_admin/users", endpoint="admin_users", methods=["POST"]),
            r("/_admin/grants", endpoint="admin_grants", methods=["POST"]),
            r("/_admin/revoke", endpoint="admin_revoke", methods=["POST"]),
            r("/_admin/faults", endpoint="admin_faults", methods=["POST", "DELETE"]),
            r("/_admin/rate_limit", endpoint="admin_rate_limit", methods=["POST"]),
            r("/_admin/usage_limits", endpoint="admin_usage_limits", methods=["GET", "POST", "DELETE"]),
            r("/_admin/conferences", endpoint="admin_conferences", methods=["GET", "POST"]),
            r("/_admin/mail", endpoint="admin_mail", methods=["GET", "DELETE"]),
            r("/_admin/mail/google_domains", endpoint="admin_mail_domains", methods=["GET", "POST"]),
            r("/_admin/conferences/settle", endpoint="admin_conferences_settle", methods=["POST"]),
            r("/_admin/stats", endpoint="admin_stats", methods=["GET", "DELETE"]),
            r("/_admin/calendars/<path:cal>/events", endpoint="admin_events", methods=["GET"]),
            r("/_admin/calendars/<path:cal>/events/<eid>", endpoint="admin_event", methods=["DELETE", "PATCH"]),
            r("/_admin/calendars/<path:cal>/sync_tokens", endpoint="admin_sync_tokens", methods=["DELETE"]),
            r("/_admin/channels", endpoint="admin_channels", methods=["GET"]),
            r("/_admin/pings", endpoint="admin_pings", methods=["POST"]),
            r("/_admin/calendars/<path:cal>", endpoint="admin_calendar", methods=["DELETE"]),
        ], strict_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            selection = self._selection(request, endpoint)
            response = getattr(self, "on_" + endpoint)(request, **args)
            if response.status_code < 300 and "standin.method" in request.environ:
                self._inject(request.environ["standin.method"], request.environ["standin.email"], applied=True)
            if selection is not None and response.status_code == 200:
                response = _json(standin_fields.select(json.loads(response.get_data()), selection))
        except ApiError as err:
            response = _api_error(err)
        except HTTPException as err:
            response = _api_error(ApiError(err.code or 500, "notFound" if err.code == 404 else "badRequest",
                                           err.description or ""))
        return response(environ, start_response)

    def _selection(self, request: Request, endpoint: str) -> standin_fields.Tree | None:
        """A Calendar call's ``fields`` (partial response), checked against what it answers."""
        text = request.args.get("fields")
        method = RESPONSES.get((endpoint, request.method))
        if text is None or method is None:
            return None
        try:
            tree = standin_fields.parse(text)
            standin_fields.check(tree, discovery.method(*method)["response"], discovery.calendar_document())
        except ValueError as err:
            raise ApiError(400, "invalidParameter", str(err) if str(err) != "Invalid field selection"
                           else f"Invalid field selection {text[:200]}") from None
        return tree

    # -- Calendar: plumbing ----------------------------------------------------------------
    def _authorize(self, request: Request, scopes: tuple[str, ...], method: str) -> Grant:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.state.lock:
            entry = self.state.access.get(token)
            if entry is None or entry[1] < time.time() or entry[0].revoked:
                raise ApiError(401, "authError", "Invalid Credentials")
            grant = entry[0]
            if not any(s in grant.scopes for s in scopes + (SCOPE_CALENDAR,)):
                raise ApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
            self.state.count(method, user=grant.email)
            self._rate_limit(grant.email)
        self._inject(method, grant.email)
        request.environ["standin.method"], request.environ["standin.email"] = method, grant.email
        return grant

    def _rate_limit(self, email: str) -> None:
        limit = self.state.rate_limit_per_minute
        if limit is None:
            return
        window = self.state.user_calls[email]
        now = time.monotonic()
        while window and now - window[0] > self.state.rate_limit_window:
            window.popleft()
        if len(window) >= limit:
            self.state.count("rejected_rate_limit", user=email)
            raise ApiError(403, "userRateLimitExceeded", "Rate Limit Exceeded")
        window.append(now)

    def _inject(self, method: str, email: str | None, applied: bool = False) -> None:
        """The first fault matching a call of ``method`` by ``email`` (``None``: unknown yet) hits it;
        ``applied``: the call has taken effect (only faults answered after it match then)."""
        fault = None
        with self.state.lock:
            for f in self.state.faults:
                if f.applied != applied:
                    continue
                if f.methods and method not in f.methods:
                    continue
                if f.users and email not in f.users:
                    continue
                if f.count is not None and f.count > 0:
                    f.count -= 1
                    fault = f
                    break
                if f.rate is not None and self.state.random.random() < f.rate:
                    fault = f
                    break
            self.state.faults = [f for f in self.state.faults if f.count is None or f.count > 0]
            if fault:
                self.state.count("injected_fault", user=email)
                if applied:
                    self.state.count("injected_fault_after_applied", user=email)
        if fault is None:
            return
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            raise ApiError(fault.status, fault.reason, "injected fault", headers)

    def _calendar(self, cal_id: str, grant: Grant, write: bool) -> Calendar:
        if cal_id == "primary":
            cal_id = grant.email
        cal = self.state.calendars.get(cal_id)
        role = cal.acl.get(grant.email) if cal else None
        if cal is None or role is None:
            raise ApiError(404, "notFound", "Not Found")
        if write and role not in WRITE_ROLES:
            raise ApiError(403, "requiredAccessLevel", "You need to have writer access to this calendar.")
        if write:
            self._check_usage(grant)
        return cal

    def _check_usage(self, grant: Grant) -> None:
        try:
            self.state.usage.check(grant.email)
        except ApiError:
            self.state.count("rejected_usage_limit", user=grant.email)
            raise

    def _check_query(self, request: Request, name: str, email: str) -> None:
        if "sendUpdates" in request.args:
            with self.state.lock:
                self.state.count(f"sendUpdates={request.args['sendUpdates']}", user=email)
        problems = discovery.validate_query("events", name, dict(request.args))
        if problems:
            raise ApiError(400, "invalidParameter", "; ".join(problems))

    def _body(self, request: Request, partial: bool = False) -> dict[str, Any]:
        """The request's Event, checked against the schema; a whole one (not a patch's fields, which
        are checked once merged) against Calendar's rules too."""
        body = _json_body(request)
        problems = discovery.validate(body, {"$ref": "Event"}, "event")
        if problems:
            raise ApiError(400, "invalid", "; ".join(problems[:5]))
        if not partial:
            _check_event_semantics(body)
        return body

    def _stored(self, cal: Calendar, body: dict[str, Any], eid: str, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = _rfc3339(_now())
        # Read-only fields are Google's; the conference is the write's conferenceDataVersion's (Meet.apply).
        event = {k: v for k, v in body.items() if k not in ("etag", "kind", "htmlLink", "created", "updated",
                                                           "creator", "organizer", "iCalUID", "hangoutLink",
                                                           "conferenceData")}
        event.update({
            "kind": "calendar#event",
            "id": eid,
            "etag": self.state.next_etag(),
            "status": body.get("status", "confirmed"),
            "htmlLink": f"https://calendar.stand-in/event?eid={eid}",
            "created": previous["created"] if previous else now,
            "updated": now,
            "creator": {"email": cal.id},
            "organizer": {"email": cal.id, "self": True},
            "iCalUID": f"{eid}@google.com",
            "sequence": (previous.get("sequence", 0) + 1) if previous else 0,
            "reminders": body.get("reminders", {"useDefault": True}),
            "eventType": "default",
        })
        return event

    def _mail(self, request: Request, method: str, calendar: Calendar, before: dict[str, Any] | None,
              after: dict[str, Any] | None, everyone: str | None = None) -> None:
        """The guest mails of an accepted write, by its ``sendUpdates``. Call with the lock held."""
        n = self.state.mail.sent(method, notification_policy(request.args), calendar.id, before, after, everyone)
        if n:
            self.state.count("mails.sent", n, calendar=calendar.id)

    # -- Calendar: events ------------------------------------------------------------------
    def on_events_collection(self, request: Request, cal: str) -> Response:
        if request.method == "POST":
            grant = self._authorize(request, (SCOPE_EVENTS,), "events.insert")
            self._check_query(request, "insert", grant.email)
            body = self._body(request)
            with self.state.lock:
                calendar = self._calendar(cal, grant, write=True)
                eid = body.get("id") or secrets.token_hex(13)
                if not EVENT_ID.match(eid):
                    raise ApiError(400, "invalid", "Invalid resource id value.")
                if eid in calendar.events:  # ids are unique per calendar, cancelled events included
                    raise ApiError(409, "duplicate", "The requested identifier already exists.")
                event = self._stored(calendar, body, eid, None)
                self.state.meet.apply(calendar, event, body, None, _conference_version(request), partial=False)
                calendar.events[eid] = event
                self.state.changed(calendar, eid)
                self._mail(request, "events.insert", calendar, None, event)
                return _json(event)
        grant = self._authorize(request, (SCOPE_EVENTS,), "events.list")
        self._check_query(request, "list", grant.email)
        with self.state.lock:
            calendar = self._calendar(cal, grant, write=False)
            self.state.meet.read(calendar)  # a listing reads every event: pending conferences may settle
            since = self._since(request, calendar)
            show_deleted = since is not None or request.args.get("showDeleted") == "true"
            wanted = [p.split("=", 1) for p in request.args.getlist("privateExtendedProperty")]
            page_token = _decode_token(request.args.get("pageToken"), "pageToken")
            after, snapshot = str(page_token.get("a", "")), int(page_token.get("n", calendar.seq))
            items = sorted(
                (e for eid, e in calendar.events.items()
                 if eid > after
                 and (since is None or calendar.changed_at.get(eid, 0) > since)
                 and (show_deleted or e["status"] != "cancelled")
                 and all(e.get("extendedProperties", {}).get("private", {}).get(k) == v for k, v in wanted)),
                key=lambda e: e["id"])
            size = min(int(request.args.get("maxResults") or 250), 2500)
            page = [json.loads(json.dumps(e)) for e in items[:size]]
            out: dict[str, Any] = {"kind": "calendar#events", "summary": calendar.summary,
                                   "timeZone": calendar.time_zone, "items": page}
            if len(items) > size:
                out["nextPageToken"] = _encode_token({"a": page[-1]["id"], "n": snapshot})
            else:  # the last page: what changes after the first page started goes into the next sync
                out["nextSyncToken"] = self.state.sync_token(calendar, snapshot)
            return _json(out)

    def _since(self, request: Request, calendar: Calendar) -> int | None:
        """The change number a ``syncToken`` stands for, refusing what Google refuses with it."""
        token = request.args.get("syncToken")
        if token is None:
            return None
        refused = [p for p in NOT_WITH_SYNC_TOKEN if p in request.args]
        if refused:
            raise ApiError(400, "invalid", f"Sync token cannot be combined with {', '.join(refused)}.")
        if request.args.get("showDeleted") == "false":
            raise ApiError(400, "invalid", "showDeleted cannot be false with a sync token.")
        decoded = _decode_token(token[2:] if token.startswith("CP") else "!", "syncToken")
        if decoded.get("c") != hashlib.sha256(calendar.id.encode()).hexdigest()[:16] \
                or decoded.get("e") != calendar.token_epoch or not isinstance(decoded.get("s"), int):
            raise ApiError(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
        return int(decoded["s"])

    # -- Calendar: push channels -----------------------------------------------------------
    def on_events_watch(self, request: Request, cal: str) -> Response:
        grant = self._authorize(request, (SCOPE_EVENTS,), "events.watch")
        self._check_query(request, "watch", grant.email)
        body = _json_body(request)
        problems = discovery.validate(body, {"$ref": "Channel"}, "channel")
        if problems:
            raise ApiError(400, "invalid", "; ".join(problems[:5]))
        channel_id, address, token = body.get("id"), body.get("address") or "", body.get("token")
        if not channel_id or not CHANNEL_ID.match(channel_id):
            raise ApiError(400, "invalid", "Invalid channel id.")
        if body.get("type") not in ("web_hook", "webhook"):
            raise ApiError(400, "invalid", "Invalid channel type.")
        parts = urlsplit(address)
        loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if not parts.hostname or (parts.scheme != "https" and not loopback):
            raise ApiError(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + address[:200])
        if token is not None and len(token) > 256:
            raise ApiError(400, "invalid", "Channel token too long.")
        ttl_text = (body.get("params") or {}).get("ttl", str(CHANNEL_TTL_DEFAULT))
        if not re.fullmatch(r"\d{1,10}", ttl_text) or int(ttl_text) < 1:
            raise ApiError(400, "invalid", "Invalid value for ttl.")
        with self.state.lock:
            calendar = self._calendar(cal, grant, write=False)
            if channel_id in self.state.channels:
                raise ApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
            channel = Channel(
                id=channel_id, resource_id=hashlib.sha256(("events:" + calendar.id).encode()).hexdigest()[:27],
                calendar_id=calendar.id, address=address, token=token, client_id=grant.client_id,
                expiration_ms=int(time.time() * 1000) + min(int(ttl_text), CHANNEL_TTL_MAX) * 1000)
            self.state.channels[channel_id] = channel
            if self.state.pings_enabled:
                self.state.ping(channel, "sync")  # as Google: a first message says the channel works
            return _json({"kind": "api#channel", "id": channel.id, "resourceId": channel.resource_id,
                          "resourceUri": f"https://www.googleapis.com/calendar/v3/calendars/{quote(calendar.id)}"
                                         "/events?alt=json",
                          "expiration": str(channel.expiration_ms), **({"token": token} if token else {})})

    def on_channels_stop(self, request: Request) -> Response:
        grant = self._authorize(request, (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO), "channels.stop")
        body = _json_body(request)
        problems = discovery.validate(body, {"$ref": "Channel"}, "channel")
        if problems:
            raise ApiError(400, "invalid", "; ".join(problems[:5]))
        with self.state.lock:
            channel = self.state.channels.get(str(body.get("id") or ""))
            if channel is None or channel.stopped or channel.resource_id != body.get("resourceId") \
                    or channel.client_id != grant.client_id:
                raise ApiError(404, "notFound", f"Channel '{str(body.get('id'))[:64]}' not found")
            channel.stopped = True
        return Response(status=204)

    def on_event(self, request: Request, cal: str, eid: str) -> Response:
        method = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[request.method]
        grant = self._authorize(request, (SCOPE_EVENTS,), f"events.{method}")
        self._check_query(request, method, grant.email)
        body = self._body(request, partial=method == "patch") if method in ("update", "patch") else None
        with self.state.lock:
            calendar = self._calendar(cal, grant, write=method != "get")
            current = calendar.events.get(eid)
            if current is None:
                raise ApiError(404, "notFound", "Not Found")
            if method == "get":
                self.state.meet.read(calendar, eid)  # settles its conference in place when due
                return _json(current)
            # Checked when the write is applied (after any injected delay), as Google checks a
            # request it received even when its client has stopped waiting for the answer.
            if_match = request.headers.get("If-Match")
            if if_match and if_match != current["etag"]:
                self.state.count("rejected_precondition", user=grant.email)
                raise ApiError(412, "conditionNotMet", "Precondition Failed")
            if method == "delete":
                if current["status"] == "cancelled":
                    raise ApiError(410, "deleted", "Resource has been deleted")
                before = copy.deepcopy(current)
                current.update(status="cancelled", updated=_rfc3339(_now()),
                               etag=self.state.next_etag())
                self.state.changed(calendar, eid)
                self._mail(request, "events.delete", calendar, before, current)
                return Response(status=204)
            assert body is not None
            if body.get("id") not in (None, eid):
                raise ApiError(400, "invalid", "The event id in the body does not match the path.")
            merged = {**current, **body} if method == "patch" else {**body}
            if method == "patch":
                _check_event_semantics(merged)
            event = self._stored(calendar, merged, eid, current)
            self.state.meet.apply(calendar, event, body, current, _conference_version(request),
                                  partial=method == "patch")
            calendar.events[eid] = event
            self.state.changed(calendar, eid)
            self._mail(request, f"events.{method}", calendar, current, event)
            return _json(event)

    def on_event_move(self, request: Request, cal: str, eid: str) -> Response:
        grant = self._authorize(request, (SCOPE_EVENTS,), "events.move")
        self._check_query(request, "move", grant.email)
        with self.state.lock:
            source = self._calendar(cal, grant, write=True)
            target = self._calendar(request.args.get("destination", ""), grant, write=True)
            event = source.events.get(eid)
            if event is None or event["status"] == "cancelled":
                raise ApiError(404, "notFound", "Not Found")
            if eid in target.events:
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
            del source.events[eid]
            event = {**event, "etag": self.state.next_etag(),
                     "organizer": {"email": target.id, "self": True}}
            target.events[eid] = event
            self.state.meet.moved(source.id, target.id, eid)
            self.state.changed(source, eid)
            self.state.changed(target, eid)
            self._mail(request, "events.move", target, event, event, everyone="update")  # a new organizer
            return _json(event)

    # -- Calendar: calendar list -----------------------------------------------------------
    def _list_entry(self, cal: Calendar, email: str) -> dict[str, Any]:
        return {"kind": "calendar#calendarListEntry", "id": cal.id, "summary": cal.summary,
                "accessRole": cal.acl[email], "primary": cal.id == email, "timeZone": cal.time_zone,
                "conferenceProperties": self.state.meet.conference_properties(cal.id)}

    def on_calendar_list(self, request: Request) -> Response:
        grant = self._authorize(request, (SCOPE_CALENDARLIST_RO,), "calendarList.list")
        with self.state.lock:
            items = [self._list_entry(c, grant.email) for c in self.state.calendars.values() if grant.email in c.acl]
        return _json({"kind": "calendar#calendarList", "items": items})

    def on_calendar_list_get(self, request: Request, cal: str) -> Response:
        grant = self._authorize(request, (SCOPE_CALENDARLIST_RO,), "calendarList.get")
        with self.state.lock:
            calendar = self._calendar(cal, grant, write=False)
            return _json(self._list_entry(calendar, grant.email))

    # -- OAuth ------------------------------------------------------------------------------
    def _client(self, request: Request) -> tuple[str, dict[str, Any]]:
        client_id = request.form.get("client_id", "")
        secret = request.form.get("client_secret", "")
        if request.authorization and request.authorization.type == "basic":
            client_id, secret = request.authorization.username or "", request.authorization.password or ""
        client = self.state.clients.get(client_id)
        if client is None or not secrets.compare_digest(client["secret"], secret):
            raise _OAuthError(401, "invalid_client", "The OAuth client was not found.")
        return client_id, client

    def on_oauth_auth(self, request: Request) -> Response:
        args = request.args
        client = self.state.clients.get(args.get("client_id", ""))
        redirect_uri = args.get("redirect_uri", "")
        if client is None or redirect_uri not in client["redirect_uris"]:
            return _page("Erro 400: redirect_uri_mismatch", "<p>The redirect URI is not registered.</p>", 400)
        problems = []
        if args.get("response_type") != "code":
            problems.append("response_type must be code")
        if args.get("code_challenge_method") != "S256" or len(args.get("code_challenge", "")) < 43:
            problems.append("PKCE S256 code_challenge required")
        if not args.get("scope"):
            problems.append("scope required")
        if problems:
            return _page("Erro 400: invalid_request", "".join(f"<p>{html.escape(p)}</p>" for p in problems), 400)
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in args.items())
        with self.state.lock:
            users = list(self.state.users)
        options = "".join(
            f'<p><label><input type="radio" name="login" value="{html.escape(u)}"{" checked" if i == 0 else ""}>'
            f" {html.escape(u)}</label></p>" for i, u in enumerate(users))
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in args.get("scope", "").split())
        # Google's consent screen shows the privacy policy link registered on the app's branding.
        policy = client.get("privacy_policy_uri")
        notice = (f'<p id="app-policy">Before using this app, you can review {html.escape(client.get("name", "its"))}'
                  f'&#39;s <a href="{html.escape(policy)}" id="app-privacy-policy">privacy policy</a>.</p>'
                  if policy else "")
        body = (f'<form method="post" action="/o/oauth2/approve">{hidden}<h2>Choose an account</h2>{options}'
                f"<p>The application asks for:</p><ul>{scopes}</ul>{notice}"
                '<button name="decision" value="allow" id="allow">Allow</button> '
                '<button name="decision" value="deny" id="deny">Cancel</button></form>')
        return _page("Sign in – Google Accounts (stand-in)", body)

    def on_oauth_approve(self, request: Request) -> Response:
        form = request.form
        client = self.state.clients.get(form.get("client_id", ""))
        redirect_uri = form.get("redirect_uri", "")
        if client is None or redirect_uri not in client["redirect_uris"]:
            return _page("Erro 400: redirect_uri_mismatch", "", 400)
        state = form.get("state")
        if form.get("decision") != "allow":
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        email = form.get("login", "")
        if email not in self.state.users:
            return _page("Erro 400", "<p>Unknown account.</p>", 400)
        code = "4/code-" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.issued_codes.append(code)
            self.state.codes[code] = {
                "email": email, "client_id": form["client_id"], "redirect_uri": redirect_uri,
                "scopes": tuple(form.get("scope", "").split()), "challenge": form.get("code_challenge", ""),
                "offline": form.get("access_type") == "offline", "consent": form.get("prompt") == "consent",
                "expires": time.time() + 600,
            }
        return _redirect(redirect_uri, {"code": code, "state": state, "scope": form.get("scope", "")})

    def on_oauth_token(self, request: Request) -> Response:
        try:
            client_id, _ = self._client(request)
            grant_type = request.form.get("grant_type")
            with self.state.lock:
                email = self._token_email(request)
                self.state.count("oauth.token", user=email)
            self._inject("oauth.token", email)
            if grant_type == "authorization_code":
                return self._exchange_code(request, client_id)
            if grant_type == "refresh_token":
                return self._refresh(request, client_id)
            raise _OAuthError(400, "unsupported_grant_type", "Invalid grant_type.")
        except _OAuthError as err:
            return _json({"error": err.error, "error_description": err.description}, err.status)
        except ApiError as err:
            return _json({"error": "internal_failure", "error_description": err.message}, err.code, err.headers)

    def _token_email(self, request: Request) -> str | None:
        """Whose token a token request asks for, when it says (a known code or refresh token)."""
        if request.form.get("grant_type") == "refresh_token":
            grant = self.state.grants.get(request.form.get("refresh_token", ""))
            return grant.email if grant else None
        entry = self.state.codes.get(request.form.get("code", ""))
        return str(entry["email"]) if entry else None

    def _exchange_code(self, request: Request, client_id: str) -> Response:
        form = request.form
        with self.state.lock:
            entry = self.state.codes.pop(form.get("code", ""), None)
        if entry is None or entry["expires"] < time.time() or entry["client_id"] != client_id:
            raise _OAuthError(400, "invalid_grant", "Malformed auth code.")
        if form.get("redirect_uri") != entry["redirect_uri"]:
            raise _OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or not secrets.compare_digest(computed, entry["challenge"]):
            raise _OAuthError(400, "invalid_grant", "Invalid code verifier.")
        out: dict[str, Any] = {}
        if entry["offline"] and not self.state.withhold_refresh_tokens:
            out["refresh_token"] = self.state.issue_grant(entry["email"], client_id, entry["scopes"])
            grant = self.state.grants[out["refresh_token"]]
        else:
            grant = Grant("", entry["email"], client_id, entry["scopes"])
        out.update(self._access_token(grant))
        if self.state.omit_scope_in_token_response:
            out.pop("scope")
        return _json(out)

    def _refresh(self, request: Request, client_id: str) -> Response:
        with self.state.lock:
            grant = self.state.grants.get(request.form.get("refresh_token", ""))
            if grant is None or grant.revoked or grant.client_id != client_id:
                raise _OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            return _json(self._access_token(grant))

    def _access_token(self, grant: Grant) -> dict[str, Any]:
        token = "ya29.at-" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.access[token] = (grant, time.time() + ACCESS_TOKEN_SECONDS)
            self.state.issued_access_tokens.append(token)
        return {"access_token": token, "expires_in": ACCESS_TOKEN_SECONDS, "scope": " ".join(grant.scopes),
                "token_type": "Bearer"}

    def on_oauth_revoke(self, request: Request) -> Response:
        """As Google: revoking any token removes the app's whole grant for that user."""
        token = request.values.get("token", "")
        with self.state.lock:
            grant = self.state.grants.get(token) or (self.state.access.get(token) or (None,))[0]
            self.state.count("oauth.revoke", user=grant.email if grant else None)
            if grant is None or grant.revoked:
                return _json({"error": "invalid_token", "error_description": "Token expired or revoked"}, 400)
            for other in self.state.grants.values():
                if other.email == grant.email and other.client_id == grant.client_id:
                    other.revoked = True
            self.state.access = {k: v for k, v in self.state.access.items()
                                 if not (v[0].email == grant.email and v[0].client_id == grant.client_id)}
        return _json({})

    # -- admin ------------------------------------------------------------------------------
    def on_admin_users(self, request: Request) -> Response:
        spec = request.get_json()
        self.state.add_user(spec["email"], spec.get("name", ""), spec.get("calendars"))
        return _json({"email": spec["email"]})

    def on_admin_grants(self, request: Request) -> Response:
        spec = request.get_json()
        scopes = tuple(spec.get("scopes") or (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO))
        return _json({"refresh_token": self.state.issue_grant(spec["email"], spec["client_id"], scopes)})

    def on_admin_revoke(self, request: Request) -> Response:
        return _json({"revoked": self.state.revoke_user(request.get_json()["email"])})

    def on_admin_faults(self, request: Request) -> Response:
        with self.state.lock:
            if request.method == "DELETE":
                self.state.faults.clear()
                return _json({"faults": 0})
            spec = request.get_json()
            self.state.faults.append(Fault(
                status=int(spec.get("status", 503)), reason=spec.get("reason", "backendError"),
                methods=tuple(spec.get("methods", ())), count=spec.get("count"), rate=spec.get("rate"),
                delay=float(spec.get("delay", 0)), retry_after=spec.get("retry_after"),
                users=tuple(spec.get("users", ())), applied=bool(spec.get("applied", False))))
            return _json({"faults": len(self.state.faults)})

    def on_admin_rate_limit(self, request: Request) -> Response:
        with self.state.lock:
            spec = request.get_json()
            self.state.rate_limit_per_minute = spec.get("per_user_per_minute")
            self.state.rate_limit_window = float(spec.get("window_seconds", 60))
            self.state.user_calls.clear()
        return _json({"per_user_per_minute": self.state.rate_limit_per_minute})

    def on_admin_usage_limits(self, request: Request) -> Response:
        """POST ``{"email", "seconds"?, "until"?}`` puts a user over Calendar's usage limits (for
        ``seconds``, until the epoch time ``until``, or until lifted); DELETE (``?email=``, or every
        user) lifts it; GET lists who is limited and until when (``null``: until lifted)."""
        with self.state.lock:
            if request.method == "POST":
                spec = _admin_spec(request)
                if not isinstance(spec.get("email"), str):
                    raise ApiError(400, "invalid", "email is required")
                try:
                    self.state.limit_usage(spec["email"], spec.get("seconds"), spec.get("until"))
                except (TypeError, ValueError) as err:
                    raise ApiError(400, "invalid", str(err)) from None
            elif request.method == "DELETE":
                self.state.lift_usage_limit(request.args.get("email"))
            return _json({"limited": self.state.usage.listing()})

    def on_admin_conferences(self, request: Request) -> Response:
        """POST ``{"calendar_id"?, "allowed"?, "creation"?, "outcome"?, "after_reads"?,
        "after_seconds"?, "phone"?}`` changes how conferences are created on a calendar (without
        ``calendar_id``: the default of every calendar); GET shows the policies and what is pending."""
        with self.state.lock:
            if request.method == "POST":
                spec = _admin_spec(request)
                calendar_id = spec.pop("calendar_id", None)
                try:
                    self.state.configure_conferences(calendar_id, **spec)
                except (TypeError, ValueError) as err:
                    raise ApiError(400, "invalid", str(err)) from None
            return _json(self.state.meet.describe())

    def on_admin_conferences_settle(self, request: Request) -> Response:
        """POST ``{"calendar_id"?, "event_id"?, "outcome"?}``: pending conferences settle now
        (``success`` / ``failure``; by default their policy's outcome). Answers ``{"settled": n}``."""
        spec = _admin_spec(request)
        try:
            n = self.state.settle_conferences(spec.get("calendar_id"), spec.get("event_id"), spec.get("outcome"))
        except ValueError as err:
            raise ApiError(400, "invalid", str(err)) from None
        return _json({"settled": n})

    def on_admin_mail(self, request: Request) -> Response:
        """GET (``?to=``, ``?event_id=``, ``?calendar_id=``): the guest mails sent, oldest first, and
        their counts per guest and kind; DELETE empties the log."""
        with self.state.lock:
            if request.method == "DELETE":
                self.state.reset_mails()
            args = request.args
            return _json({"items": self.state.mails(args.get("to"), args.get("event_id"), args.get("calendar_id")),
                          "counts": self.state.mail_counts(args.get("to"), args.get("event_id"))})

    def on_admin_mail_domains(self, request: Request) -> Response:
        """POST ``{"domains": [...]}``: exactly these domains use Google Calendar (``externalOnly``
        mails everyone else); GET shows them."""
        with self.state.lock:
            if request.method == "POST":
                domains = _admin_spec(request).get("domains")
                if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
                    raise ApiError(400, "invalid", "domains: a list of domain names")
                self.state.set_google_domains(domains)
            return _json({"domains": sorted(self.state.mail.google_domains),
                          "users": sorted(self.state.mail.google_users)})

    def on_admin_stats(self, request: Request) -> Response:
        """GET: the counts, overall or ``?user=`` (a Google account's email) or ``?calendar=``;
        DELETE: every count back to zero."""
        if request.method == "DELETE":
            self.state.clear_stats()
        return _json({"calls": dict(self.state.stats(request.args.get("user"), request.args.get("calendar")))})

    def on_admin_events(self, request: Request, cal: str) -> Response:
        return _json({"items": self.state.events_of(cal, include_cancelled=request.args.get("showDeleted") == "true")})

    def on_admin_event(self, request: Request, cal: str, eid: str) -> Response:
        """The user edits (PATCH: the fields given replace the event's) or deletes an event by hand
        in Google Calendar: not through our client, but like any change, a new etag and a ping.
        ``?sendUpdates=all|externalOnly`` plays the user answering "Send" to Calendar's "notify
        guests?" (mails logged as ``ui.edit`` / ``ui.delete``); by default nobody is mailed."""
        if request.args.get("sendUpdates", "none") not in ("all", "externalOnly", "none"):
            raise ApiError(400, "invalidParameter", "sendUpdates: invalid value")
        with self.state.lock:
            calendar = self.state.calendars.get(cal)
            event = calendar.events.get(eid) if calendar else None
            if calendar is None or event is None:
                raise ApiError(404, "notFound", "Not Found")
            before = copy.deepcopy(event)
            if request.method == "DELETE":
                event["status"] = "cancelled"
            else:
                fields = request.get_json()
                if not isinstance(fields, dict):
                    raise ApiError(400, "parseError", "Parse Error")
                merged = {**event, **fields}
                _check_event_semantics(merged)
                event.clear()
                event.update(merged, sequence=merged.get("sequence", 0) + 1)
            event.update(etag=self.state.next_etag(), updated=_rfc3339(_now()))
            self.state.changed(calendar, eid)
            self._mail(request, "ui.delete" if request.method == "DELETE" else "ui.edit", calendar, before, event)
            return _json(event)

    def on_admin_sync_tokens(self, request: Request, cal: str) -> Response:
        """Expire every sync token of a calendar: the next incremental listing gets a 410."""
        with self.state.lock:
            calendar = self.state.calendars.get(cal)
            if calendar is None:
                raise ApiError(404, "notFound", "Not Found")
            calendar.token_epoch += 1
        return Response(status=204)

    def on_admin_channels(self, request: Request) -> Response:
        with self.state.lock:
            return _json({"items": [{"id": c.id, "resourceId": c.resource_id, "calendarId": c.calendar_id,
                                     "address": c.address, "expiration": c.expiration_ms, "stopped": c.stopped,
                                     "messages": c.messages} for c in self.state.channels.values()]})

    def on_admin_pings(self, request: Request) -> Response:
        """Switch pings off (a lost notification, a channel Google stopped) or on again."""
        with self.state.lock:
            self.state.pings_enabled = bool((request.get_json() or {}).get("enabled", True))
            return _json({"enabled": self.state.pings_enabled})

    def on_admin_calendar(self, request: Request, cal: str) -> Response:
        """The user deletes a whole secondary calendar."""
        with self.state.lock:
            self.state.calendars.pop(cal, None)
        return Response(status=204)


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status, self.error, self.description = status, error, description


LIMITS = {"summary": 1024, "location": 1024, "description": 8192}  # UTF-16 code units


def _check_event_semantics(body: dict[str, Any]) -> None:
    """The rules Google enforces beyond the schema, with its reasons."""
    for field_name, limit in LIMITS.items():
        if len(str(body.get(field_name) or "").encode("utf-16-le")) // 2 > limit:
            raise ApiError(400, "invalid", f"The {field_name} is too long.")
    eid = body.get("id")
    if eid is not None and not EVENT_ID.match(eid):
        raise ApiError(400, "invalid", "Invalid resource id value.")
    for side in ("start", "end"):
        t = body.get(side)
        if not t:
            raise ApiError(400, "required", f"Missing {side} time.")
        if ("date" in t) == ("dateTime" in t):
            raise ApiError(400, "invalid", f"{side}: exactly one of date and dateTime.")
        zone = t.get("timeZone")
        if zone is not None and zone not in _zones():
            raise ApiError(400, "timeZoneInvalid", f"Invalid time zone definition for {side} time.")
        if "dateTime" in t and zone is None and not re.search(r"([Zz]|[+-]\d{2}:\d{2})$", t["dateTime"]):
            raise ApiError(400, "required", f"Missing time zone definition for {side} time.")
        if body.get("recurrence") and "dateTime" in t and zone is None:
            raise ApiError(400, "required", f"Missing time zone definition for {side} time.")
    start, end = _instant(body["start"]), _instant(body["end"])
    if ("date" in body["start"]) != ("date" in body["end"]):
        raise ApiError(400, "invalid", "Start and end times must either both be date or both be dateTime.")
    if end < start:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    for line in body.get("recurrence") or []:
        if not re.match(r"^(RRULE|EXRULE|RDATE|EXDATE)[:;]", line):
            raise ApiError(400, "invalid", "Invalid recurrence rule.")
    reminders = body.get("reminders") or {}
    overrides = reminders.get("overrides") or []
    if reminders.get("useDefault") and overrides:
        raise ApiError(400, "cannotUseDefaultRemindersAndSpecifyOverride",
                       "Cannot specify both default reminders and overrides at the same time.")
    if len(overrides) > 5:
        raise ApiError(400, "tooManyReminders", "Too many reminders.")
    for o in overrides:
        if o.get("method") not in ("email", "popup") or not 0 <= o.get("minutes", -1) <= 40320:
            raise ApiError(400, "invalid", "Invalid reminder.")
    for a in body.get("attendees") or []:
        if not a.get("email") or "@" not in a["email"]:
            raise ApiError(400, "invalid", "Invalid attendee email.")
    if body.get("status") not in (None, "confirmed", "tentative", "cancelled"):
        raise ApiError(400, "invalid", "Invalid status.")
    _check_presentation(body)
    source = body.get("source")
    if source is not None and not re.match(r"^https?://", source.get("url", "")):
        raise ApiError(400, "invalid", "Invalid source url.")
    for scope in ("private", "shared"):
        for key, value in ((body.get("extendedProperties") or {}).get(scope) or {}).items():
            if len(key) > 44 or len(value) > 1024:
                raise ApiError(400, "invalid", "Extended property too long.")


# What the discovery document only describes in prose (no enum there): the values Google takes.
PRESENTATION = {
    "colorId": tuple(str(n) for n in range(1, 12)),  # the "event" section of colors.get: "1" … "11"
    "transparency": ("opaque", "transparent"),
    "visibility": ("default", "public", "private", "confidential"),
}


def _check_presentation(body: dict[str, Any]) -> None:
    """``colorId``, ``transparency`` and ``visibility`` outside their values are a 400 ``invalid``
    ("Invalid Value", as Google answers an unknown colour id)."""
    for name, values in PRESENTATION.items():
        if body.get(name) is not None and body[name] not in values:
            raise ApiError(400, "invalid", "Invalid Value")


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


_ZONES: frozenset[str] | None = None


def _instant(t: dict[str, Any]) -> datetime:
    if "date" in t:
        return datetime.fromisoformat(t["date"]).replace(tzinfo=timezone.utc)
    text = t["dateTime"].replace("Z", "+00:00").replace("z", "+00:00")
    text = re.sub(r"\.(\d{6})\d+", r".\1", text)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(t["timeZone"]))
    # In UTC: an aware time inside a DST gap or fold never compares equal across zones (PEP 495).
    return dt.astimezone(timezone.utc)


def _json_body(request: Request) -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiError(400, "parseError", "This API does not support parsing form-encoded input.")
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        raise ApiError(400, "parseError", "Parse Error") from None
    if not isinstance(body, dict):
        raise ApiError(400, "parseError", "Parse Error")
    return body


def _conference_version(request: Request) -> int:
    """The write's ``conferenceDataVersion`` (0 unless given; its range is checked with the query)."""
    return int(request.args.get("conferenceDataVersion") or 0)


def _admin_spec(request: Request) -> dict[str, Any]:
    """An admin route's JSON object (empty when no body); anything else is a 400."""
    spec = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(spec, dict):
        raise ApiError(400, "parseError", "expected a JSON object")
    return spec


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_token(token: str | None, name: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise ApiError(400, "invalid", f"Invalid {name} value.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid", f"Invalid {name} value.")
    return value


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers, mimetype="application/json")


def _api_error(err: ApiError) -> Response:
    return _json({"error": {"code": err.code, "message": err.message,
                            "errors": [{"domain": err.domain, "reason": err.reason, "message": err.message}]}},
                 err.code, err.headers)


def _redirect(uri: str, params: dict[str, Any]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Response(status=302, headers={"Location": uri + ("&" if "?" in uri else "?") + query})


def _page(title: str, body: str, status: int = 200) -> Response:
    text = (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{html.escape(title)}</title><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Response(text, status=status, mimetype="text/html")


class Server(BackgroundServer):
    """The stand-in on a loopback port, served from a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: State | None = None) -> None:
        super().__init__(StandIn(state), "standin", host, port)

    @property
    def state(self) -> State:
        return self.app.state  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--client-id", default="local-client")
    parser.add_argument("--client-secret", default="local-secret")
    parser.add_argument("--redirect-uri", action="append", default=[])
    args = parser.parse_args()
    state = State({args.client_id: {"secret": args.client_secret, "redirect_uris": args.redirect_uri}})
    server = Server(port=args.port, state=state)
    print(f"stand-in listening on {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
