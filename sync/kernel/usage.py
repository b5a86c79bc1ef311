"""Calendar's usage limits: the pauses between tries of a ``usage_limited`` calendar. Pure.

Google makes a calendar read-only for hours after too many events or invitations (403
``quotaExceeded``); the service tries it again on its own, after ``USAGE_LIMIT_RETRY_SECONDS``
(default 900) the first time, each pause twice the one before, never more than two hours
(docs/errors-and-limits.md#usage-limits).
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_PAUSE_SECONDS = 2 * 3600.0
DEFAULT_FIRST_PAUSE_SECONDS = 900.0


def pause(first: float, failed: int) -> timedelta:
    """The pause before the next try, after ``failed`` tries that met the limit again (0: the
    pause after the write that met it first)."""
    if first <= 0:
        raise ValueError("the first pause must be positive")
    seconds = first * 2.0 ** min(max(failed, 0), 32)  # 2**32 × any positive pause is past the cap
    return timedelta(seconds=min(seconds, MAX_PAUSE_SECONDS))


def next_try(now: datetime, first: float, failed: int) -> datetime:
    return now + pause(first, failed)
