"""Notifications (docs/notifications.md): the model, the worker's transitions on fakes, the deliverer."""

import base64
import json
import threading
import time
from datetime import datetime, timezone

import pytest
from functions_framework import create_app
from standardwebhooks.webhooks import Webhook

from local.receiver import Receiver, ReceiverServer
from sync import bootstrap
from sync.apply.service import SyncService
from sync.kernel import notification as notes
from sync.kernel.errors import AuthRevoked, CalendarUnavailable, Permanent, Retryable
from sync.kernel.jobs import Maintenance
from sync.kernel.model import ConnectionStatus
from sync.kernel.payload import parse_change
from sync.notifications import deliver
from tests.fakes import FakeCalendar, FakeOutbox, FakeStore, active_connection
from tests.helpers import new_secret, payload

CAL = "user@example.com"
TITLE = "Reunião secreta 4b1d"


def change(kind="event.created", updated=1, event_id="ev-1", **fields):
    return parse_change(payload(kind, updated=updated, event_id=event_id, title=TITLE, **fields),
                        f"msg-{event_id}-{updated}")


@pytest.fixture
def world():
    store, calendar = FakeStore(), FakeCalendar()
    store.save_connection(active_connection(calendar_id=CAL))
    return store, calendar, SyncService(store, calendar, lease_seconds=60)


# -- the model ---------------------------------------------------------------------------------------
def test_body_per_contract_and_a_stable_id():
    at = datetime(2026, 11, 20, 13, 0, 0, 123000, tzinfo=timezone.utc)
    n = notes.activated("acme", "u-42", "a@example.com", "cal-2", "cal-1", ("t1",), at)
    assert n.to_body() == {"type": "connection.activated", "timestamp": "2026-11-20T13:00:00.123Z",
                           "data": {"account_id": "acme", "user_id": "u-42", "google_email": "a@example.com",
                                    "calendar_id": "cal-2", "previous_calendar_id": "cal-1"}}
    assert n.ordering_key == "acme/u-42" and n.id.startswith("ntf_")
    assert notes.activated("acme", "u-42", "x", "y", None, ("t1",)).id == n.id  # identity, not content
    assert notes.activated("acme", "u-42", "a@example.com", "cal-2", "cal-1", ("t2",)).id != n.id
    assert notes.Notification.from_message(json.loads(json.dumps(n.to_message()))) == n
    with pytest.raises(ValueError):
        notes.Notification.from_message({"schema": 1, "type": "event.created"})


def test_every_type_of_the_contract_has_a_builder():
    made = {notes.activated("a", "u", "e", "c", None, ("1",)).type,
            notes.needs_reauth("a", "u", "e", "oauth invalid_grant", ("1",)).type,
            notes.calendar_unavailable("a", "u", "c", ("1",)).type,
            notes.disconnected("a", "u", 3, ("1",)).type,
            notes.snapshot_completed("a", "u", "s-1", {"created": 1}).type,
            notes.event_failed("a", "u", "ev", "2026-11-20T13:00:00Z", "calendar 400 invalid").type,
            notes.drift_repaired("a", "u", "ev", "edited", ("etag-1",)).type,
            notes.usage_limited("a", "u", datetime(2026, 11, 20, 13, 15, tzinfo=timezone.utc), ("1",)).type,
            notes.resumed("a", "u", "c", ("1",)).type}
    assert made == set(notes.TYPES) and len(notes.TYPES) == 9


# -- the worker's transitions --------------------------------------------------------------------------
class SlowRevokedCalendar(FakeCalendar):
    """Every change in flight meets the revoked grant before any of them has parked."""

    def session(self, connection):
        time.sleep(0.2)
        raise AuthRevoked("invalid_grant")


def test_a_revoked_grant_is_one_needs_reauth_however_many_changes_meet_it(world):
    store, _, _ = world
    service = SyncService(store, SlowRevokedCalendar(), lease_seconds=60)
    threads = [threading.Thread(target=lambda i=i: service.apply(change(event_id=f"ev-{i}"))) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(50, 500):
        service.apply(change(event_id=f"ev-{i}"))
    assert [n.type for n in store.notifications] == ["connection.needs_reauth"]
    n = store.notifications[0]
    assert n.data == {"google_email": "user@example.com", "reason": "invalid_grant"}
    assert store.get_connection("acme-consulting", "u-42").status is ConnectionStatus.NEEDS_REAUTH


def test_the_next_revocation_after_a_reconnect_is_a_new_notification(world):
    store, calendar, service = world
    calendar.faults.append(AuthRevoked("oauth invalid_grant"))
    service.apply(change(event_id="a"))
    store.save_connection(active_connection(calendar_id=CAL))  # reconnected
    calendar.faults.append(AuthRevoked("oauth invalid_grant"))
    service.apply(change(event_id="b"))
    ids = [n.id for n in store.notifications if n.type == "connection.needs_reauth"]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert store.notifications[0].data["reason"] == "oauth invalid_grant"


def test_calendar_gone_is_one_calendar_unavailable(world):
    store, calendar, service = world
    calendar.faults += [CalendarUnavailable("calendar not found"), CalendarUnavailable("calendar not found")]
    service.apply(change(event_id="a"))
    service.apply(change(event_id="b"))
    assert [(n.type, dict(n.data)) for n in store.notifications] == [
        ("connection.calendar_unavailable", {"calendar_id": CAL})]


def test_a_calendar_400_is_event_failed_without_the_title(world):
    store, calendar, service = world
    calendar.faults.append(Permanent("calendar 400 invalid"))
    c = change(event_id="ev-bad", updated=3)
    assert service.apply(c).name == "failed_permanent"
    [n] = store.notifications
    assert (n.type, dict(n.data)) == ("event.failed", {"event_id": "ev-bad", "version": c.version.rfc3339,
                                                      "reason": "calendar 400 invalid"})
    assert TITLE not in json.dumps(n.to_message())
    assert n.id == notes.event_failed("acme-consulting", "u-42", "ev-bad", c.version.rfc3339, "x").id
    # Its redelivery does nothing new, but flushes what a crash may have left in the outbox.
    assert service.apply(c).name == "duplicate" and len(store.notifications) == 1 and store.flushes == 1


def test_successful_changes_stage_nothing_and_flush_nothing(world):
    store, _, service = world
    service.apply(change())
    service.apply(change())  # duplicate of a success
    assert store.notifications == [] and store.flushes == 0



# -- the outbox: staged with the transition, published after it --------------------------------------
def test_a_publish_that_fails_after_the_commit_hands_the_message_back_and_its_redelivery_flushes_it():
    outbox = FakeOutbox()
    store, calendar = FakeStore(outbox), FakeCalendar()
    store.save_connection(active_connection(calendar_id=CAL))
    service = SyncService(store, calendar, lease_seconds=60)
    outbox.publisher.fail = True
    calendar.faults.append(AuthRevoked("invalid_grant"))
    c = change(event_id="a")
    with pytest.raises(Retryable):  # the transition is committed, its notification not yet published
        service.apply(c)
    assert store.get_connection("acme-consulting", "u-42").status is ConnectionStatus.NEEDS_REAUTH
    assert [n.type for n in outbox.pending("acme-consulting", "u-42")] == ["connection.needs_reauth"]
    assert outbox.published() == []
    with pytest.raises(Retryable):  # redelivered while Pub/Sub still fails: kept, handed back again
        service.apply(c)
    outbox.publisher.fail = False
    assert service.apply(c).acknowledge  # the redelivery flushes it
    assert [m["type"] for m in outbox.published()] == ["connection.needs_reauth"]
    assert outbox.pending("acme-consulting", "u-42") == []
    service.apply(c)  # nothing left to flush: published once
    service.apply(change(event_id="b"))  # another change parked behind the same grant: no new transition
    assert len(outbox.published()) == 1 and TITLE not in json.dumps(outbox.published())


def test_a_successful_publish_clears_the_outbox_at_once():
    outbox = FakeOutbox()
    store, calendar = FakeStore(outbox), FakeCalendar()
    store.save_connection(active_connection(calendar_id=CAL))
    calendar.faults.append(Permanent("calendar 400 invalid"))
    assert SyncService(store, calendar, lease_seconds=60).apply(change(event_id="bad")).name == "failed_permanent"
    assert [m["type"] for m in outbox.published()] == ["event.failed"] and outbox.staged == {}


def test_the_maintenance_task_republishes_only_what_was_left_staged_long_enough():
    clock = [1000.0]
    outbox = FakeOutbox(clock=lambda: clock[0])
    outbox.publisher.fail = True
    store = FakeStore(outbox)
    store.save_connection(active_connection(calendar_id=CAL))
    calendar = FakeCalendar()
    calendar.faults.append(CalendarUnavailable("calendar not found"))
    with pytest.raises(Retryable):
        SyncService(store, calendar, lease_seconds=60).apply(change(event_id="a"))
    outbox.publisher.fail = False
    maintenance = Maintenance([("notification_outbox", lambda: outbox.republish_stale)])
    assert maintenance.run({"schema": 1, "kind": "maintenance"}).fields == {"notifications_republished": 0}
    clock[0] += 61
    assert maintenance.run({"schema": 1, "kind": "maintenance"}).fields == {"notifications_republished": 1}
    assert [m["type"] for m in outbox.published()] == ["connection.calendar_unavailable"]


# -- the deliverer ------------------------------------------------------------------------------------
@pytest.fixture
def platform():
    secret = new_secret()
    server = ReceiverServer(Receiver([secret], echo=False)).start()
    yield server, secret
    server.stop()


@pytest.fixture
def deliverer(monkeypatch, platform):
    server, secret = platform
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "unit-project")
    monkeypatch.setenv("SECRETS_BACKEND", "env")
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", server.url + "hooks/calendar")
    monkeypatch.setenv("PLATFORM_WEBHOOK_SECRET", secret)
    bootstrap.reset()
    yield create_app("deliver_notification", "main.py").test_client()
    bootstrap.reset()


def envelope(n):
    data = base64.b64encode(json.dumps(n.to_message()).encode()).decode()
    return {"message": {"data": data, "attributes": n.attributes(), "messageId": "m-1",
                        "orderingKey": n.ordering_key}, "subscription": "s", "deliveryAttempt": 1}


NOTE = notes.needs_reauth("acme", "u-42", "a@example.com", "oauth invalid_grant", ("lease-1",))


def test_2xx_acknowledges_and_the_reference_library_verifies_it(deliverer, platform):
    server, secret = platform
    r = deliverer.post("/", json=envelope(NOTE))
    assert r.status_code == 200 and r.get_json() == {"outcome": "delivered"}
    [got] = server.receiver.delivered()
    assert got["webhook_id"] == NOTE.id and got["body"] == NOTE.to_body() and got["verified_with"] == [0]


@pytest.mark.parametrize("answer", [500, 503, 404, 400, 302, 301])
def test_anything_but_2xx_is_handed_back_with_the_same_webhook_id(deliverer, platform, answer):
    server, _ = platform
    server.receiver.set_mode(answer)
    assert deliverer.post("/", json=envelope(NOTE)).status_code == 503
    server.receiver.set_mode(200)
    assert deliverer.post("/", json=envelope(NOTE)).status_code == 200
    assert [r["webhook_id"] for r in server.receiver.received] == [NOTE.id, NOTE.id]


def test_a_platform_that_does_not_answer_in_time_is_retried(deliverer, platform, monkeypatch):
    server, _ = platform
    monkeypatch.setattr(deliver, "TIMEOUT_SECONDS", 0.3)
    server.receiver.set_mode(200, hang=1.0)
    r = deliverer.post("/", json=envelope(NOTE))
    assert r.status_code == 503 and r.get_json()["outcome"] == "platform_timeout"


def test_unreachable_platform_is_retried(deliverer, monkeypatch):
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", "http://127.0.0.1:9/")
    bootstrap.reset()
    assert deliverer.post("/", json=envelope(NOTE)).status_code == 503


def test_during_a_rotation_every_secret_signs(deliverer, platform, monkeypatch):
    server, secret = platform
    new = new_secret()
    monkeypatch.setenv("PLATFORM_WEBHOOK_SECRET", f"{secret} {new}")
    bootstrap.reset()
    server.receiver.secrets = [new]  # a platform that already moved to the new secret
    assert deliverer.post("/", json=envelope(NOTE)).status_code == 200
    server.receiver.secrets = [secret]  # and one still on the old
    assert deliverer.post("/", json=envelope(NOTE)).status_code == 200
    assert [r["signatures"] for r in server.receiver.received] == [2, 2]
    assert all(r["verified_with"] == [0] for r in server.receiver.received)


def test_unset_url_acknowledges_without_sending(deliverer, platform, monkeypatch):
    server, _ = platform
    monkeypatch.delenv("PLATFORM_WEBHOOK_URL")
    bootstrap.reset()
    r = deliverer.post("/", json=envelope(NOTE))
    assert r.status_code == 200 and r.get_json() == {"outcome": "disabled"} and server.receiver.received == []


def test_a_bad_envelope_is_refused(deliverer):
    assert deliverer.post("/", json={"message": {"data": "bm90IGpzb24="}}).status_code == 400
    assert deliverer.get("/").status_code == 405


def test_signed_request_matches_the_reference_library():
    secret = new_secret()
    body, headers = deliver.signed_request(NOTE, [base64.b64decode(secret.removeprefix("whsec_"))],
                                           datetime.now(timezone.utc).timestamp())
    assert Webhook(secret).verify(body, headers) == NOTE.to_body()
