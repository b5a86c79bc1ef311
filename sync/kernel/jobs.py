"""Jobs: the worker's messages whose data carries a ``kind``, besides the changes it applies.

A change message is ``{"schema": 1, "webhook_id", "type", "account_id", "user_id", "event"}``;
a job is ``{"schema": 1, "kind": "<name>", …}``, published to the bulk lane (docs/snapshots.md#what-is-applied) by the
service itself (snapshot fan-out, calendar moves, drift checks, a disconnect's removal) or by Cloud
Scheduler (``maintenance``). ``Jobs`` maps each kind to its handler, built on first use by the
composition root (sync/bootstrap.py), so a worker instance builds only the capabilities whose
jobs it is given; ``Maintenance`` is the periodic job made of every capability's due work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sync.kernel import logs
from sync.kernel.errors import Retryable
from sync.kernel.outcome import Outcome

if TYPE_CHECKING:  # the ports are for the type checker: importing main stays cheap (a cold start)
    from sync.kernel.ports import Publisher

JobHandler = Callable[[dict[str, Any]], Outcome]  # the message data → what was done
Task = Callable[[], dict[str, int]]  # a maintenance task: does what is due now, returns counts to log
ATTRIBUTES = ("kind", "snapshot_id", "account_id", "user_id", "webhook_id", "type")


class UnknownJob(Exception):
    """A message with a ``kind`` this worker does not know (a newer producer, or garbage)."""


class Jobs:
    """kind → its handler, each made by its factory on first use and kept."""

    def __init__(self, factories: Mapping[str, Callable[[], JobHandler]]) -> None:
        self.factories = dict(factories)
        self._handlers: dict[str, JobHandler] = {}

    def handler(self, kind: object) -> JobHandler:
        factory = self.factories.get(kind) if isinstance(kind, str) else None
        if factory is None:
            raise UnknownJob(f"unknown job kind {str(kind)[:64]!r}")
        assert isinstance(kind, str)
        if kind not in self._handlers:
            self._handlers[kind] = factory()
        return self._handlers[kind]

    def run(self, data: dict[str, Any]) -> Outcome:
        return self.handler(data["kind"])(data)


class Maintenance:
    """The periodic job (Cloud Scheduler → bulk lane → worker, every few minutes): each task does
    what is due now (renew expiring Calendar channels, start due drift scans, re-publish stale
    notification outboxes, expire abandoned snapshots, resume stalled disconnects) and returns
    counts to log. A task that fails does not stop the others; the job is then redelivered, and
    every task is safe to run again."""

    def __init__(self, tasks: Sequence[tuple[str, Callable[[], Task]]]) -> None:
        self.tasks = list(tasks)  # (name, the task's factory)

    def run(self, data: dict[str, Any]) -> Outcome:
        counts: dict[str, int] = {}
        failed: list[str] = []
        for name, task in self.tasks:
            try:
                counts.update(task()())
            except Retryable as exc:
                failed.append(name)
                logs.log(logging.WARNING, "maintenance task will be retried",
                         {"function": "sync_worker", "task": name, "reason": exc.reason})
        if failed:
            return Outcome("maintenance_partial", acknowledge=False, fields=counts)
        return Outcome("maintenance_done", fields=counts)


def publish_jobs(publisher: Publisher, jobs: Sequence[tuple[dict[str, Any], str]]) -> None:
    """Publish (data, ordering key) pairs, all confirmed before returning; their ids and kind
    ride along as attributes (for dead-letter triage)."""
    publisher.publish_many([
        (json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), key,
         {k: str(data[k]) for k in ATTRIBUTES if k in data})
        for data, key in jobs])
