"""``make chaos``, snapshot step: snapshots applied while webhooks stream, Calendar fails 10% of its
event calls, and one user switches calendars mid-way. Afterwards the chaos invariant holds in each
user's current calendar (nothing lost, no duplicate, no ghost), the old calendar holds nothing of
ours, and every snapshot finished with one result per event.

Versions here are global and increasing, like the platform's ``updated_at`` timestamps, so that a
snapshot's ``as_of`` means what it means in production: every change up to it is in the snapshot.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import pytest

from local.standin import Fault
from tests.chaos.stacks import chaos_stack
from tests.chaos.test_chaos import Platform, stream
from tests.e2e.conftest import Browser
from tests.e2e.snapshots_client import SnapshotApi
from tests.helpers import event, version

pytestmark = pytest.mark.chaos
TOPIC = "chaos-snap"
EVENT_CALLS = ("events.insert", "events.update", "events.delete", "events.move")


@pytest.fixture(scope="module")
def chaos(emulator_hosts):
    stack = chaos_stack(emulator_hosts, "chaos-snapshot", TOPIC).start()
    try:
        stack.push_lane(TOPIC, f"{TOPIC}-worker-pull", 5)
        # The bulk lane hands throttled and busy work back as a matter of course: more attempts.
        stack.push_lane(f"{TOPIC}-bulk", f"{TOPIC}-bulk-worker-pull", 20, timeout=30)
        yield stack
    finally:
        stack.stop()


@dataclass
class TimedPlatform(Platform):
    """Versions from one clock for every event; ``as_of`` is below every version still being sent."""

    clock: int = 0
    in_flight: set[int] = field(default_factory=set)

    def next_version(self, user: dict[str, str], event_id: str) -> int:
        with self.lock:
            self.clock += 1
            self.versions[(user["user_id"], event_id)] = self.clock
            self.in_flight.add(self.clock)
            return self.clock

    def send(self, user, event_id, kind, v, title, webhook_id=None) -> None:  # type: ignore[no-untyped-def]
        try:
            super().send(user, event_id, kind, v, title, webhook_id)
        finally:
            with self.lock:
                self.in_flight.discard(v)

    def capture(self, user: dict[str, str], backfill: int) -> tuple[list[dict], str]:
        """The user's agenda as a snapshot: events that predate the connection, then the truth."""
        with self.lock:
            for i in range(backfill):
                self.clock += 1
                self.truth[(user["account_id"], user["user_id"], f"pre-{i}")] = (self.clock, "event.created",
                                                                                 f"pre-{i} ✓")
            as_of = (min(self.in_flight) - 1) if self.in_flight else self.clock
            items = [event(eid, title=title, updated_at=version(v))
                     for (a, u, eid), (v, kind, title) in self.truth.items()
                     if (a, u) == (user["account_id"], user["user_id"]) and kind != "event.deleted"]
        return items, version(as_of)


def test_snapshots_and_a_calendar_switch_under_faults_lose_nothing(chaos):
    platform = TimedPlatform(chaos)
    users = [platform.user() for _ in range(2)]
    mover = users[0]
    team = f"team-{uuid.uuid4().hex[:6]}@group.calendar.example"
    chaos.standin.state.add_user(mover["email"], calendars=[{"id": team, "summary": "Equipe"}])
    stream(platform, users, 20, seed=11)
    state = chaos.standin.state
    with state.lock:
        state.faults += [Fault(503, "backendError", methods=EVENT_CALLS, rate=0.04),
                         Fault(429, "rateLimitExceeded", methods=EVENT_CALLS, rate=0.03, retry_after=1),
                         Fault(0, "", methods=EVENT_CALLS, rate=0.03, delay=3.0)]
    webhooks = threading.Thread(target=stream, args=(platform, users, 80, 12), kwargs={"pause": 0.05})
    webhooks.start()
    sent = []
    try:
        for u, backfill in zip(users, (150, 60), strict=True):
            items, as_of = platform.capture(u, backfill)
            sid, r = SnapshotApi(chaos.url("integrations"), chaos.env, u).send(items, as_of, page_size=40)
            assert r.status_code == 202, r.text
            sent.append((u, sid, len(items) + r.json()["deletes"]))
        Browser(chaos).connect({**mover}, calendar_id=team)  # switch while all of it is in flight
    finally:
        webhooks.join(timeout=300)
    stream(platform, users, 20, seed=13)
    with state.lock:
        state.faults.clear()
    moved = {**mover, "email": team}
    platform.settle([moved, users[1]], timeout=300)
    old = [e for e in state.events_of(mover["email"]) if e["status"] != "cancelled"]
    assert old == [], f"{len(old)} events left behind in the old calendar"
    for u, sid, expected in sent:
        view = SnapshotApi(chaos.url("integrations"), chaos.env, u).wait_done(sid, timeout=120)
        assert sum(view["counts"].values()) == expected, view
