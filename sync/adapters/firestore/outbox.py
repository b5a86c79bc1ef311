"""The transactional outbox of notifications, on Firestore (docs/notifications.md#delivery).

A notification is written to ``notification_outbox/{webhook_id}`` by the very transaction (or
batched write) that makes its transition durable, so either both are committed or neither is.
After the commit it is published to ``$SYNC_TOPIC-notifications`` (ordering key
``{account_id}/{user_id}``) and its document deleted. A crash in between leaves the document,
which is published again by the redelivery of the triggering message (the worker flushes a
connection's outbox when it meets an already-made transition) and by the periodic maintenance
job (documents older than a minute). A re-publish carries the same webhook-id, so the platform
sees at worst a duplicate it can drop, never a lost or a second transition.

Every store stages through ``FirestoreBase.stage`` inside its transaction and publishes through
``FirestoreBase.published`` after the commit: the one way a notification leaves the outbox, apart
from the flush of a connection's outbox (a redelivery that met a made transition) and the sweep.
Notifications are on when ``PLATFORM_WEBHOOK_URL`` is set (``enabled``); off, nothing is staged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from sync.adapters.firestore.base import WRITE_RETRY
from sync.kernel import logs
from sync.kernel.errors import Retryable
from sync.kernel.model import connection_key
from sync.kernel.notification import Notification
from sync.kernel.ports import Publisher

OUTBOX = "notification_outbox"
STALE_AFTER_SECONDS = 60.0
# A document younger than this is still being published by the process that staged it: another
# flusher leaves it alone (a second publish would be a needless duplicate) and asks to be retried.
FLUSH_GRACE_SECONDS = 5.0
SWEEP_LIMIT = 500


def to_doc(n: Notification) -> dict[str, Any]:
    return {"webhook_id": n.id, "type": n.type, "account_id": n.account_id, "user_id": n.user_id,
            "connection_key": n.connection_key, "ordering_key": n.ordering_key, "data": dict(n.data),
            "timestamp": n.timestamp}


def from_doc(doc: Mapping[str, Any]) -> Notification:
    return Notification(doc["type"], doc["account_id"], doc["user_id"], dict(doc.get("data") or {}),
                        doc["webhook_id"], doc["timestamp"])


def encode(notification: Notification) -> tuple[bytes, str, dict[str, str]]:
    """The Pub/Sub message of a notification: its data, ordering key and attributes."""
    data = json.dumps(notification.to_message(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data, notification.ordering_key, notification.attributes()


class FirestoreOutbox:
    """``notification_outbox/{webhook_id}``; ``publisher`` (built on first use) is the notifications
    topic's; without one, staged documents wait for a flush that has one."""

    def __init__(self, client: firestore.Client, publisher: Callable[[], Publisher] | None = None,
                 enabled: bool = False) -> None:
        self.db = client
        self.publisher = publisher
        self.enabled = enabled

    def ref(self, webhook_id: str) -> firestore.DocumentReference:
        return self.db.collection(OUTBOX).document(webhook_id)

    def stage(self, writer: Any, notification: Notification) -> bool:
        """Write the notification to the outbox through ``writer`` (a Transaction or a WriteBatch),
        so it commits with the transition. Setting the same document twice is harmless (same id).
        Returns False, writing nothing, when notifications are off."""
        if not self.enabled:
            return False
        writer.set(self.ref(notification.id), to_doc(notification))
        return True

    def publish(self, notifications: Iterable[Notification]) -> list[str]:
        """After the commit: publish each staged notification, then delete its outbox document.

        Returns the ids that could not be published (they stay in the outbox for a later flush).
        Never raises for a failed publish: the transition is durable, and so is its notification.
        ``notifications`` come oldest first; once one of a connection is not published, its later
        ones are not tried either (one connection's notifications are delivered in order).
        """
        notes = list(notifications)
        if not notes or self.publisher is None:
            return []
        publisher = self.publisher()
        failed: list[str] = []
        held: set[str] = set()  # connections (ordering keys) one of whose notifications was not published
        for n in notes:
            data, key, attributes = encode(n)
            if key in held:  # published now, it would overtake the earlier one: both wait for the flush
                failed.append(n.id)
                logs.log(logging.WARNING, "notification left in the outbox",
                         {**n.log_fields(), "outcome": "outbox_kept", "reason": "an earlier one is unpublished"})
                continue
            try:
                message_id = publisher.publish(data, key, attributes)
            except Retryable as exc:
                failed.append(n.id)
                held.add(key)
                logs.log(logging.WARNING, "notification left in the outbox",
                         {**n.log_fields(), "outcome": "outbox_kept", "reason": exc.reason})
                continue
            try:
                self.ref(n.id).delete(retry=WRITE_RETRY)
            except (gexc.GoogleAPIError, ValueError) as exc:  # published: a later flush re-sends the same id
                logs.log(logging.WARNING, "published notification not cleared from the outbox",
                         {**n.log_fields(), "error_type": type(exc).__name__})
            logs.log(logging.INFO, "notification published",
                     {**n.log_fields(), "outcome": "published", "message_id": message_id})
        return failed

    def pending(self, account_id: str, user_id: str) -> list[Notification]:
        """One connection's outbox, oldest first (a cheap query on one field)."""
        query = self.db.collection(OUTBOX).where(filter=firestore.FieldFilter(
            "connection_key", "==", connection_key(account_id, user_id)))
        return sorted((from_doc(s.to_dict() or {}) for s in query.stream()), key=lambda n: n.timestamp)

    def flush_pending(self, account_id: str, user_id: str, grace: float = FLUSH_GRACE_SECONDS,
                      now: datetime | None = None) -> int:
        """Publish whatever a crash left in one connection's outbox; returns how many were sent.

        Documents younger than ``grace`` belong to the flush of the transaction that staged them;
        if there are any, Retryable is raised (after sending the older ones), so the message that
        asked comes back later and finds them gone, or old enough to be taken over."""
        if self.publisher is None:
            return 0
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=grace)
        notes = self.pending(account_id, user_id)
        due = [n for n in notes if n.timestamp <= cutoff]
        if self.publish(due):
            raise Retryable("notification outbox: publish failed")
        if len(due) < len(notes):
            raise Retryable("notification outbox: a transition is being announced", retry_after=grace)
        return len(due)

    def republish_stale(self, older_than: float = STALE_AFTER_SECONDS,
                        now: datetime | None = None) -> dict[str, int]:
        """The maintenance task's work: publish outbox documents older than ``older_than`` seconds
        (a flush that never happened: the process died between commit and publish)."""
        if self.publisher is None:
            return {"notifications_republished": 0}
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=older_than)
        query = (self.db.collection(OUTBOX).where(filter=firestore.FieldFilter("timestamp", "<", cutoff))
                 .order_by("timestamp").limit(SWEEP_LIMIT))
        notes = [from_doc(s.to_dict() or {}) for s in query.stream()]
        failed = self.publish(notes)
        if failed:
            raise Retryable(f"notification outbox: {len(failed)} publish(es) failed")
        return {"notifications_republished": len(notes)}
