"""The stand-in driven by the real google-api-python-client, with nothing of the service in between:
the shared fixtures of the ``test_standin_*`` modules."""

from __future__ import annotations

import secrets
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from google.oauth2.credentials import Credentials

from local.standin import SCOPE_CALENDARLIST_RO, SCOPE_EVENTS, Server, State
from sync.adapters.calendar_api import build_service

CLIENT, SECRET = "client-1", "secret-1"
OWNER = "consultora@consultoria.example"  # a Google user of the stand-in (her domain uses Google Calendar)
ROOMLESS = "sem-meet@group.calendar.example"  # a secondary calendar of hers


class Client:
    """One user's Calendar, as an app holding her refresh token calls it."""

    def __init__(self, server: Server, email: str) -> None:
        token = server.state.issue_grant(email, CLIENT, (SCOPE_EVENTS, SCOPE_CALENDARLIST_RO))
        self.creds = Credentials(None, refresh_token=token, token_uri=server.url + "token", client_id=CLIENT,
                                 client_secret=SECRET)
        self.service = build_service(server.url + "calendar/v3/")

    def __call__(self, request: Any) -> Any:
        return request.execute(http=google_auth_httplib2.AuthorizedHttp(self.creds, http=httplib2.Http(timeout=5)))

    def events(self) -> Any:
        return self.service.events()

    def insert(self, body: dict[str, Any], calendar_id: str = OWNER, **params: Any) -> dict[str, Any]:
        return self(self.events().insert(calendarId=calendar_id, body=body, **params))  # type: ignore[no-any-return]

    def update(self, body: dict[str, Any], calendar_id: str = OWNER, **params: Any) -> dict[str, Any]:
        return self(self.events().update(calendarId=calendar_id, eventId=body["id"], body=body,  # type: ignore[no-any-return]
                                         **params))

    def patch(self, event_id: str, body: dict[str, Any], calendar_id: str = OWNER, **params: Any) -> dict[str, Any]:
        return self(self.events().patch(calendarId=calendar_id, eventId=event_id, body=body,  # type: ignore[no-any-return]
                                        **params))

    def get(self, event_id: str, calendar_id: str = OWNER) -> dict[str, Any]:
        return self(self.events().get(calendarId=calendar_id, eventId=event_id))  # type: ignore[no-any-return]

    def delete(self, event_id: str, calendar_id: str = OWNER, **params: Any) -> None:
        self(self.events().delete(calendarId=calendar_id, eventId=event_id, **params))


def event(**fields: Any) -> dict[str, Any]:
    """A valid timed event with a fresh base32hex id."""
    return {"id": "ev" + secrets.token_hex(8), "summary": "Sessão de diagnóstico",
            "start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "America/Sao_Paulo"},
            "end": {"dateTime": "2026-12-01T11:00:00", "timeZone": "America/Sao_Paulo"}, **fields}


@pytest.fixture
def standin():
    server = Server(state=State({CLIENT: {"secret": SECRET, "redirect_uris": []}})).start()
    server.state.add_user(OWNER, calendars=[{"id": ROOMLESS, "summary": "Sem Meet"}])
    yield server
    server.stop()


@pytest.fixture
def client(standin):
    return Client(standin, OWNER)
