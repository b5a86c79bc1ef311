"""The wall clock every service takes by default (each takes a ``clock`` argument: tests pass their own)."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)
