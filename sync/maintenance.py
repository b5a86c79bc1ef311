"""The periodic job (Cloud Scheduler → bulk lane → worker, every few minutes; CONTRACT §8, §9).

Each task is ``"module:function"``: a function of no arguments that does what is due now
(renew expiring Calendar channels, start due drift scans, re-publish stale notification
outboxes, expire abandoned snapshots) and returns counts to log. A task that fails does not
stop the others; the job is then redelivered, and every task is safe to run again.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from sync import logs
from sync.kernel.errors import Retryable
from sync.kernel.outcome import Outcome

TASKS: tuple[str, ...] = (
    "sync.drift.channels:renew_due",  # Calendar push channels expiring within a day (§9)
    "sync.drift.scan:scan_due",  # the fallback drift scan (§9)
    "sync.snapshots.apply:expire_task",  # snapshots never completed: receiving → expired after 24 h
    "sync.notifications.tasks:republish_stale_outbox",  # §8: outbox documents a crash left behind
    "sync.disconnect.job:resume_stalled",  # §4: a disconnect whose job chain was lost
)


def _task(target: str) -> Callable[[], dict[str, int]]:
    module, _, name = target.partition(":")
    function: Callable[[], dict[str, int]] = getattr(importlib.import_module(module), name)
    return function


def run(data: dict[str, Any]) -> Outcome:
    counts: dict[str, int] = {}
    failed: list[str] = []
    for target in TASKS:
        try:
            counts.update(_task(target)())
        except Retryable as exc:
            failed.append(target)
            logs.log(logging.WARNING, "maintenance task will be retried",
                     {"function": "sync_worker", "task": target, "reason": exc.reason})
    if failed:
        return Outcome("maintenance_partial", acknowledge=False, fields=counts)
    return Outcome("maintenance_done", fields=counts)
