"""The local stack each chaos scenario runs on: its own topic and state, delivery by local.pusher."""

from __future__ import annotations

import shutil
from typing import Any

from local.pusher import Pusher, create_subscription
from local.stack import PROJECT, Stack
from tests.conftest import ARTIFACTS

# Short leases and Calendar timeouts so faults resolve within the scenario; pacing out of the way.
CHAOS_ENV = {"LEASE_SECONDS": "5", "CALENDAR_TIMEOUT_SECONDS": "2", "CALENDAR_USER_RATE_PER_MINUTE": "6000",
             "CALENDAR_USER_BURST": "100"}


class ChaosStack(Stack):
    """A stack whose worker is fed by local.pusher from pull subscriptions (real retries with the
    retry policy, delivery attempts, dead letters), the pushers kept for the verdict
    (tests/chaos/verdict.py) and stopped before the stack."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pushers: list[Pusher] = []

    def push_lane(self, topic: str, subscription: str, max_delivery_attempts: int, timeout: float = 10) -> Pusher:
        """Pull ``subscription`` of ``topic`` (dead letters to the stack's dead-letter topic) into the worker."""
        path = create_subscription(PROJECT, topic, subscription, f"{self.topic}-dead-letter", max_delivery_attempts)
        pusher = Pusher(path, self.url("sync_worker"), timeout=timeout).start()
        self.pushers.append(pusher)
        return pusher

    def stop(self) -> None:
        while self.pushers:
            self.pushers.pop().stop()
        super().stop()


def chaos_stack(emulator_hosts: dict, name: str, topic: str, **extra_env: str) -> ChaosStack:
    """A stack (not started yet) with a fresh state directory under test-artifacts/``name``, no
    emulator push subscriptions (local.pusher delivers, with real retries and dead letters)."""
    state_dir = ARTIFACTS / name
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    return ChaosStack(state_dir, topic=topic, push=False, shared_emulators=emulator_hosts,
                      extra_env={**CHAOS_ENV, **extra_env})
