"""The notifications' share of the periodic maintenance job (sync/maintenance.py TASKS)."""

from __future__ import annotations


def republish_stale_outbox() -> dict[str, int]:
    """Publish outbox documents a crash left behind (older than a minute)."""
    from sync import bootstrap
    from sync.notifications import outbox

    return outbox.republish_stale(bootstrap.firestore_client(), bootstrap.notifications_publisher())
