"""Session fixtures: the real emulators and the whole local stack, started once and stopped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from local import emulators, shutdown
from local.stack import Stack

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """An interrupted or terminated test run (Ctrl-C, CI's time limit, `timeout`) still tears the
    emulators and functions down; a second signal during that kills what is left at once."""
    shutdown.install()

# TEST_ARTIFACTS: another folder, for a session running beside another one (scripts/sessions.py).
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS") or ROOT / "test-artifacts")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def emulator_hosts(artifacts):
    """Pub/Sub and Firestore emulators on free loopback ports, for the whole session."""
    log_dir = artifacts / "emulators"
    shutil.rmtree(log_dir, ignore_errors=True)
    started = {}
    try:
        started.update(emulators.start_all(("pubsub", "firestore"), log_dir))
        saved = {k: os.environ.get(k) for k in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST",
                                                "GOOGLE_CLOUD_PROJECT")}
        os.environ.update(PUBSUB_EMULATOR_HOST=started["pubsub"].host,
                          FIRESTORE_EMULATOR_HOST=started["firestore"].host,
                          GOOGLE_CLOUD_PROJECT="local-project")
        yield started
    finally:
        for proc in started.values():
            proc.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def start_stack(emulator_hosts, artifacts, name: str, topic: str = "calendar-sync", **extra_env: str) -> Stack:
    """A local stack (stand-in + the functions) on the session's emulators, state in artifacts/``name``."""
    state_dir = artifacts / name
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    return Stack(state_dir, topic=topic, extra_env={"LEASE_SECONDS": "15", **extra_env},
                 shared_emulators=emulator_hosts).start()


@pytest.fixture(scope="session")
def stack(emulator_hosts, artifacts):
    """The local stack (stand-in + the functions) on the session's emulators. Calendar pacing out of
    the way (as in make chaos and make bench): tests/e2e/test_quota.py has a stack of its own, paced.
    A usage-limited calendar is tried again after one second, not 15 minutes (tests/e2e/test_usage_limits.py)."""
    s = start_stack(emulator_hosts, artifacts, "stack", CALENDAR_USER_RATE_PER_MINUTE="6000", CALENDAR_USER_BURST="100",
                    USAGE_LIMIT_RETRY_SECONDS="1")
    try:
        yield s
    finally:
        s.stop()
