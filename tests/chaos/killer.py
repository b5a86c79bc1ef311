"""SIGKILL a function mid-request at set points of a scenario, deterministically.

The old killers fired every few seconds of wall time, so on a loaded machine a scenario could end
with fewer kills than it required (seen in CI). Here each kill is due at a point of the scenario's
own progress (e.g. after the 40th change sent) and happens while the pusher feeding the function
has a request in flight; the scenario then checks it
got exactly the kills it planned.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

IN_FLIGHT_WAIT = 60.0  # seconds to wait for a request in flight before a kill: a scenario defect if none


class Killer:
    def __init__(self, stack: Any, name: str, pusher: Any, marks: list[int]) -> None:
        self.stack, self.name, self.pusher, self.marks = stack, name, pusher, sorted(marks)
        self.kills: list[float] = []
        self.progress = 0
        self.failure: str | None = None
        self._moved = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"killer-{name}")

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()

    def advance(self, steps: int = 1) -> None:
        """The scenario made progress (one change sent, one connection made)."""
        with self._moved:
            self.progress += steps
            self._moved.notify_all()

    def finish(self) -> None:
        """The scenario is over: the kills still due happen now (the queue is still draining)."""
        with self._moved:
            self.progress = max(self.progress, self.marks[-1] if self.marks else 0)
            self._moved.notify_all()
        self._thread.join(timeout=len(self.marks) * (IN_FLIGHT_WAIT + 90))

    def _run(self) -> None:
        for mark in self.marks:
            with self._moved:
                while self.progress < mark:
                    self._moved.wait()
            deadline = time.monotonic() + IN_FLIGHT_WAIT
            while not self.pusher.in_flight() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not self.pusher.in_flight():
                self.failure = f"no request in flight to {self.name} within {IN_FLIGHT_WAIT}s at mark {mark}"
                return
            try:
                self.stack.stop_function(self.name, signal.SIGKILL)
                self.kills.append(time.monotonic())
                time.sleep(0.5)
                self.stack.start_function(self.name)
            except Exception as exc:  # noqa: BLE001 - reported by check(), in the test's thread
                self.failure = f"kill at mark {mark}: {type(exc).__name__}: {exc}"
                return

    def check(self) -> None:
        """Every planned kill happened, each mid-request."""
        assert self.failure is None, self.failure
        assert len(self.kills) == len(self.marks), f"{len(self.kills)} kills of {len(self.marks)} planned"
