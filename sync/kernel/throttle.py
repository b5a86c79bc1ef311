"""Per-user Calendar quota discipline, per worker instance. Pure (clock injected).

Calendar allows 600 requests/minute per user. A token bucket per user spaces this instance's
calls below a configured rate; a short wait is taken in place, a longer one is handed back to
Pub/Sub as a retry. When Calendar still says "slow down" (403 rate limit, 429), the user is
cooled down for its ``Retry-After`` (or a default), so the instance stops spending quota on
calls that would bounce.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sync.kernel.errors import Retryable

DEFAULT_COOLDOWN = 10.0
_MAX_USERS = 10_000


class UserThrottle:
    def __init__(self, per_minute: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.lock = threading.Lock()
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # user → (tokens, at)
        self.cooldown_until: dict[str, float] = {}
        # Bulk work (snapshots, moves) takes a token only while this many stay for live changes.
        self.live_reserve = min(3.0, burst / 2)

    def _level(self, user: str, now: float) -> float:
        """The user's tokens now (refilled since last seen, up to the burst). Call under the lock."""
        tokens, at = self.buckets.get(user, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def _set(self, user: str, tokens: float, now: float) -> None:
        self.buckets[user] = (tokens, now)
        self.buckets.move_to_end(user)
        while len(self.buckets) > _MAX_USERS:
            self.buckets.popitem(last=False)

    def reserve(self, user: str) -> float:
        """Take one call for ``user``; return how long to wait before making it (0: now)."""
        with self.lock:
            now = self.clock()
            until = self.cooldown_until.get(user, 0.0)
            tokens = self._level(user, now) - 1.0
            self._set(user, tokens, now)
            wait = 0.0 if tokens >= 0 else -tokens / self.rate
            return max(wait, until - now)

    def try_take(self, user: str, keep: float = 0.0, take: bool = True) -> float:
        """Take one call for ``user`` only if ``keep`` tokens remain after it (bulk work never
        queues ahead of live changes); return 0 when taken, else how long until it could be.
        ``take`` False only looks."""
        with self.lock:
            now = self.clock()
            until = self.cooldown_until.get(user, 0.0)
            if until > now:
                return until - now
            tokens = self._level(user, now)
            if tokens >= 1.0 + keep:
                if take:
                    self._set(user, tokens - 1.0, now)
                return 0.0
            return (1.0 + keep - tokens) / self.rate

    def wait_turn(self, user: str, max_wait: float, sleep: Callable[[float], None]) -> float | None:
        """A live call's turn: wait for it here if that takes at most ``max_wait`` and return None;
        else give the call back and return the wait, for the caller to hand to Pub/Sub."""
        wait = self.reserve(user)
        if wait > max_wait:
            self.give_back(user)
            return wait
        if wait > 0:
            sleep(wait)
        return None

    def wait_bulk_turn(self, user: str, max_wait: float, sleep: Callable[[float], None]) -> float | None:
        """A bulk call's turn, taken only while ``live_reserve`` tokens stay for live changes:
        None once taken (after waiting at most ``max_wait`` in all), else the wait still ahead."""
        waited = 0.0
        while (wait := self.try_take(user, self.live_reserve)) > 0:
            if waited + wait > max_wait:
                return wait
            sleep(wait)
            waited += wait
        return None

    def take_bulk_turn(self, user: str, max_wait: float, sleep: Callable[[float], None]) -> None:
        """``wait_bulk_turn`` for background work (drift checks, conference follow-ups): raise
        Retryable with the wait still ahead, for Pub/Sub to hold the job, when none came in time."""
        wait = self.wait_bulk_turn(user, max_wait, sleep)
        if wait is not None:
            raise Retryable("throttled", retry_after=wait)

    def give_back(self, user: str) -> None:
        """The reserved call was not made (it will be retried later)."""
        with self.lock:
            tokens, at = self.buckets.get(user, (self.burst, self.clock()))
            self.buckets[user] = (min(self.burst, tokens + 1.0), at)

    def cool_down(self, user: str, seconds: float | None) -> None:
        with self.lock:
            until = self.clock() + (seconds if seconds and seconds > 0 else DEFAULT_COOLDOWN)
            self.cooldown_until[user] = max(until, self.cooldown_until.get(user, 0.0))
