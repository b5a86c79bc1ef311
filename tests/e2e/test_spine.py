"""Webhook → Pub/Sub (emulator push) → worker → stand-in Calendar, through real processes."""

import json
import subprocess
import sys

import requests

from local.stack import ROOT
from sync.kernel.model import google_event_id
from tests.helpers import payload, push_envelope, wait_for


def ids(user, **kw):
    return payload(account_id=user["account_id"], user_id=user["user_id"], **kw)


def test_create_update_delete_land_in_the_calendar(platform, user):
    platform.accepted(ids(user, description="Pauta", url="https://app.example.com/e/1", reminders_minutes=[15]))
    created = wait_for(lambda: platform.event(user, "ev-1001"), what="created event")
    assert created["summary"] == "Diagnóstico — Cliente X" and created["status"] == "confirmed"
    assert created["description"] == "Pauta\nhttps://app.example.com/e/1"
    private = created["extendedProperties"]["private"]
    assert private == {"sync_source": "evolutto", "source_account_id": user["account_id"],
                       "source_user_id": user["user_id"], "source_event_id": "ev-1001",
                       "source_updated_at": "2026-11-20T13:00:00.123Z"}

    platform.accepted(ids(user, kind="event.updated", updated=1, title="Retorno"))
    updated = wait_for(lambda: (e := platform.event(user, "ev-1001")) and e["summary"] == "Retorno" and e,
                       what="updated event")
    # Fields removed on the platform are removed in Calendar: the update sends the whole event.
    assert "description" not in updated and "source" not in updated
    assert updated["reminders"] == {"useDefault": True}

    platform.accepted(ids(user, kind="event.deleted", updated=2))
    wait_for(lambda: platform.event(user, "ev-1001")["status"] == "cancelled", what="deleted event")
    assert len(platform.events(user["email"])) == 1


def test_the_same_webhook_twice_makes_one_event(platform, user):
    body = json.dumps(ids(user))
    from tests.helpers import signed_headers

    headers = signed_headers(platform.secret, body)
    url = platform.stack.url("handle_webhook")
    first = requests.post(url, data=body, headers=headers, timeout=30)
    second = requests.post(url, data=body, headers=headers, timeout=30)
    assert first.status_code == second.status_code == 202
    webhook_id = first.json()["webhook_id"]
    wait_for(lambda: len(platform.outcomes(webhook_id)) >= 2 and "created" in platform.outcomes(webhook_id),
             timeout=45, what="both deliveries")
    assert sorted(o for o in platform.outcomes(webhook_id) if o != "busy") in (["created", "duplicate"],)
    assert len(platform.events(user["email"])) == 1
    assert platform.event(user, "ev-1001")["sequence"] == 0  # written once, never rewritten


def test_updates_arriving_newest_first_keep_the_newest(platform, user):
    hooks = [platform.accepted(ids(user, kind="event.updated", updated=v, title=f"v{v}")) for v in (3, 2, 1)]
    for hook in hooks:
        platform.wait_outcome(hook, "created", "updated", "stale", "restored")
    assert platform.event(user, "ev-1001")["summary"] == "v3"
    assert set(platform.outcomes(hooks[1])) | set(platform.outcomes(hooks[2])) >= {"stale"}


def test_a_delete_before_its_create_wins_until_a_newer_change(platform, user):
    deleted = platform.accepted(ids(user, kind="event.deleted", updated=2))
    platform.wait_outcome(deleted, "tombstone")
    late_create = platform.accepted(ids(user, updated=1))
    platform.wait_outcome(late_create, "stale")
    assert platform.event(user, "ev-1001") is None
    newer = platform.accepted(ids(user, updated=3, title="De volta"))
    platform.wait_outcome(newer, "created")
    assert platform.event(user, "ev-1001")["summary"] == "De volta"


def test_redelivery_of_an_applied_message_is_acknowledged_without_a_write(platform, user):
    hook = platform.accepted(ids(user))
    platform.wait_outcome(hook, "created")
    message = {"schema": 1, "webhook_id": hook, **ids(user)}
    r = requests.post(platform.stack.url("sync_worker"), json=push_envelope(message, "redelivered"), timeout=30)
    assert r.status_code == 200 and r.json() == {"outcome": "duplicate"}
    assert platform.event(user, "ev-1001")["sequence"] == 0


def test_calendar_5xx_and_429_bursts_are_retried_without_loss_or_duplicates(platform, user, stack):
    faults = stack.standin.state
    from local.standin import Fault

    mine = (user["email"],)  # this user's calls only: other tests' work may still be running
    with faults.lock:
        faults.faults += [Fault(503, "backendError", ("events.insert",), count=2, users=mine),
                          Fault(429, "rateLimitExceeded", ("events.insert",), count=2, retry_after=1, users=mine),
                          Fault(403, "userRateLimitExceeded", ("events.insert",), count=1, retry_after=1, users=mine)]
    before = faults.stats(user=user["email"])["injected_fault"]
    try:
        hooks = [platform.accepted(ids(user, event_id=f"burst-{i}")) for i in range(3)]
        for hook in hooks:
            platform.wait_outcome(hook, "created", "restored", timeout=60)
    finally:
        with faults.lock:
            faults.faults = [f for f in faults.faults if f.users != mine]
    assert faults.stats(user=user["email"])["injected_fault"] - before == 5  # every injected failure was met…
    retried = sum(platform.outcomes(h).count("retry") for h in hooks)
    assert retried >= 5  # …and answered with a redelivery (rate limits also cool the user down)
    live = platform.events(user["email"], include_cancelled=False)
    assert sorted(e["extendedProperties"]["private"]["source_event_id"] for e in live.values()) == \
        ["burst-0", "burst-1", "burst-2"]


def test_an_event_deleted_by_hand_is_restored_by_the_next_update(platform, user, stack):
    platform.accepted(ids(user))
    event = wait_for(lambda: platform.event(user, "ev-1001"), what="created event")
    stack.standin.state.calendars[user["email"]].events[event["id"]]["status"] = "cancelled"
    hook = platform.accepted(ids(user, kind="event.updated", updated=1, title="Restaurado"))
    platform.wait_outcome(hook, "updated")
    restored = platform.event(user, "ev-1001")
    assert restored["status"] == "confirmed" and restored["summary"] == "Restaurado"


def test_a_user_without_a_connection_is_acknowledged_and_not_written(platform, stack):
    hook = platform.accepted(payload(account_id="nobody", user_id="nobody"))
    assert platform.wait_outcome(hook, "no_connection") == ["no_connection"]


def test_a_permanent_calendar_error_is_recorded_and_acknowledged(platform, user, stack):
    from local.standin import Fault

    with stack.standin.state.lock:
        stack.standin.state.faults.append(Fault(400, "invalid", ("events.insert",), count=1, users=(user["email"],)))
    hook = platform.accepted(ids(user))
    assert platform.wait_outcome(hook, "failed_permanent") == ["failed_permanent"]
    from sync import bootstrap

    bootstrap.reset()
    mapping = bootstrap.container().mappings.get_mappings(user["account_id"], user["user_id"], ["ev-1001"])["ev-1001"]
    assert mapping.last_error == "calendar 400 invalid" and not mapping.google_exists
    newer = platform.accepted(ids(user, updated=1))
    platform.wait_outcome(newer, "created")


def test_revoked_grant_parks_changes_until_reconnect(platform, user, stack):
    first = platform.accepted(ids(user))
    platform.wait_outcome(first, "created")
    stack.standin.state.revoke_user(user["email"])
    parked = platform.accepted(ids(user, kind="event.updated", updated=1, title="Parked v1"))
    platform.wait_outcome(parked, "parked_needs_reauth")
    later = platform.accepted(ids(user, kind="event.updated", updated=2, title="Parked v2"))
    other = platform.accepted(ids(user, event_id="ev-new", title="Nova"))
    platform.wait_outcome(later, "park")
    platform.wait_outcome(other, "park")
    from sync import bootstrap

    bootstrap.reset()
    connection = bootstrap.container().mappings.get_connection(user["account_id"], user["user_id"])
    assert connection.status.value == "needs_reauth"
    assert platform.event(user, "ev-1001")["summary"] == "Diagnóstico — Cliente X"

    # The user grants access again (here through the operator CLI, as the connect flow would).
    token = stack.standin.state.issue_grant(user["email"], "local-client.apps.example",
                                            ("https://www.googleapis.com/auth/calendar.events",))
    token_file = stack.state_dir / "reconnect-token"
    token_file.write_text(token)
    out = subprocess.run([sys.executable, "-m", "sync.ops", "import-connection", "--account-id", user["account_id"],
                          "--user-id", user["user_id"], "--calendar-id", user["email"], "--refresh-token-file",
                          str(token_file)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    token_file.unlink()
    assert json.loads(out.stdout)["resumed_parked_changes"] == 2
    wait_for(lambda: platform.event(user, "ev-1001")["summary"] == "Parked v2", what="parked update applied")
    wait_for(lambda: platform.event(user, "ev-new"), what="parked create applied")


def test_a_removed_calendar_parks_as_calendar_unavailable(platform, user, stack):
    secondary = f"team-{user['user_id']}@group.calendar.example"
    stack.standin.state.add_user(user["email"], calendars=[{"id": secondary, "summary": "Equipe"}])
    token = stack.standin.state.issue_grant(user["email"], "local-client.apps.example",
                                            ("https://www.googleapis.com/auth/calendar.events",))
    from sync import bootstrap

    bootstrap.reset()
    bootstrap.container().activation.import_grant(user["account_id"], user["user_id"], secondary, token)
    platform.wait_outcome(platform.accepted(ids(user)), "created")
    assert google_event_id(user["account_id"], user["user_id"], "ev-1001") in platform.events(secondary)
    stack.standin.state.calendars.pop(secondary)
    hook = platform.accepted(ids(user, kind="event.updated", updated=1))
    platform.wait_outcome(hook, "parked_calendar_unavailable")
    assert bootstrap.container().mappings.get_connection(user["account_id"], user["user_id"]).status.value == \
        "calendar_unavailable"
