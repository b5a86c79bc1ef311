"""The local stack each chaos scenario runs on: its own topic and state, delivery by local.pusher."""

from __future__ import annotations

import shutil

from local.stack import Stack
from tests.conftest import ARTIFACTS

# Short leases and Calendar timeouts so faults resolve within the scenario; pacing out of the way.
CHAOS_ENV = {"LEASE_SECONDS": "5", "CALENDAR_TIMEOUT_SECONDS": "2", "CALENDAR_USER_RATE_PER_MINUTE": "6000",
             "CALENDAR_USER_BURST": "100"}


def chaos_stack(emulator_hosts: dict, name: str, topic: str, **extra_env: str) -> Stack:
    """A stack (not started yet) with a fresh state directory under test-artifacts/``name``, no
    emulator push subscriptions (local.pusher delivers, with real retries and dead letters)."""
    state_dir = ARTIFACTS / name
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    return Stack(state_dir, topic=topic, push=False, shared_emulators=emulator_hosts,
                 extra_env={**CHAOS_ENV, **extra_env})
