"""Work the worker does besides applying one change: messages whose data carries a ``kind``.

A change message is ``{"schema": 1, "webhook_id", "type", "account_id", "user_id", "event"}``;
a job is ``{"schema": 1, "kind": "<name>", …}``, published to the bulk lane (CONTRACT §7) by
the service itself (snapshot fan-out, drift checks) or by Cloud Scheduler (``maintenance``).
Each kind names its handler as ``"module:function"``, imported on first use so no function
pays at cold start for the jobs it never runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sync.kernel.outcome import Outcome

# kind → "module:function"; the function takes the message data and returns an Outcome.
HANDLERS: dict[str, str] = {
    "maintenance": "sync.maintenance:run",
    "drift_check": "sync.drift.job:run",
    # snapshots (CONTRACT §7): fan-out of a page or a chunk of deletes, one event, a calendar switch
    "snapshot_page": "sync.snapshots.apply:expand_job",
    "snapshot_deletes": "sync.snapshots.apply:expand_job",
    "snapshot_change": "sync.snapshots.apply:change_job",
    "calendar_move": "sync.snapshots.move:move_job",
    # a disconnect removing many events (CONTRACT §4): one step, then the next job of its chain
    "disconnect": "sync.disconnect.job:run",
}


class UnknownJob(Exception):
    """A message with a ``kind`` this worker does not know (a newer producer, or garbage)."""


def handler(kind: str) -> Callable[[dict[str, Any]], Outcome]:
    target = HANDLERS.get(kind) if isinstance(kind, str) else None
    if target is None:
        raise UnknownJob(f"unknown job kind {str(kind)[:64]!r}")
    module, _, name = target.partition(":")
    function: Callable[[dict[str, Any]], Outcome] = getattr(importlib.import_module(module), name)
    return function


def run(data: dict[str, Any]) -> Outcome:
    return handler(data["kind"])(data)
