"""The stand-in's drift surface (sync tokens, push channels, hand edits) through the real client,
as strictly as Google: what the drift check (sync/drift) relies on."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from googleapiclient.errors import HttpError

from sync.kernel.errors import CalendarUnavailable, Permanent, SyncTokenExpired
from tests.helpers import wait_for
from tests.integration.test_calendar_adapter import EMAIL, body, session, standin  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


class Receiver:
    """An HTTP endpoint that records the pings it gets."""

    def __init__(self):
        self.pings: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                outer.pings.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/google/notifications"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def states(self):
        return [p["x-goog-resource-state"] for p in self.pings]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()


def listing(session, sync_token=None):  # noqa: F811
    items, page = [], None
    while True:
        out = session.list_events(EMAIL, sync_token, page)
        items += out["items"]
        page = out.get("nextPageToken")
        if not page:
            assert "nextSyncToken" in out
            return items, out["nextSyncToken"]


def test_sync_tokens_list_only_what_changed_deletions_included(session, standin):  # noqa: F811
    for i in range(3):
        session.insert(EMAIL, body(event_id=f"e{i}"), send_updates="none")
    items, token = listing(session)
    assert len(items) == 3
    again, token2 = listing(session, token)
    assert again == []
    b = body(event_id="e1")
    etag = session.update(EMAIL, b["id"], {**b, "summary": "Novo"}, send_updates="none")
    session.delete(EMAIL, body(event_id="e2")["id"], send_updates="none")
    changed, token3 = listing(session, token2)
    assert {e["id"]: e["status"] for e in changed} == {b["id"]: "confirmed", body(event_id="e2")["id"]: "cancelled"}
    assert [e["etag"] for e in changed if e["id"] == b["id"]] == [etag]  # the etag our write returned


def test_listing_pages_through_everything(session, standin, monkeypatch):  # noqa: F811
    from sync.adapters import calendar_api

    monkeypatch.setattr(calendar_api, "LIST_PAGE_SIZE", 2)
    for i in range(5):
        session.insert(EMAIL, body(event_id=f"p{i}"), send_updates="none")
    items, token = listing(session)
    assert len({e["id"] for e in items}) == 5
    assert standin.state.calls["events.list"] == 3


def test_an_expired_sync_token_is_a_410_and_refused_parameters_a_400(session, standin):  # noqa: F811
    session.insert(EMAIL, body(), send_updates="none")
    _, token = listing(session)
    r = requests.delete(f"{standin.url}_admin/calendars/{EMAIL}/sync_tokens", timeout=5)
    assert r.status_code == 204
    with pytest.raises(SyncTokenExpired):
        session.list_events(EMAIL, token, None)
    for extra in ({"privateExtendedProperty": "sync_source=evolutto"}, {"timeMin": "2026-01-01T00:00:00Z"},
                  {"q": "x"}, {"orderBy": "updated"}, {"updatedMin": "2026-01-01T00:00:00Z"}, {"showDeleted": False}):
        request = session.owner.service.events().list(calendarId=EMAIL, syncToken=token, **extra)
        with pytest.raises(HttpError) as refused:
            request.execute(http=_http(session))
        assert refused.value.resp.status == 400, extra


def _http(session):  # noqa: F811
    import google_auth_httplib2
    import httplib2

    return google_auth_httplib2.AuthorizedHttp(session.creds, http=httplib2.Http(timeout=5))


def test_watch_pings_every_change_with_googles_headers_and_stop_ends_them(session, standin, receiver):  # noqa: F811
    answer = session.watch(EMAIL, "chan-1", receiver.url, "secret-token", 3600)
    assert answer["id"] == "chan-1" and answer["resourceId"]
    assert int(answer["expiration"]) > (time.time() + 3500) * 1000
    wait_for(lambda: receiver.states() == ["sync"], what="the sync ping")
    b = body()
    session.insert(EMAIL, b, send_updates="none")
    requests.patch(f"{standin.url}_admin/calendars/{EMAIL}/events/{b['id']}", json={"summary": "à mão"}, timeout=5)
    requests.delete(f"{standin.url}_admin/calendars/{EMAIL}/events/{b['id']}", timeout=5)
    wait_for(lambda: len(receiver.pings) == 4, what="a ping per change")
    last = max(receiver.pings, key=lambda p: int(p["x-goog-message-number"]))
    assert last["x-goog-channel-id"] == "chan-1" and last["x-goog-channel-token"] == "secret-token"
    assert last["x-goog-resource-id"] == answer["resourceId"] and last["x-goog-resource-state"] == "exists"
    assert last["x-goog-message-number"] == "4" and "GMT" in last["x-goog-channel-expiration"]
    assert EMAIL.replace("@", "%40") in last["x-goog-resource-uri"]
    session.stop_channel("chan-1", answer["resourceId"])
    session.stop_channel("chan-1", answer["resourceId"])  # stopping twice is done
    session.insert(EMAIL, body(event_id="after-stop"), send_updates="none")
    time.sleep(0.5)
    assert len(receiver.pings) == 4
    assert standin.state.calls["events.watch"] == 1 and standin.state.calls["channels.stop"] == 2


def test_a_hand_edit_changes_the_etag_and_the_content(session, standin):  # noqa: F811
    b = body()
    etag = session.insert(EMAIL, b, send_updates="none")
    edited = requests.patch(f"{standin.url}_admin/calendars/{EMAIL}/events/{b['id']}",
                            json={"summary": "Mudado à mão"}, timeout=5).json()
    assert edited["etag"] != etag and edited["summary"] == "Mudado à mão"
    deleted = requests.delete(f"{standin.url}_admin/calendars/{EMAIL}/events/{b['id']}", timeout=5).json()
    assert deleted["status"] == "cancelled" and deleted["etag"] not in (etag, edited["etag"])
    restored = session.update(EMAIL, b["id"], b, send_updates="none")  # one call brings it back
    assert standin.state.events_of(EMAIL)[0]["status"] == "confirmed"
    assert standin.state.events_of(EMAIL)[0]["etag"] == restored


def test_watch_is_as_strict_as_google(session, standin, receiver):  # noqa: F811
    with pytest.raises(Permanent):
        session.watch(EMAIL, "chan-x", "http://example.com/hook", "t", 60)  # not https
    with pytest.raises(Permanent):
        session.watch(EMAIL, "bad id!", receiver.url, "t", 60)
    session.watch(EMAIL, "chan-y", receiver.url, "t", 60)
    with pytest.raises(Permanent):
        session.watch(EMAIL, "chan-y", receiver.url, "t", 60)  # ids are unique
    with pytest.raises(CalendarUnavailable):
        session.watch("nobody@example.com", "chan-z", receiver.url, "t", 60)
