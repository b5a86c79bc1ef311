"""Calendar's usage limits end to end (docs/errors-and-limits.md#usage-limits) on the local stack: the
stand-in answers 403 quotaExceeded for one user's writes, as Google does; the connection waits it
out on its own and nothing is dead-lettered. The session's stack runs with a first pause of one
second (USAGE_LIMIT_RETRY_SECONDS, tests/conftest.py), so a retry falls due within the test; it
runs when the test publishes the maintenance message, as Cloud Scheduler does."""

import json
from datetime import datetime, timezone

from local.stack import PROJECT
from tests.e2e.test_integrations_flow import ids, status
from tests.e2e.test_notifications import data, received, wait_received
from tests.helpers import wait_for

PARKED = {"parked_usage_limited", "park"}


def publish_maintenance(stack):
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    publisher.publish(publisher.topic_path(PROJECT, f"{stack.topic}-bulk"),
                      json.dumps({"schema": 1, "kind": "maintenance"}).encode()).result(timeout=30)


def instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def due(stack, user):
    """Wait until the connection's retry is due (its retry_at passed); return that retry_at."""
    retry_at = instant(status(stack, user)["retry_at"])
    wait_for(lambda: datetime.now(timezone.utc) >= retry_at, timeout=10, interval=0.05,
             what="the retry to fall due")
    return retry_at


def test_a_usage_limited_calendar_parks_its_changes_and_resumes_them_in_version_order(stack, platform, user):
    state, email = stack.standin.state, user["email"]
    rejected = state.calls["rejected_usage_limit"]
    state.limit_usage(email)
    try:
        first = platform.accepted(ids(user, event_id="ev-1", updated=1, title="Um"))
        assert "parked_usage_limited" in platform.wait_outcome(first, "parked_usage_limited")
        later = [platform.accepted(ids(user, kind=kind, event_id=event_id, updated=updated, title=title))
                 for kind, event_id, updated, title in (
                     ("event.updated", "ev-1", 2, "Um v2"), ("event.created", "ev-2", 3, "Dois"),
                     ("event.created", "ev-3", 4, "Três"), ("event.deleted", "ev-3", 5, None),
                     ("event.updated", "ev-1", 6, "Um v6"))]
        for hook in later:
            platform.wait_outcome(hook, "park")
        # Each delivery was acknowledged parked, never handed back: nothing can be dead-lettered.
        for hook in [first, *later]:
            assert set(platform.outcomes(hook)) <= PARKED, platform.outcomes(hook)
        assert state.calls["rejected_usage_limit"] == rejected + 1  # the later ones never reached Calendar
        report = status(stack, user)
        assert report["status"] == "usage_limited"
        assert report["last_error"]["reason"] == "calendar_usage_limits_exceeded"
        assert report["counts"]["parked"] == 3  # the newest version of each event
        [limited] = wait_received(stack, user, "connection.usage_limited")
        assert data(limited) == {"retry_at": report["retry_at"]}
        assert platform.events(email) == {}

        # Due while still limited: one more refused write, the next retry further out.
        first_retry = due(stack, user)
        publish_maintenance(stack)
        wait_for(lambda: instant(status(stack, user)["retry_at"]) > first_retry, timeout=60,
                 what="the retry to move out")
        assert status(stack, user)["status"] == "usage_limited"
        assert state.calls["rejected_usage_limit"] == rejected + 2
    finally:
        state.lift_usage_limit(email)

    due(stack, user)
    publish_maintenance(stack)
    wait_for(lambda: status(stack, user)["status"] == "active", timeout=60, what="the connection active again")
    [resumed] = wait_received(stack, user, "connection.resumed")
    assert data(resumed) == {"calendar_id": email}
    assert status(stack, user)["retry_at"] is None
    # The parked changes land: each event at its newest version, the deleted one never created.
    wait_for(lambda: (e := platform.event(user, "ev-1")) and e["summary"] == "Um v6", timeout=60,
             what="ev-1 at its newest version")
    wait_for(lambda: platform.event(user, "ev-2"), timeout=60, what="ev-2 created")
    assert platform.event(user, "ev-2")["summary"] == "Dois"
    assert platform.event(user, "ev-3") is None
    wait_for(lambda: status(stack, user)["counts"]["parked"] == 0, timeout=60, what="nothing parked any more")
    # One notification per transition: the retry that met the limit again announced nothing.
    assert len(received(stack, user, "connection.usage_limited")) == 1
