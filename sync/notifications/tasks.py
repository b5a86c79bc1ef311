"""The notifications' share of the periodic maintenance job (sync/maintenance.py TASKS)."""

from __future__ import annotations


def republish_stale_outbox() -> dict[str, int]:
    """Publish outbox documents a crash left behind (older than a minute)."""
    from sync import bootstrap

    return bootstrap.container().outbox.republish_stale()
