"""The disconnect's objects, built on first use and kept for the instance (as sync/bootstrap.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sync import bootstrap

KIND = "disconnect"


def now() -> datetime:
    return datetime.now(timezone.utc)


def store() -> Any:
    def make() -> Any:
        from sync.disconnect.store import DisconnectStore
        from sync.drift import wiring as drift_wiring
        from sync.snapshots.store import SnapshotStore

        db = bootstrap.firestore_client()
        return DisconnectStore(db, drift_wiring.store(), SnapshotStore(db),
                               notifications=bootstrap.notifications_publisher)

    return bootstrap.once("disconnect_store", make)


def disconnects() -> Any:
    """The steps, with Calendar paced by the instance's per-user throttle (bulk budget)."""

    def make() -> Any:
        from sync.disconnect.removal import Disconnects
        from sync.drift.channels import stop_forgotten
        from sync.integrations import oauth

        s = bootstrap.config()
        return Disconnects(store(), bootstrap.calendars(), bootstrap.vault(),
                           revoke=lambda token: oauth.revoke(s.oauth_revoke_uri, token),
                           stop_channel=stop_forgotten, throttle=bootstrap.sync_service().throttle,
                           sweep_grace=2 * s.calendar_timeout_seconds + 5)

    return bootstrap.once("disconnects", make)


def ordering_key(account_id: str, user_id: str) -> str:
    return f"{account_id}/{user_id}/~disconnect"


def publish_step(record: dict[str, Any]) -> None:
    """The job that goes on with this disconnect, at the chain's current sequence number."""
    data = {"schema": 1, "kind": KIND, "account_id": record["account_id"], "user_id": record["user_id"],
            "disconnect_id": record["disconnect_id"], "seq": int(record.get("job_seq", 0))}
    bootstrap.bulk_publisher().publish(
        json.dumps(data, separators=(",", ":")).encode("utf-8"), ordering_key(record["account_id"], record["user_id"]),
        {"kind": KIND, "account_id": record["account_id"], "user_id": record["user_id"]})
