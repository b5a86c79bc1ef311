"""Bring an existing Google grant in without a browser (contract §6 ``import-connection``)."""

from __future__ import annotations

from typing import Any

from sync.apply.parked import resume_parked
from sync.kernel.model import connection_key


def import_connection(store: Any, vault: Any, publisher: Any, *, account_id: str, user_id: str,
                      calendar_id: str, refresh_token: str, google_email: str | None = None) -> dict[str, Any]:
    """Store the token the way the connect flow does, make the connection active, and send
    any changes parked while it was not back through the queue."""
    if not refresh_token.strip():
        raise ValueError("the refresh token file is empty")
    # One secret per connection: a new version, and the older ones retired once this is in use.
    ref = vault.store_refresh_token(connection_key(account_id, user_id), refresh_token.strip())
    from sync import bootstrap

    bootstrap.container().connections.activate(account_id, user_id, calendar_id, ref, google_email)
    vault.retire_others(ref)
    bootstrap.container().channels.activated(account_id, user_id)  # §9: watch the calendar (best effort)
    resumed = resume_parked(store, publisher, account_id, user_id)
    return {"account_id": account_id, "user_id": user_id, "status": "active", "calendar_id": calendar_id,
            "resumed_parked_changes": resumed}
