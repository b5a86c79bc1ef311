"""A notification to the platform and its deterministic ``webhook-id``. Pure: standard library only.

Body (docs/notifications.md#body): ``{"type", "timestamp": RFC 3339, "data": {"account_id", "user_id", …}}``.
The id is ``ntf_`` + a digest of the transition's identity, so staging the same transition
twice (a transaction retried) names the same outbox document, and every re-publish of it is
the same ``webhook-id`` for the platform to deduplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sync.kernel.model import connection_key

ACTIVATED = "connection.activated"
NEEDS_REAUTH = "connection.needs_reauth"
CALENDAR_UNAVAILABLE = "connection.calendar_unavailable"
DISCONNECTED = "connection.disconnected"
SNAPSHOT_COMPLETED = "snapshot.completed"
EVENT_FAILED = "event.failed"
DRIFT_REPAIRED = "event.drift_repaired"
USAGE_LIMITED = "connection.usage_limited"
RESUMED = "connection.resumed"
TYPES = (ACTIVATED, NEEDS_REAUTH, CALENDAR_UNAVAILABLE, DISCONNECTED, SNAPSHOT_COMPLETED, EVENT_FAILED,
         DRIFT_REPAIRED, USAGE_LIMITED, RESUMED)
MESSAGE_SCHEMA = 1


def notification_id(type_: str, account_id: str, user_id: str, identity: Sequence[str]) -> str:
    """``ntf_`` + 32 hex of SHA-256 over (type, account, user, identity…): stable for one transition."""
    material = "\x1f".join((type_, account_id, user_id, *identity)).encode("utf-8")
    return "ntf_" + hashlib.sha256(material).hexdigest()[:32]


def rfc3339(instant: datetime) -> str:
    if instant.tzinfo is None:
        raise ValueError("naive datetime")
    return instant.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Notification:
    type: str
    account_id: str
    user_id: str
    data: Mapping[str, Any]  # beyond the ids; identifiers, counts and reasons only: no title, no token
    id: str  # the webhook-id
    timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown notification type {self.type!r}")
        if self.timestamp.tzinfo is None:
            raise ValueError("naive timestamp")

    @classmethod
    def new(cls, type_: str, account_id: str, user_id: str, data: Mapping[str, Any], identity: Sequence[str],
            timestamp: datetime | None = None) -> Notification:
        """A notification whose id is derived from ``identity``: whatever names this one transition."""
        return cls(type_, account_id, user_id, dict(data), notification_id(type_, account_id, user_id, identity),
                   timestamp or datetime.now(timezone.utc))

    @property
    def ordering_key(self) -> str:
        """Pub/Sub ordering key of the notifications topic: one connection's notifications in order."""
        return f"{self.account_id}/{self.user_id}"

    @property
    def connection_key(self) -> str:
        return connection_key(self.account_id, self.user_id)

    def to_body(self) -> dict[str, Any]:
        """What the platform receives."""
        return {"type": self.type, "timestamp": rfc3339(self.timestamp),
                "data": {"account_id": self.account_id, "user_id": self.user_id, **self.data}}

    def to_message(self) -> dict[str, Any]:
        """The Pub/Sub message data: the body and its webhook-id (everything the deliverer needs)."""
        return {"schema": MESSAGE_SCHEMA, "webhook_id": self.id, **self.to_body()}

    def attributes(self) -> dict[str, str]:
        return {"webhook_id": self.id, "type": self.type, "account_id": self.account_id, "user_id": self.user_id}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Notification:
        """The inverse of ``to_message``; ValueError when it is not one."""
        try:
            data = dict(message["data"])
            account_id, user_id = data.pop("account_id"), data.pop("user_id")
            stamp = datetime.fromisoformat(str(message["timestamp"]).replace("Z", "+00:00"))
            ok = (message.get("schema") == MESSAGE_SCHEMA and isinstance(message["webhook_id"], str)
                  and message["webhook_id"] and isinstance(account_id, str) and isinstance(user_id, str))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError("not a notification message") from None
        if not ok:
            raise ValueError("not a notification message")
        return cls(str(message["type"]), account_id, user_id, data, message["webhook_id"], stamp)

    def log_fields(self) -> dict[str, Any]:
        """Identifiers only: safe to log."""
        fields: dict[str, Any] = {"webhook_id": self.id, "notification_type": self.type,
                                  "account_id": self.account_id, "user_id": self.user_id,
                                  "ordering_key": self.ordering_key}
        for key in ("event_id", "snapshot_id"):
            if isinstance(self.data.get(key), str):
                fields[key] = self.data[key]
        return fields


# -- one builder per type (the table in docs/notifications.md#body) ----------------------------------
def activated(account_id: str, user_id: str, google_email: str | None, calendar_id: str,
              previous_calendar_id: str | None, identity: Sequence[str],
              timestamp: datetime | None = None) -> Notification:
    return Notification.new(ACTIVATED, account_id, user_id, {
        "google_email": google_email, "calendar_id": calendar_id, "previous_calendar_id": previous_calendar_id,
    }, identity, timestamp)


def needs_reauth(account_id: str, user_id: str, google_email: str | None, reason: str, identity: Sequence[str],
                 timestamp: datetime | None = None) -> Notification:
    return Notification.new(NEEDS_REAUTH, account_id, user_id, {"google_email": google_email, "reason": reason},
                            identity, timestamp)


def calendar_unavailable(account_id: str, user_id: str, calendar_id: str | None, identity: Sequence[str],
                         timestamp: datetime | None = None) -> Notification:
    return Notification.new(CALENDAR_UNAVAILABLE, account_id, user_id, {"calendar_id": calendar_id}, identity,
                            timestamp)


def usage_limited(account_id: str, user_id: str, retry_at: datetime, identity: Sequence[str],
                  timestamp: datetime | None = None) -> Notification:
    """The calendar hit Google's usage limits: its changes are parked until the retry at ``retry_at``
    succeeds (docs/errors-and-limits.md#usage-limits). ``identity``: the claim that met the limit."""
    return Notification.new(USAGE_LIMITED, account_id, user_id, {"retry_at": rfc3339(retry_at)}, identity, timestamp)


def resumed(account_id: str, user_id: str, calendar_id: str | None, identity: Sequence[str],
            timestamp: datetime | None = None) -> Notification:
    """A ``usage_limited`` calendar took a write again: the connection is active, its parked changes
    are on their way. ``identity``: the retry that succeeded."""
    return Notification.new(RESUMED, account_id, user_id, {"calendar_id": calendar_id}, identity, timestamp)


def disconnected(account_id: str, user_id: str, events_removed: int, identity: Sequence[str],
                 timestamp: datetime | None = None) -> Notification:
    return Notification.new(DISCONNECTED, account_id, user_id, {"events_removed": events_removed}, identity,
                            timestamp)


def snapshot_completed(account_id: str, user_id: str, snapshot_id: str, counts: Mapping[str, int],
                       timestamp: datetime | None = None) -> Notification:
    """One per snapshot: the snapshot id is the transition's identity."""
    return Notification.new(SNAPSHOT_COMPLETED, account_id, user_id,
                            {"snapshot_id": snapshot_id, "counts": dict(counts)}, (snapshot_id,), timestamp)


def event_failed(account_id: str, user_id: str, event_id: str, version: str, reason: str,
                 timestamp: datetime | None = None) -> Notification:
    """One per (event, version): a version is recorded when it fails, so it cannot fail twice."""
    return Notification.new(EVENT_FAILED, account_id, user_id,
                            {"event_id": event_id, "version": version, "reason": reason}, (event_id, version),
                            timestamp)


def drift_repaired(account_id: str, user_id: str, event_id: str, kind: str, identity: Sequence[str],
                   timestamp: datetime | None = None, restored: bool = True) -> Notification:
    """``kind`` is ``edited`` or ``deleted``; ``identity`` names the drift repaired (e.g. the Google
    etag or updated time that was seen), so the same drift found twice is the same webhook-id.
    ``restored`` (an extension of the contract's data) is False when ``DRIFT_POLICY=report``."""
    if kind not in ("edited", "deleted"):
        raise ValueError("kind must be 'edited' or 'deleted'")
    return Notification.new(DRIFT_REPAIRED, account_id, user_id,
                            {"event_id": event_id, "kind": kind, "restored": restored}, (event_id, *identity),
                            timestamp)
