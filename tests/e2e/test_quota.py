"""Quota discipline: a user's burst stays under Calendar's per-user limit instead of bouncing off it.

The stand-in enforces 45 calls per 4 s per user (Calendar's 600/minute, compressed in time); the
worker paces at 8/s with a burst of 10, so at most 10 + 8 x 4 = 42 calls fall in any window; a burst of
120 changes must land whole with no call refused."""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import start_stack
from tests.e2e.conftest import Client
from tests.helpers import payload, wait_for

BURST = 120


@pytest.fixture(scope="module")
def paced_stack(emulator_hosts, artifacts):
    """This module's own stack, paced at 8 calls/s per user with a burst of 10 (the session's is not).
    Stack.start points this process's environment at it: the session stack's is put back after.
    (Its own name: session fixtures hold on to the session's ``stack``.)"""
    saved = dict(os.environ)
    s = start_stack(emulator_hosts, artifacts, "stack-quota", topic="quota-sync", CALENDAR_USER_RATE_PER_MINUTE="480",
                    CALENDAR_USER_BURST="10")
    try:
        yield s
    finally:
        s.stop()
        os.environ.clear()
        os.environ.update(saved)


def test_a_burst_completes_under_the_limit_with_nothing_lost(paced_stack):
    stack, platform = paced_stack, Client(paced_stack)
    tag = uuid.uuid4().hex[:8]
    user = {"account_id": f"acct-{tag}", "user_id": f"u-{tag}", "email": f"user-{tag}@example.com"}
    stack.connect(user["account_id"], user["user_id"], user["email"], in_process=True)
    state = stack.standin.state
    with state.lock:
        state.rate_limit_per_minute, state.rate_limit_window = 45, 4.0
        state.user_calls.clear()
    try:
        with ThreadPoolExecutor(8) as pool:
            hooks = list(pool.map(lambda i: platform.accepted(payload(
                account_id=user["account_id"], user_id=user["user_id"], event_id=f"import-{i}")), range(BURST)))
        live = wait_for(lambda: (e := platform.events(user["email"], include_cancelled=False)) and len(e) >= BURST
                        and e, timeout=120, interval=0.5, what="the whole burst in the calendar")
    finally:
        with state.lock:
            state.rate_limit_per_minute, state.rate_limit_window = None, 60.0
    assert sorted(e["extendedProperties"]["private"]["source_event_id"] for e in live.values()) == \
        sorted(f"import-{i}" for i in range(BURST))
    assert state.stats(user=user["email"])["rejected_rate_limit"] == 0  # paced below the limit: no 403 answered
    outcomes = [o for h in hooks for o in platform.outcomes(h)]
    assert outcomes.count("created") == BURST
