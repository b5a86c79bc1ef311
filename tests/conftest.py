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

# TEST_ARTIFACTS: another folder, for a session running beside another one (scripts/chaos.sh).
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
        for kind in ("pubsub", "firestore"):
            started[kind] = emulators.start(kind, log_dir)
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


@pytest.fixture(scope="session")
def stack(emulator_hosts, artifacts):
    """The local stack (stand-in + three functions-framework processes) on the session's emulators."""
    state_dir = artifacts / "stack"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    # Throttle at 8 calls/s per user, under the stand-in's limit in the quota test (10/s).
    s = Stack(state_dir, extra_env={"LEASE_SECONDS": "15", "CALENDAR_USER_RATE_PER_MINUTE": "480",
                                    "CALENDAR_USER_BURST": "10"}, shared_emulators=emulator_hosts)
    s.start()
    try:
        yield s
    finally:
        s.stop()
