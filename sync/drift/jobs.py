"""The ``drift_check`` job on the worker (the container's registry, sync/bootstrap.py)."""

from __future__ import annotations

from typing import Any

from sync.drift.check import DriftCheck
from sync.kernel.errors import AuthRevoked, CalendarUnavailable, Permanent
from sync.kernel.outcome import Outcome


class DriftJobs:
    def __init__(self, check: DriftCheck) -> None:
        self.drift = check

    def check(self, data: dict[str, Any]) -> Outcome:
        account_id, user_id = data.get("account_id"), data.get("user_id")
        if not isinstance(account_id, str) or not isinstance(user_id, str) or not account_id or not user_id:
            return Outcome("invalid_job")
        ids = {"account_id": account_id, "user_id": user_id}
        try:
            result = self.drift.run(account_id, user_id)
        except (AuthRevoked, CalendarUnavailable):
            return Outcome("drift_unavailable", fields=ids)  # the worker's next change marks the connection
        except Permanent as exc:
            return Outcome("drift_failed", fields={**ids, "reason": exc.reason})
        changed = result.counts["restored"] + result.counts["reported"]
        return Outcome(result.name, acknowledge=result.acknowledge, retry_after=result.retry_after,
                       fields={**ids, "calendar_calls": result.calendar_calls, "count": changed})
