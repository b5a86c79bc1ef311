"""The Calendars port on google-api-python-client, with each user's OAuth credentials.

The discovery document is the one shipped with the library (no network at start), the
service object is built once per instance, and every call gets its own authorised HTTP
object (httplib2 is not thread-safe). Credentials are cached per token reference so the
steady state costs exactly one HTTP request per change.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from sync.kernel.errors import (
    AuthRevoked,
    CalendarConflict,
    CalendarNotFound,
    CalendarUnavailable,
    ConferenceRefused,
    EtagMismatch,
    NoAnswer,
    Permanent,
    RateLimited,
    Retryable,
    SyncTokenExpired,
    UsageLimited,
)
from sync.kernel.model import SCOPES, SYNC_SOURCE, Connection
from sync.kernel.ports import TokenVault

RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded"}
# Calendar's usage limits (read-only for hours), not the API's quota (docs/errors-and-limits.md#usage-limits).
USAGE_LIMIT_REASONS = {"quotaExceeded"}
NO_ACCESS_REASONS = {"requiredAccessLevel", "forbidden", "notACalendarUser"}
_CACHE_SIZE = 1024
LIST_PAGE_SIZE = 2500  # Calendar's largest page: a drift check of 2,500 events is one call
SEND_UPDATES = ("all", "externalOnly", "none")  # Calendar's sendUpdates values (docs/guests.md)
LIST_FIELDS = ("nextPageToken,nextSyncToken,items(id,etag,status,summary,description,location,start,end,"
               "recurrence,attendees,reminders,source,transparency,visibility,colorId,conferenceData,"
               "extendedProperties)")  # conferenceData: a restore mails only over a change guests see
# One event read back: what a conditional rewrite needs (its etag) and what the mail decision
# compares with (what guests see now, and the version it holds): the same single call.
GET_FIELDS = ("id,etag,status,summary,description,location,start,end,recurrence,attendees,reminders,source,"
              "extendedProperties,conferenceData,hangoutLink,colorId,transparency,visibility")


def build_service(endpoint: str) -> Any:
    """The Calendar v3 resource from the bundled discovery document, at ``endpoint``."""
    return discovery.build(
        "calendar", "v3", static_discovery=True, cache_discovery=False,
        client_options={"api_endpoint": endpoint}, http=httplib2.Http(),
    )


def error_reason(err: HttpError) -> str:
    try:
        payload = json.loads(err.content.decode("utf-8"))
        errors = payload.get("error", {}).get("errors") or [{}]
        return str(errors[0].get("reason") or payload.get("error", {}).get("status") or "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""


def error_message(err: HttpError) -> str:
    try:
        return str(json.loads(err.content.decode("utf-8")).get("error", {}).get("message") or "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""


CONFERENCE_REFUSED = "Invalid conference type value."  # the calendar cannot host the conference type asked for


def translate_http_error(err: HttpError) -> Exception:
    """Calendar's answer → the service's error hierarchy (docs/webhooks.md#after-the-202)."""
    status = int(err.resp.status)
    reason = error_reason(err)
    if status == 400 and error_message(err) == CONFERENCE_REFUSED:
        return ConferenceRefused(f"calendar 400 {reason} conference type".strip())
    if status == 409:
        return CalendarConflict("calendar answered 409")
    if status in (404, 410):
        return CalendarNotFound(status)
    if status == 403 and reason in USAGE_LIMIT_REASONS:
        return UsageLimited(f"calendar {status} {reason}")
    if status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS):
        retry_after = err.resp.get("retry-after")
        kind = Retryable if status >= 500 else RateLimited
        return kind(f"calendar {status} {reason}".strip(),
                    retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None)
    if status == 401 or (status == 403 and reason == "insufficientPermissions"):
        return AuthRevoked(f"calendar {status} {reason}".strip())
    if status == 403 and reason in NO_ACCESS_REASONS:
        return CalendarUnavailable(f"calendar {status} {reason}")
    if status == 412:
        return EtagMismatch("calendar 412 precondition failed")
    return Permanent(f"calendar {status} {reason}".strip())


def translate_refresh_error(err: google.auth.exceptions.RefreshError) -> Exception:
    details = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], dict) else {}
    if details.get("error") == "invalid_grant" or "invalid_grant" in str(err.args[0] if err.args else ""):
        return AuthRevoked("oauth invalid_grant")
    return Retryable("oauth refresh failed")


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, Credentials] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, make: Callable[[], Credentials]) -> Credentials:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value

    def drop(self, key: str) -> None:
        with self.lock:
            self.items.pop(key, None)


def _etag(response: Any) -> str | None:
    etag = response.get("etag") if isinstance(response, dict) else None
    return etag if isinstance(etag, str) else None


def _answered(response: Any, answer: dict[str, Any] | None) -> str | None:
    """The etag of a write's answer; the whole answer into ``answer`` when the caller asked for it."""
    if answer is not None and isinstance(response, dict):
        answer.clear()
        answer.update(response)
    return _etag(response)


def _conference_version(version: int) -> dict[str, int]:
    """``conferenceDataVersion`` as a query parameter: left out when 0 (Calendar's default)."""
    return {"conferenceDataVersion": version} if version else {}


def _send_updates(value: str) -> str:
    """Calendar's ``sendUpdates`` for one write, as the caller chose it: never a default here."""
    if value not in SEND_UPDATES:
        raise ValueError(f"send_updates must be one of {', '.join(SEND_UPDATES)}")
    return value


def _conditional(request: Any, if_match: str | None) -> Any:
    """The request made only over the event's version ``if_match`` (Calendar answers 412 else)."""
    if if_match is not None:
        request.headers["If-Match"] = if_match
    return request


class GoogleCalendars:
    def __init__(self, endpoint: str, token_uri: str, client_id: str, client_secret: str,
                 vault: TokenVault, timeout: float = 20.0) -> None:
        self.service = build_service(endpoint)
        self.token_uri = token_uri
        self.client_id = client_id
        self.client_secret = client_secret
        self.vault = vault
        self.timeout = timeout
        self._credentials = _LRU(_CACHE_SIZE)

    def session(self, connection: Connection) -> GoogleCalendarSession:
        if not connection.token_ref:
            raise AuthRevoked("connection has no token")
        return self.session_for_ref(connection.token_ref)

    def session_for_ref(self, ref: str, access_token: str | None = None) -> GoogleCalendarSession:
        """Calendar as the grant stored at ``ref`` (credentials cached per reference)."""
        creds = self._credentials.get(ref, lambda: self._make_credentials(ref, access_token))
        return GoogleCalendarSession(self, creds, on_revoked=lambda: self._credentials.drop(ref))

    def _make_credentials(self, ref: str, access_token: str | None = None) -> Credentials:
        return Credentials(
            token=access_token,
            refresh_token=self.vault.read_refresh_token(ref),
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=list(SCOPES),
        )


class GoogleCalendarSession:
    def __init__(self, owner: GoogleCalendars, creds: Credentials, on_revoked: Callable[[], None]) -> None:
        self.owner = owner
        self.creds = creds
        self.on_revoked = on_revoked

    def _execute(self, request: Any) -> Any:
        http = google_auth_httplib2.AuthorizedHttp(self.creds, http=httplib2.Http(timeout=self.owner.timeout))
        try:
            return request.execute(http=http)
        except HttpError as err:
            raise self._revoked(translate_http_error(err)) from err
        except google.auth.exceptions.RefreshError as err:
            raise self._revoked(translate_refresh_error(err)) from err
        except (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, OSError) as err:  # timeouts, resets
            raise NoAnswer(f"calendar transport: {type(err).__name__}") from err

    def _revoked(self, err: Exception) -> Exception:
        if isinstance(err, AuthRevoked):
            self.on_revoked()  # the next delivery re-reads the (perhaps reconnected) token
        return err

    # Every write names its sendUpdates (who Google mails): the writer decides per write
    # (sync/apply/mail_policy.py), the adapter only passes it on.
    def insert(self, calendar_id: str, body: dict[str, Any], *, send_updates: str, conference_data_version: int = 0,
               answer: dict[str, Any] | None = None) -> str | None:
        events = self.owner.service.events()
        try:
            return _answered(self._execute(events.insert(calendarId=calendar_id, body=body,
                                                         sendUpdates=_send_updates(send_updates),
                                                         **_conference_version(conference_data_version))), answer)
        except CalendarNotFound as err:
            raise CalendarUnavailable("calendar not found") from err

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        events = self.owner.service.events()
        return dict(self._execute(events.get(calendarId=calendar_id, eventId=event_id, fields=GET_FIELDS)))

    def get_conference(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        events = self.owner.service.events()
        return dict(self._execute(events.get(calendarId=calendar_id, eventId=event_id,
                                             fields="id,etag,status,conferenceData")))

    def update(self, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None = None, *,
               send_updates: str, conference_data_version: int = 0, answer: dict[str, Any] | None = None) -> str | None:
        events = self.owner.service.events()
        request = events.update(calendarId=calendar_id, eventId=event_id, body=body,
                                sendUpdates=_send_updates(send_updates), **_conference_version(conference_data_version))
        return _answered(self._execute(_conditional(request, if_match)), answer)

    def delete(self, calendar_id: str, event_id: str, send_updates: str,
               if_match: str | None = None) -> None:
        events = self.owner.service.events()
        self._execute(_conditional(events.delete(calendarId=calendar_id, eventId=event_id,
                                                 sendUpdates=_send_updates(send_updates)), if_match))

    def move(self, calendar_id: str, event_id: str, destination: str, *, send_updates: str) -> str | None:
        events = self.owner.service.events()
        return _etag(self._execute(events.move(calendarId=calendar_id, eventId=event_id, destination=destination,
                                               sendUpdates=_send_updates(send_updates))))

    # -- drift repair (docs/drift.md) ---------------------------------------------------------
    def list_events(self, calendar_id: str, sync_token: str | None, page_token: str | None) -> dict[str, Any]:
        """One page of the calendar's events, deleted ones included: everything with no sync
        token, else what changed since it (410 → SyncTokenExpired)."""
        params: dict[str, Any] = {"calendarId": calendar_id, "showDeleted": True, "maxResults": LIST_PAGE_SIZE,
                                  "fields": LIST_FIELDS}
        if sync_token:
            params["syncToken"] = sync_token
        if page_token:
            params["pageToken"] = page_token
        try:
            return dict(self._execute(self.owner.service.events().list(**params)))
        except CalendarNotFound as err:
            if err.status == 410 and sync_token:
                raise SyncTokenExpired("calendar answered 410 to a sync token") from err
            raise CalendarUnavailable("calendar not found") from err

    def list_own(self, calendar_id: str, account_id: str, user_id: str, page_token: str | None) -> dict[str, Any]:
        """One page of the live events this service wrote for (account, user): a disconnect's last
        look before the revoke (extended properties are filterable; no sync token with them)."""
        params: dict[str, Any] = {
            "calendarId": calendar_id, "maxResults": LIST_PAGE_SIZE,
            "fields": "nextPageToken,items(id,status,extendedProperties)",
            "privateExtendedProperty": [f"sync_source={SYNC_SOURCE}", f"source_account_id={account_id}",
                                        f"source_user_id={user_id}"]}
        if page_token:
            params["pageToken"] = page_token
        try:
            return dict(self._execute(self.owner.service.events().list(**params)))
        except CalendarNotFound as err:
            raise CalendarUnavailable("calendar not found") from err

    def watch(self, calendar_id: str, channel_id: str, address: str, token: str, ttl_seconds: int) -> dict[str, Any]:
        """Open a push channel on the calendar's events; Calendar's answer (resourceId, expiration)."""
        body = {"id": channel_id, "type": "web_hook", "address": address, "token": token,
                "params": {"ttl": str(int(ttl_seconds))}}
        try:
            return dict(self._execute(self.owner.service.events().watch(calendarId=calendar_id, body=body)))
        except CalendarNotFound as err:
            raise CalendarUnavailable("calendar not found") from err

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """Stop a push channel; one Calendar no longer knows counts as stopped."""
        try:
            self._execute(self.owner.service.channels().stop(body={"id": channel_id, "resourceId": resource_id}))
        except CalendarNotFound:
            pass

    def writable_calendars(self) -> list[dict[str, Any]]:
        """The account's calendars it may write to, primary first (calendarList: our scope)."""
        items: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._execute(self.owner.service.calendarList().list(
                minAccessRole="writer", pageToken=token, maxResults=250))
            items += [c for c in page.get("items", []) if c.get("accessRole") in ("owner", "writer")]
            token = page.get("nextPageToken")
            if not token:
                break
        return sorted(items, key=lambda c: (not c.get("primary", False), c.get("summary", "").lower()))

    def calendar_entry(self, calendar_id: str) -> dict[str, Any]:
        """One entry of the account's calendar list (``calendarList.get``, never ``calendars.get``)."""
        return dict(self._execute(self.owner.service.calendarList().get(calendarId=calendar_id)))
