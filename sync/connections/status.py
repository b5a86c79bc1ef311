"""The status route's view of a connection (docs/connections.md#status): the connection, its
figures, and what each capability adds while connected (``sections``: the latest snapshot, a
calendar switch in progress, …) or while a disconnect removes events (``removing``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sync.kernel.model import ConnectionStatus
from sync.kernel.notification import rfc3339
from sync.kernel.ports import ConnectionStore

Section = Callable[[str, str], Any]  # (account, user) → the section's value (None: nothing to show)
NO_COUNTS = {"synced": 0, "failed": 0, "parked": 0, "deleted": 0}


class StatusReport:
    def __init__(self, connections: ConnectionStore, sections: Mapping[str, Section], removing: Section) -> None:
        self.connections = connections
        self.sections = dict(sections)
        self.removing = removing

    def status(self, account_id: str, user_id: str) -> dict[str, Any]:
        conn = self.connections.get_connection(account_id, user_id)
        # Disconnecting is disconnected for the platform: what is left is being removed.
        if conn is not None and conn.status is ConnectionStatus.DISCONNECTING:
            return {"account_id": account_id, "user_id": user_id, "status": "disconnected", "google_email": None,
                    "calendar_id": None, "last_synced_at": None, "last_error": None, "counts": dict(NO_COUNTS),
                    "retry_at": None,
                    **dict.fromkeys(self.sections), "removing": self.removing(account_id, user_id)}
        status = conn.status.value if conn else "disconnected"
        figures: dict[str, Any] = self.connections.status_figures(account_id, user_id) if conn else {
            "last_synced_at": None, "last_error": None, "counts": dict(NO_COUNTS)}
        if status == "needs_reauth":
            figures["last_error"] = {"reason": "google_grant_revoked", "event_id": None, "at": None}
        elif status == "calendar_unavailable":
            figures["last_error"] = {"reason": "calendar_unavailable", "event_id": None, "at": None}
        elif status == "usage_limited":
            figures["last_error"] = {"reason": "calendar_usage_limits_exceeded", "event_id": None, "at": None}
        # When a usage_limited calendar is tried again (docs/errors-and-limits.md#usage-limits).
        retry_at = rfc3339(conn.retry_at) if conn and status == "usage_limited" and conn.retry_at else None
        return {"account_id": account_id, "user_id": user_id, "status": status,
                "google_email": conn.google_email if conn and status != "disconnected" else None,
                "calendar_id": conn.calendar_id if conn and status != "disconnected" else None, **figures,
                "retry_at": retry_at,
                **{name: section(account_id, user_id) if conn else None for name, section in self.sections.items()},
                "removing": None}
