"""The fallback scan (CONTRACT §9): without pings (lost, or no channel), every active connection
is still checked every ``DRIFT_SCAN_MINUTES``. A maintenance task: the connections whose
``next_scan_at`` has come get a drift check (the same one a ping schedules; a check postpones
the next scan). Once per period, active connections not yet enrolled (connected before drift
repair existed) are enrolled, their first scans spread over the period.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sync import bootstrap
from sync.drift import wiring
from sync.drift.schedule import schedule_check
from sync.kernel.model import connection_key

BATCH = 500


def scan_due() -> dict[str, int]:
    s, store = bootstrap.config(), wiring.store()
    if s.drift_policy == "off":
        return {}
    now = datetime.now(timezone.utc)
    period = timedelta(minutes=s.drift_scan_minutes)
    enrolled = 0
    if store.sweep_due(period):
        known = store.enrolled()
        for account_id, user_id in store.active_connections():
            if connection_key(account_id, user_id) not in known:
                store.enroll(account_id, user_id, now + period * random.random())
                enrolled += 1
    started = 0
    for account_id, user_id in store.due("next_scan_at", now, BATCH):
        started += schedule_check(account_id, user_id, "scan")
        store.postpone_scan(account_id, user_id, now + period)
    return {"drift_scans_started": started, "drift_enrolled": enrolled}
