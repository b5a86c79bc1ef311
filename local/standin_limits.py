"""Calendar's usage limits on the stand-in: a user whose calendar Google has made read-only.

Google answers 403 ``quotaExceeded`` ("Calendar usage limits exceeded.", domain ``usageLimits``)
when a user has created too many events or invited too many external guests in a short time; the
user then loses edit access for hours. This is not the API quota (``rateLimitExceeded``,
``userRateLimitExceeded``): waiting seconds does not help. Modelled per user, switched by a test:
every write (insert, update, patch, delete, move) of that user is refused; reads, listings, push
channels and the calendar list still answer.
"""

from __future__ import annotations

import math
import time

from local.standin_errors import ApiError


def usage_limits_exceeded() -> ApiError:
    return ApiError(403, "quotaExceeded", "Calendar usage limits exceeded.", domain="usageLimits")


class UsageLimits:
    """Users over Calendar's usage limits, each until a wall-clock time (``inf``: until lifted)."""

    def __init__(self) -> None:
        self.until: dict[str, float] = {}

    def limit(self, email: str, seconds: float | None = None, until: float | None = None) -> float:
        """Make ``email``'s calendars read-only for ``seconds``, until the epoch time ``until``,
        or (neither given) until lifted. Returns the end as an epoch time (``inf`` for none)."""
        if seconds is not None and until is not None:
            raise ValueError("give seconds or until, not both")
        end = time.time() + seconds if seconds is not None else until if until is not None else math.inf
        self.until[email.lower()] = end
        return end

    def lift(self, email: str | None = None) -> None:
        """Lift the limit of ``email`` (of every user when ``None``)."""
        if email is None:
            self.until.clear()
        else:
            self.until.pop(email.lower(), None)

    def limited_until(self, email: str) -> float | None:
        end = self.until.get(email.lower())
        if end is not None and end <= time.time():
            del self.until[email.lower()]
            return None
        return end

    def check(self, email: str) -> None:
        """Refuse a write of ``email`` while the limit holds, exactly as Google does."""
        if self.limited_until(email) is not None:
            raise usage_limits_exceeded()

    def listing(self) -> dict[str, float | None]:
        """Each limited user → the end of the limit (epoch seconds; ``None``: until lifted)."""
        for email in list(self.until):
            self.limited_until(email)
        return {e: (None if math.isinf(t) else t) for e, t in sorted(self.until.items())}
