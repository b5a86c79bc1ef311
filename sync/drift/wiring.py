"""Drift repair's objects, built on first use and kept for the instance (as sync/bootstrap.py)."""

from __future__ import annotations

from typing import Any

from sync import bootstrap


def store() -> Any:
    def make() -> Any:
        from sync.drift.store import FirestoreDriftStore

        return FirestoreDriftStore(bootstrap.firestore_client(), bootstrap.config().drift_scan_minutes,
                                   notifications=bootstrap.notifications_publisher)

    return bootstrap.once("drift_store", make)


def check() -> Any:
    """The worker's drift check: its Calendar calls paced by the same per-user throttle as writes."""

    def make() -> Any:
        from sync.drift.check import DriftCheck
        from sync.drift.schedule import DEBOUNCE_SECONDS

        s = bootstrap.config()
        return DriftCheck(store(), bootstrap.store(), bootstrap.calendars(), policy=s.drift_policy,
                          throttle=bootstrap.sync_service().throttle, max_wait=s.throttle_max_wait_seconds,
                          lease_seconds=s.lease_seconds, debounce=DEBOUNCE_SECONDS)

    return bootstrap.once("drift_check", make)
