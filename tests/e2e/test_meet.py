"""Google Meet end to end (docs/events.md#google-meet) on the local stack: a Meet event created,
redelivered and updated with one join link; a pending creation followed up on the bulk lane until
the platform gets event.conference_ready, once; a calendar without Meet that still gets the
appointment and an event.conference_failed; a version without the field that removes the conference."""

import json
import uuid

from sync.kernel.model import google_event_id
from tests.e2e.conftest import Browser
from tests.e2e.test_notifications import data, received, wait_received
from tests.helpers import payload, signed_headers, wait_for

MEET = {"conference": {"type": "google_meet"}}


def person(stack):
    tag = uuid.uuid4().hex[:8]
    u = {"account_id": f"acct-{tag}", "user_id": f"u-{tag}", "email": f"meet-{tag}@example.com",
         "plain": f"feriados-{tag}@group.calendar.example"}
    stack.standin.state.add_user(u["email"], calendars=[{"id": u["plain"], "summary": "Sem Meet",
                                                         "conference_types": []}])
    return u


def connect(stack, user, calendar_id):
    """The browser flow, returning the pick-a-calendar page it saw."""
    browser = Browser(stack, lang="en")
    started = browser.start(user["account_id"], user["user_id"])
    back = browser.consent(started.headers["Location"], user["email"])
    called = browser.get(back.headers["Location"])
    page = browser.get(called.headers["Location"])
    chosen = browser.post(called.headers["Location"], data={"calendar_id": calendar_id,
                                                            "csrf_token": browser.csrf(page.text)})
    assert chosen.status_code == 302, chosen.text
    return page.text


def ids(user, **kw):
    return payload(account_id=user["account_id"], user_id=user["user_id"], **kw)


def landed(platform, user, event_id, calendar_id, check):
    gid = google_event_id(user["account_id"], user["user_id"], event_id)
    return wait_for(lambda: (e := platform.events(calendar_id).get(gid)) and check(e) and e, timeout=60,
                    what=f"{event_id} in {calendar_id}")


def readies(stack, user, event_id):
    return [data(r) for r in received(stack, user, "event.conference_ready") if data(r)["event_id"] == event_id]


def test_one_conference_one_link_one_notification_and_a_calendar_without_meet(stack, platform):
    user = person(stack)
    page = connect(stack, user, user["email"])
    rows = page.split("<label")[1:]
    assert "with Google Meet" in next(r for r in rows if user["email"] in r)
    assert "no Google Meet" in next(r for r in rows if user["plain"] in r)

    # Created, then the same webhook delivered again (same webhook-id): one conference.
    body = json.dumps(ids(user, event_id="ev-meet", **MEET))
    headers = signed_headers(platform.secret, body)
    assert platform.send(json.loads(body), headers).status_code == 202
    event = landed(platform, user, "ev-meet", user["email"], lambda e: "hangoutLink" in e)
    link = event["hangoutLink"]
    assert link.startswith("https://meet.google.com/")
    assert platform.send(json.loads(body), signed_headers(platform.secret, body, headers["webhook-id"])).status_code \
        == 202
    platform.wait_outcome(headers["webhook-id"], "duplicate")
    [ready] = wait_received(stack, user, "event.conference_ready")
    assert data(ready) == {"event_id": "ev-meet", "version": json.loads(body)["event"]["updated_at"],
                           "join_url": link, "conference_id": event["conferenceData"]["conferenceId"]}
    # A later version keeps the link.
    platform.wait_outcome(platform.accepted(ids(user, event_id="ev-meet", kind="event.updated", updated=1,
                                                title="Remarcada", **MEET)), "updated")
    assert landed(platform, user, "ev-meet", user["email"], lambda e: e["summary"] == "Remarcada")["hangoutLink"] \
        == link

    # Pending creation: followed up on the bulk lane until Google settles it; told once.
    stack.standin.state.configure_conferences(user["email"], creation="pending", after_reads=1)
    platform.accepted(ids(user, event_id="ev-later", **MEET))
    settled = landed(platform, user, "ev-later", user["email"], lambda e: "hangoutLink" in e)
    wait_for(lambda: readies(stack, user, "ev-later"), timeout=60, what="ev-later's conference_ready")
    assert readies(stack, user, "ev-later")[0]["join_url"] == settled["hangoutLink"]

    def checks():
        return [line["outcome"] for line in platform.worker_lines()
                if line.get("job") == "conference_check" and line.get("event_id") == "ev-later"]

    # Settled by the follow-up's read, not by a write. Its notification is published by the transaction
    # that settles it, before the worker writes the job's log line: the line is waited for.
    wait_for(lambda: "conference_ready" in checks(), timeout=30, what="the conference_check that settled it")

    # A version without the field removes the conference.
    platform.wait_outcome(platform.accepted(ids(user, event_id="ev-meet", kind="event.updated", updated=2,
                                                title="Presencial")), "updated")
    gone = landed(platform, user, "ev-meet", user["email"], lambda e: e["summary"] == "Presencial")
    assert "hangoutLink" not in gone and "conferenceData" not in gone

    # A calendar that cannot host Meet (its list entry says so): the appointment, without the conference.
    other = person(stack)
    connect(stack, other, other["plain"])
    platform.accepted(ids(other, event_id="ev-plain", **MEET))
    written = landed(platform, other, "ev-plain", other["plain"], lambda e: True)
    assert "conferenceData" not in written and written["summary"]
    [failed] = wait_received(stack, other, "event.conference_failed")
    assert data(failed)["reason"] == "calendar_cannot_host_meet" and data(failed)["event_id"] == "ev-plain"

    # Every conference was announced once, whatever the redelivery and the later version.
    assert len(readies(stack, user, "ev-meet")) == 1 and len(readies(stack, user, "ev-later")) == 1
    assert received(stack, user, "event.conference_failed") == []
