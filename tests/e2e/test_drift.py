"""Drift repair end to end (docs/drift.md): hand edits and deletions in Google Calendar, made on the
stand-in as the user would, are noticed through push channels (or the fallback scan) and undone,
reported or ignored by DRIFT_POLICY; our own writes never cause a rewrite."""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager

import pytest
import requests

from sync.kernel.model import google_event_id
from tests.e2e.conftest import api_token
from tests.e2e.test_notifications import data, wait_received
from tests.helpers import payload, push_envelope, wait_for

pytestmark = pytest.mark.e2e


def ids(user, **kw):
    return payload(kw.pop("kind", "event.created"), account_id=user["account_id"], user_id=user["user_id"], **kw)


def gid(user, event_id="ev-1001"):
    return google_event_id(user["account_id"], user["user_id"], event_id)


def by_hand(stack, user, event_id="ev-1001", calendar=None, **fields):
    """The user edits (fields given) or deletes (none) the event in Google Calendar."""
    url = f"{stack.standin.url}_admin/calendars/{calendar or user['email']}/events/{gid(user, event_id)}"
    r = requests.patch(url, json=fields, timeout=10) if fields else requests.delete(url, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def channels(stack, calendar):
    items = requests.get(f"{stack.standin.url}_admin/channels", timeout=10).json()["items"]
    return [c for c in items if c["calendarId"] == calendar]


def live_channel(stack, calendar):
    now_ms = time.time() * 1000
    return wait_for(lambda: [c for c in channels(stack, calendar) if not c["stopped"] and c["expiration"] > now_ms],
                    what=f"a live channel on {calendar}")


def calls(stack, name, user):
    """``user``'s Calendar calls (pings: its calendar's), whatever other tests still have running."""
    if name.startswith("pings."):
        return stack.standin.state.stats(calendar=user["email"])[name]
    return stack.standin.state.stats(user=user["email"])[name]


def drift_lines(platform, user, outcome=None):
    return [line for line in platform.worker_lines()
            if line.get("job") == "drift_check" and line.get("user_id") == user["user_id"]
            and (outcome is None or line.get("outcome") == outcome)]


def drift_quiet(stack, platform, user):
    """True once no drift check of ``user``'s can still call Calendar: every ping sent on the
    user's calendar was answered, and every check those pings scheduled ran to its end (answered
    2xx, so Pub/Sub will not deliver it again)."""
    state = stack.standin.state
    with state.lock:
        sent = sum(c.messages for c in state.channels.values() if c.calendar_id == user["email"])
    answered = state.stats(calendar=user["email"])
    if answered["pings.sent"] + answered["pings.failed"] < sent:
        return False
    lines = (stack.log_dir / "integrations.log").read_text().splitlines()
    scheduled = sum(1 for line in lines if '"drift_check_scheduled"' in line and line.startswith("{")
                    and (entry := json.loads(line)).get("outcome") == "drift_check_scheduled"
                    and entry.get("account_id") == user["account_id"] and entry.get("user_id") == user["user_id"])
    done = {line["message_id"] for line in drift_lines(platform, user) if 200 <= int(line.get("status", 0)) < 300}
    return len(done) >= scheduled


def wait_drift_quiet(stack, platform, user):
    wait_for(lambda: drift_quiet(stack, platform, user), timeout=60, what=f"no drift check left for {user['user_id']}")


def synced(platform, user, **kw):
    hook = platform.accepted(ids(user, **kw))
    platform.wait_outcome(hook, "created", "updated")
    return platform.event(user, kw.get("event_id", "ev-1001"))


def run_maintenance(stack):
    r = requests.post(stack.url("sync_worker"), json=push_envelope({"schema": 1, "kind": "maintenance"}), timeout=60)
    assert r.status_code == 200, r.text


def drift_store():
    from sync import bootstrap

    bootstrap.reset()
    return bootstrap.container().drift_store


@contextmanager
def policy(stack, value):
    """Run the worker and integrations (and in-process connects) with another DRIFT_POLICY for a
    while; yields a function that switches to a third one without going back to the default
    first (two restarts fewer). The environment this process connects with is restored too."""
    before = os.environ.get("DRIFT_POLICY")

    def switch(to):
        stack.env["DRIFT_POLICY"] = to
        for name in ("sync_worker", "integrations"):
            stack.stop_function(name)
            stack.start_function(name)

    switch(value)
    try:
        yield switch
    finally:
        stack.env.pop("DRIFT_POLICY")
        if before is None:
            os.environ.pop("DRIFT_POLICY", None)  # an in-process connect copied the stack's env here
        else:
            os.environ["DRIFT_POLICY"] = before
        for name in ("sync_worker", "integrations"):
            stack.stop_function(name)
            stack.start_function(name)


@pytest.mark.parametrize("edit", [{"summary": "Editado à mão"},
                                  {"start": {"dateTime": "2026-11-25T10:00:00-03:00"},
                                   "end": {"dateTime": "2026-11-25T11:00:00-03:00"}},
                                  {}], ids=["title", "time", "delete"])
def test_a_hand_edit_or_delete_is_restored_within_seconds(stack, platform, user, edit):
    written = synced(platform, user)
    live_channel(stack, user["email"])
    before = calls(stack, "events.update", user)
    by_hand(stack, user, **edit)
    started = time.monotonic()
    restored = wait_for(lambda: (e := platform.event(user, "ev-1001")) and e["etag"] != written["etag"]
                        and e["status"] == "confirmed" and e["summary"] == written["summary"]
                        and e["start"] == written["start"] and e, timeout=20, what="the event restored")
    assert time.monotonic() - started < 10
    assert calls(stack, "events.update", user) == before + 1  # one Calendar call
    kind = "deleted" if not edit else "edited"
    line = wait_for(lambda: [x for x in platform.worker_lines() if x.get("drift_kind") == kind
                             and x.get("event_id") == "ev-1001" and x.get("user_id") == user["user_id"]],
                    what="the repair logged")[0]
    assert line["outcome"] == "restored"
    [note] = wait_received(stack, user, "event.drift_repaired")  # docs/notifications.md, signed and verified
    assert data(note) == {"event_id": "ev-1001", "kind": kind, "restored": True}
    time.sleep(1.5)  # the restore pings too: it is recognised as ours
    assert platform.event(user, "ev-1001")["etag"] == restored["etag"]


def test_our_own_writes_ping_and_cause_no_rewrite(stack, platform, user):
    live_channel(stack, user["email"])
    pings, updates = calls(stack, "pings.sent", user), calls(stack, "events.update", user)
    hooks = [platform.accepted(ids(user, event_id=f"own-{i}")) for i in range(6)]
    hooks += [platform.accepted(ids(user, kind="event.updated", event_id=f"own-{i}", updated=1, title="v1"))
              for i in range(3)]
    hooks += [platform.accepted(ids(user, kind="event.deleted", event_id="own-5", updated=2))]
    for hook in hooks:
        platform.wait_outcome(hook, "created", "updated", "deleted", "restored", "recreated")
    wait_for(lambda: calls(stack, "pings.sent", user) >= pings + len(hooks), what="a ping per write")
    wait_for(lambda: drift_lines(platform, user, "drift_checked"), what="a drift check")
    time.sleep(3)  # let every check that the pings scheduled run
    checks = drift_lines(platform, user, "drift_checked")
    assert sum(line.get("count", 0) for line in checks) == 0  # nothing restored or reported…
    assert calls(stack, "events.update", user) - updates == 3  # …and no Calendar write beyond the platform's
    assert len(checks) < len(hooks)  # pings were coalesced


def test_a_hand_edit_then_a_platform_change_ends_with_the_platform_version(stack, platform, user):
    synced(platform, user)
    live_channel(stack, user["email"])
    by_hand(stack, user, summary="À mão")
    hook = platform.accepted(ids(user, kind="event.updated", updated=5, title="Plataforma v5"))
    platform.wait_outcome(hook, "updated")
    time.sleep(3)
    event = platform.event(user, "ev-1001")
    assert event["summary"] == "Plataforma v5" and event["status"] == "confirmed"


def test_an_expired_sync_token_falls_back_to_a_full_listing(stack, platform, user):
    synced(platform, user)
    live_channel(stack, user["email"])
    by_hand(stack, user, summary="Primeira")
    wait_for(lambda: platform.event(user, "ev-1001")["summary"] != "Primeira", what="first repair")
    r = requests.delete(f"{stack.standin.url}_admin/calendars/{user['email']}/sync_tokens", timeout=10)
    assert r.status_code == 204
    by_hand(stack, user, summary="Segunda")
    wait_for(lambda: platform.event(user, "ev-1001")["summary"] not in ("Primeira", "Segunda"), timeout=20,
             what="repair after the 410")


def test_forged_and_stale_pings_are_refused_alike_and_cause_no_work(stack, platform, user):
    synced(platform, user)
    [channel] = live_channel(stack, user["email"])
    token = stack.standin.state.channels[channel["id"]].token
    url = stack.url("integrations") + "google/notifications"

    numbers = iter(range(stack.standin.state.channels[channel["id"]].messages + 100, 10**6))

    def ping(channel_id, channel_token, state="exists"):
        return requests.post(url, headers={"X-Goog-Channel-ID": channel_id, "X-Goog-Channel-Token": channel_token,
                                           "X-Goog-Resource-State": state, "X-Goog-Resource-ID": "x",
                                           "X-Goog-Message-Number": str(next(numbers))}, timeout=10)

    assert ping(channel["id"], token).status_code == 200  # the genuine one
    checks = len(drift_lines(platform, user))
    refused = [ping("0" * 32, token), ping(channel["id"], "wrong"), ping(channel["id"], ""),
               ping("../../connections", token), ping(channel["id"], token + "x")]
    raw = requests.post(url, data=b"", timeout=10, headers={
        "X-Goog-Channel-ID": channel["id"].encode(), "X-Goog-Channel-Token": "çã€".encode(),
        "X-Goog-Resource-State": b"exists\xff"})
    refused.append(raw)
    # Renewed: the old channel, token and all, is stale now.
    drift_store().drift_ref(user["account_id"], user["user_id"]).update({"channel_renew_at": None})
    from sync import bootstrap

    assert bootstrap.container().channels.open(user["account_id"], user["user_id"]) == "opened"
    refused.append(ping(channel["id"], token))
    assert {r.status_code for r in refused} == {404}
    assert len({r.text for r in refused}) == 1  # the same answer whatever was wrong
    time.sleep(2)
    assert len(drift_lines(platform, user)) <= checks + 1  # only the genuine ping's check


def test_a_channel_is_renewed_before_it_expires(stack, platform, user):
    [old] = live_channel(stack, user["email"])
    store = drift_store()
    from datetime import datetime, timezone

    store.drift_ref(user["account_id"], user["user_id"]).update({"channel_renew_at": datetime.now(timezone.utc)})
    run_maintenance(stack)
    [new] = live_channel(stack, user["email"])
    assert new["id"] != old["id"]
    assert [c["stopped"] for c in channels(stack, user["email"]) if c["id"] == old["id"]] == [True]
    synced(platform, user)
    by_hand(stack, user, summary="Depois da renovação")
    wait_for(lambda: platform.event(user, "ev-1001")["summary"] != "Depois da renovação", what="repair")


def test_disconnect_stops_the_channel_and_forgets_the_drift_state(stack, platform, user):
    synced(platform, user)
    [channel] = live_channel(stack, user["email"])
    token = api_token(stack, user["account_id"], user["user_id"])
    r = requests.delete(f"{stack.url('integrations')}api/connections/{user['account_id']}/{user['user_id']}",
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200
    assert [c["stopped"] for c in channels(stack, user["email"])] == [True]
    store = drift_store()
    assert store.drift_doc(user["account_id"], user["user_id"]) is None and store.channel(channel["id"]) is None


def test_the_fallback_scan_repairs_with_pings_switched_off(stack, platform, user):
    synced(platform, user)
    live_channel(stack, user["email"])
    wait_for(lambda: drift_lines(platform, user, "drift_checked"), what="the check our write's ping scheduled")
    time.sleep(1)
    requests.post(f"{stack.standin.url}_admin/pings", json={"enabled": False}, timeout=10)
    try:
        by_hand(stack, user, summary="Sem ping")
        time.sleep(2)
        assert platform.event(user, "ev-1001")["summary"] == "Sem ping"  # nobody was told
        from datetime import datetime, timezone

        drift_store().drift_ref(user["account_id"], user["user_id"]).update(
            {"next_scan_at": datetime.now(timezone.utc)})
        run_maintenance(stack)
        wait_for(lambda: platform.event(user, "ev-1001")["summary"] != "Sem ping", timeout=20, what="scan repair")
    finally:
        requests.post(f"{stack.standin.url}_admin/pings", json={"enabled": True}, timeout=10)


def test_report_only_reports_and_off_ignores(stack, platform):
    import uuid

    with policy(stack, "report") as switch:
        tag = uuid.uuid4().hex[:8]
        user = {"account_id": f"acct-{tag}", "user_id": f"u-{tag}", "email": f"user-{tag}@example.com"}
        stack.connect(user["account_id"], user["user_id"], user["email"], in_process=True)
        synced(platform, user)
        live_channel(stack, user["email"])
        updates = calls(stack, "events.update", user)
        by_hand(stack, user, summary="Só relatado")
        wait_for(lambda: [x for x in platform.worker_lines() if x.get("drift_kind") == "edited"
                          and x.get("user_id") == user["user_id"] and x.get("outcome") == "reported"],
                 what="the report")
        [note] = wait_received(stack, user, "event.drift_repaired")
        assert data(note) == {"event_id": "ev-1001", "kind": "edited", "restored": False}
        time.sleep(1)
        assert platform.event(user, "ev-1001")["summary"] == "Só relatado"
        assert calls(stack, "events.update", user) == updates
        switch("off")
        tag = uuid.uuid4().hex[:8]
        quiet = {"account_id": f"acct-{tag}", "user_id": f"u-{tag}", "email": f"user-{tag}@example.com"}
        stack.connect(quiet["account_id"], quiet["user_id"], quiet["email"], in_process=True)
        synced(platform, quiet)
        by_hand(stack, quiet, summary="Ignorado")
        by_hand(stack, user, summary="Também ignorado")  # its channel still pings: no work
        time.sleep(3)
        assert channels(stack, quiet["email"]) == []  # off: no channel opened
        assert platform.event(quiet, "ev-1001")["summary"] == "Ignorado"
        assert platform.event(user, "ev-1001")["summary"] == "Também ignorado"
        assert not drift_lines(platform, quiet)


def test_a_calendar_switch_moves_the_channel_and_moved_events_are_not_drift(stack, platform, google_user):
    from tests.e2e.conftest import Browser

    user = google_user
    browser = Browser(stack)
    browser.connect(user, calendar_id=user["team"])
    [first] = live_channel(stack, user["team"])
    synced(platform, user)
    browser.connect(user, calendar_id=user["email"])  # the switch: events moved through the queue, same ids
    wait_for(lambda: (e := platform.event(user, "ev-1001")) and e["status"] == "confirmed", what="the move")
    [second] = live_channel(stack, user["email"])
    assert [c["stopped"] for c in channels(stack, user["team"]) if c["id"] == first["id"]] == [True]
    updates = calls(stack, "events.update", user)
    by_hand(stack, user, summary="Na agenda nova")
    wait_for(lambda: platform.event(user, "ev-1001")["summary"] != "Na agenda nova", what="repair in the new one")
    assert calls(stack, "events.update", user) == updates + 1  # the repair only: the move itself was not drift
    assert second["id"] != first["id"]


def test_a_burst_of_pings_is_one_check(stack, platform, user):
    from concurrent.futures import ThreadPoolExecutor

    synced(platform, user)
    [channel] = live_channel(stack, user["email"])
    wait_for(lambda: drift_lines(platform, user, "drift_checked"), what="the write's own check")
    wait_drift_quiet(stack, platform, user)
    token = stack.standin.state.channels[channel["id"]].token
    before, lists = len(drift_lines(platform, user)), calls(stack, "events.list", user)
    headers = {"X-Goog-Channel-ID": channel["id"], "X-Goog-Channel-Token": token, "X-Goog-Resource-State": "exists"}
    url = stack.url("integrations") + "google/notifications"
    first = stack.standin.state.channels[channel["id"]].messages + 100  # 50 changes: 50 numbers, growing
    marker = drift_store().pending_ref(user["account_id"], user["user_id"])

    def ping(n):
        # Which burst the ping joined: the "check scheduled" marker standing once it is answered (one
        # per burst, cleared as the check starts listing). Not the stand-in's listing count: the
        # marker goes a few Firestore calls before the listing reaches the stand-in, and a ping
        # answered in between is a burst of its own (seen on a loaded CI machine).
        status = requests.post(url, headers={**headers, "X-Goog-Message-Number": str(first + n)},
                               timeout=30).status_code
        snap = marker.get()
        return status, (snap.to_dict() or {}).get("at") if snap.exists else None

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(ping, range(50)))
    assert [status for status, _ in answers] == [200] * 50
    wait_for(lambda: len(drift_lines(platform, user)) > before, what="the check")
    wait_drift_quiet(stack, platform, user)
    checks, listings = len(drift_lines(platform, user)) - before, calls(stack, "events.list", user) - lists
    assert checks == listings
    seen = [at for _, at in answers]
    if None not in seen and len(set(seen)) == 1:
        assert checks == 1  # every ping answered while the burst's one marker stood: one check
    else:
        # Some pings came as the check started: each marker is one check, and a ping that found none
        # may have made one that was cleared before it looked. Never one check per ping.
        assert 1 <= checks <= len(set(seen) - {None}) + seen.count(None)
        assert checks <= 3, "checks start a debounce window apart: a burst of 50 pings spans two or three"
