"""Guest mails exactly once (docs/guests.md#guest-mails-exactly-once) through the local stack: webhooks
in, the worker on the queue, the stand-in's mail log counting what each guest receives."""

import uuid

from local.standin import Fault
from sync.kernel.model import google_event_id
from tests.helpers import payload, wait_for


def send(platform, user, kind="event.updated", updated=1, event_id="ev-1001", **fields):
    data = payload(kind, account_id=user["account_id"], user_id=user["user_id"], event_id=event_id,
                   updated=updated, **fields)
    if kind == "event.deleted" and "notify_attendees" in fields:
        data["event"]["notify_attendees"] = fields["notify_attendees"]
    return platform.accepted(data)


def guests():
    tag = uuid.uuid4().hex[:6]
    return [{"email": f"cliente-{tag}@clientex.com.br"}, {"email": f"socia-{tag}@outra.example", "optional": True}]


def settled(platform, webhook_id, *outcomes):
    return platform.wait_outcome(webhook_id, *outcomes)


def test_a_guest_gets_one_invitation_one_update_per_visible_change_and_one_cancellation(platform, user, stack):
    people = guests()
    gid = google_event_id(user["account_id"], user["user_id"], "ev-1001")
    common = {"attendees": people, "notify_attendees": "all"}
    settled(platform, send(platform, user, updated=1, **common), "created")
    settled(platform, send(platform, user, updated=2, title="Remarcada", **common), "updated")
    settled(platform, send(platform, user, updated=3, title="Remarcada", reminders_minutes=[5], color=3,
                           busy=False, **common), "updated")  # only the owner sees these
    again = send(platform, user, updated=3, title="Remarcada", reminders_minutes=[5], color=3, busy=False,
                 **common)  # the platform sent it twice
    settled(platform, again, "duplicate")
    settled(platform, send(platform, user, "event.deleted", 4), "deleted")  # follows version 3's "all"
    expected = {"invitation": 1, "update": 1, "cancellation": 1}
    assert stack.standin.state.mail_counts(event_id=gid) == {g["email"]: expected for g in people}


def test_a_503_after_google_applied_the_update_is_one_update_mail(platform, user, stack):
    people = guests()
    gid = google_event_id(user["account_id"], user["user_id"], "ev-1001")
    common = {"attendees": people, "notify_attendees": "external"}
    settled(platform, send(platform, user, updated=1, **common), "created")
    state = stack.standin.state
    state.faults.append(Fault(503, "backendError", methods=("events.update",), count=1, users=(user["email"],),
                              applied=True))
    webhook = send(platform, user, updated=2, title="Remarcada", **common)
    assert "already_applied" in settled(platform, webhook, "already_applied")  # Pub/Sub redelivered it
    wait_for(lambda: not any(f.applied for f in state.faults), what="the fault spent")
    assert state.mail_counts(event_id=gid) == {g["email"]: {"invitation": 1, "update": 1} for g in people}


def test_none_mails_nobody_and_a_delete_follows_the_last_versions_policy(platform, user, stack):
    people = guests()
    gid = google_event_id(user["account_id"], user["user_id"], "quiet")
    settled(platform, send(platform, user, updated=1, event_id="quiet", attendees=people,
                           notify_attendees="none"), "created")
    settled(platform, send(platform, user, updated=2, event_id="quiet", attendees=people, title="Outra",
                           notify_attendees="none"), "updated")
    settled(platform, send(platform, user, "event.deleted", 3, event_id="quiet"), "deleted")
    assert stack.standin.state.mail_counts(event_id=gid) == {}
