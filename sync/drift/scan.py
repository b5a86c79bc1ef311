"""The fallback scan (docs/drift.md#how-it-notices): without pings (lost, or no channel), every active connection
is still checked every ``DRIFT_SCAN_MINUTES``. A maintenance task: the connections whose
``next_scan_at`` has come get a drift check (the same one a ping schedules; a check postpones
the next scan). Once per period, active connections not yet enrolled (connected before drift
repair existed) are enrolled, their first scans spread over the period.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sync.drift.schedule import Scheduler
from sync.kernel.clock import utcnow
from sync.kernel.model import connection_key
from sync.kernel.ports import DriftStore

BATCH = 500


class Scan:
    def __init__(self, store: DriftStore, scheduler: Scheduler, policy: str = "restore", scan_minutes: float = 360.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.scheduler = scheduler
        self.policy = policy
        self.period = timedelta(minutes=scan_minutes)
        self.clock = clock

    def scan_due(self) -> dict[str, int]:
        if self.policy == "off":
            return {}
        now = self.clock()
        enrolled = 0
        if self.store.sweep_due(self.period):
            known = self.store.enrolled()
            for account_id, user_id in self.store.active_connections():
                if connection_key(account_id, user_id) not in known:
                    self.store.enroll(account_id, user_id, now + self.period * random.random())
                    enrolled += 1
        started = 0
        for account_id, user_id in self.store.due("next_scan_at", now, BATCH):
            started += self.scheduler.schedule(account_id, user_id, "scan")
            self.store.postpone_scan(account_id, user_id, now + self.period)
        return {"drift_scans_started": started, "drift_enrolled": enrolled}
