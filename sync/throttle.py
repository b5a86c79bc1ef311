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

    def reserve(self, user: str) -> float:
        """Take one call for ``user``; return how long to wait before making it (0: now)."""
        with self.lock:
            now = self.clock()
            until = self.cooldown_until.get(user, 0.0)
            tokens, at = self.buckets.get(user, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate) - 1.0
            self.buckets[user] = (tokens, now)
            self.buckets.move_to_end(user)
            while len(self.buckets) > _MAX_USERS:
                self.buckets.popitem(last=False)
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
            tokens, at = self.buckets.get(user, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0 + keep:
                if take:
                    self.buckets[user] = (tokens - 1.0, now)
                    self.buckets.move_to_end(user)
                return 0.0
            return (1.0 + keep - tokens) / self.rate

    def give_back(self, user: str) -> None:
        """The reserved call was not made (it will be retried later)."""
        with self.lock:
            tokens, at = self.buckets.get(user, (self.burst, self.clock()))
            self.buckets[user] = (min(self.burst, tokens + 1.0), at)

    def cool_down(self, user: str, seconds: float | None) -> None:
        with self.lock:
            until = self.clock() + (seconds if seconds and seconds > 0 else DEFAULT_COOLDOWN)
            self.cooldown_until[user] = max(until, self.cooldown_until.get(user, 0.0))
