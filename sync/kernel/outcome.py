"""What one unit of work did: a change applied, a job run, a drift check. One shape for all.

``acknowledge`` False hands the message back to Pub/Sub (after ``retry_after`` seconds, when
known). ``fields`` are identifiers and counts for the log line (the log keeps only allow-listed
ones); ``counts`` tallies what a job found, by kind (a drift check's ``restored``, ``ours``, …).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    name: str
    acknowledge: bool = True
    retry_after: float | None = None
    calendar_calls: int = 0
    fields: Mapping[str, Any] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
