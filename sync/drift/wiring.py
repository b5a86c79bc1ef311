"""Drift repair's objects, from this instance's container (sync/bootstrap.py)."""

from __future__ import annotations

from typing import Any

from sync import bootstrap


def store() -> Any:
    return bootstrap.container().drift_store


def check() -> Any:
    return bootstrap.container().drift_check
