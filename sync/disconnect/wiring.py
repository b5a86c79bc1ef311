"""The disconnect's objects, from this instance's container (sync/bootstrap.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sync import bootstrap

KIND = "disconnect"


def now() -> datetime:
    return datetime.now(timezone.utc)


def store() -> Any:
    return bootstrap.container().disconnect_store


def disconnects() -> Any:
    return bootstrap.container().disconnects


def ordering_key(account_id: str, user_id: str) -> str:
    return f"{account_id}/{user_id}/~disconnect"


def publish_step(record: dict[str, Any]) -> None:
    """The job that goes on with this disconnect, at the chain's current sequence number."""
    data = {"schema": 1, "kind": KIND, "account_id": record["account_id"], "user_id": record["user_id"],
            "disconnect_id": record["disconnect_id"], "seq": int(record.get("job_seq", 0))}
    bootstrap.bulk_publisher().publish(
        json.dumps(data, separators=(",", ":")).encode("utf-8"), ordering_key(record["account_id"], record["user_id"]),
        {"kind": KIND, "account_id": record["account_id"], "user_id": record["user_id"]})
