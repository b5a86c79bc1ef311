"""Builders shared by the tests: payloads, signed requests, bounded waits."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from standardwebhooks.webhooks import Webhook

T = TypeVar("T")


def connect(db: Any, connection: Any, outbox: Any = None) -> None:
    """Seed an active connection on the Firestore emulator, as the connect flow leaves it."""
    from sync.adapters.firestore.connections import FirestoreConnections

    FirestoreConnections(db, outbox).activate(connection.account_id, connection.user_id, connection.calendar_id,
                                              connection.token_ref, connection.google_email)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def version(seconds: int, base: str = "2026-11-20T13:00:00") -> str:
    """A distinct RFC 3339 updated_at, ``seconds`` after ``base``."""
    dt = datetime.fromisoformat(base).replace(tzinfo=timezone.utc).timestamp() + seconds
    return datetime.fromtimestamp(dt, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.123Z")


def event(event_id: str = "ev-1001", updated: int = 0, **fields: Any) -> dict[str, Any]:
    body = {
        "id": event_id,
        "updated_at": version(updated),
        "title": "Diagnóstico — Cliente X",
        "start": {"date_time": "2026-11-25T14:00:00", "time_zone": "America/Sao_Paulo"},
        "end": {"date_time": "2026-11-25T15:30:00", "time_zone": "America/Sao_Paulo"},
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def payload(kind: str = "event.created", account_id: str = "acme-consulting", user_id: str = "u-42",
            **event_fields: Any) -> dict[str, Any]:
    ev = event(**event_fields)
    if kind == "event.deleted":
        ev = {"id": ev["id"], "updated_at": ev["updated_at"]}
    return {"type": kind, "account_id": account_id, "user_id": user_id, "event": ev}


def signed_headers(secret: str, body: bytes | str, webhook_id: str | None = None,
                   timestamp: datetime | None = None) -> dict[str, str]:
    """Headers as the platform sends them, signed by the standardwebhooks reference library."""
    text = body.decode() if isinstance(body, bytes) else body
    webhook_id = webhook_id or "msg_" + uuid.uuid4().hex
    timestamp = timestamp or datetime.now(timezone.utc)
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, timestamp, text),
    }


def push_envelope(message: dict[str, Any], message_id: str = "1") -> dict[str, Any]:
    """A Pub/Sub push body as the emulator sends it (no orderingKey, no deliveryAttempt)."""
    return {
        "message": {"data": base64.b64encode(json.dumps(message).encode()).decode(), "attributes": {},
                    "messageId": message_id, "publishTime": "2026-11-20T13:00:00Z"},
        "subscription": "projects/p/subscriptions/calendar-sync-worker",
    }


def wait_for(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
