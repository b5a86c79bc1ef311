"""The snapshot engine, from this instance's container (sync/bootstrap.py)."""

from __future__ import annotations

from sync import bootstrap
from sync.snapshots.apply import Snapshots


def engine() -> Snapshots:
    return bootstrap.container().snapshots
