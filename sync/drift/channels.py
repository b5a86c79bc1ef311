"""Calendar push channels (``events.watch``): one per active connection, at
``$PUBLIC_BASE_URL/google/notifications``, with a secret token of its own (only its SHA-256 is
stored). Opened on activation (calendar chosen, import-connection), replaced on a calendar
switch and before expiry (the old one stopped), stopped on disconnect. Opening is best effort:
a connection without a channel is still checked by the fallback scan, and the maintenance job
tries again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sync.kernel import logs
from sync.kernel.clock import utcnow
from sync.kernel.errors import SyncError
from sync.kernel.ports import Calendars, CalendarSession, ChannelRecord, DriftStore, MappingStore

ADDRESS_PATH = "/google/notifications"
RETRY_AFTER = timedelta(minutes=15)
RENEW_MARGIN = timedelta(days=1)
_FAR = timedelta(days=3650)


def _log(level: int, message: str, account_id: str, user_id: str, outcome: str, reason: str = "") -> None:
    fields = {"function": "drift", "account_id": account_id, "user_id": user_id, "outcome": outcome}
    logs.log(level, message, {**fields, "reason": reason} if reason else fields)


class Channels:
    """The ``Watches`` a connection's life calls (``activated``, ``stop_forgotten``) and the
    maintenance task that renews channels (``renew_due``)."""

    def __init__(self, store: DriftStore, mappings: MappingStore, calendars: Calendars, policy: str = "restore",
                 public_base_url: str = "", ttl_seconds: float = 7 * 24 * 3600.0, scan_minutes: float = 360.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.mappings = mappings
        self.calendars = calendars
        self.policy = policy
        self.public_base_url = public_base_url
        self.ttl_seconds = ttl_seconds
        self.scan_minutes = scan_minutes
        self.clock = clock

    def open(self, account_id: str, user_id: str) -> str:
        """Open the connection's channel on its calendar (replacing any other); the outcome."""
        now = self.clock()
        if self.policy == "off":
            self.stop(account_id, user_id)
            return "off"
        connection = self.mappings.get_connection(account_id, user_id)
        if connection is None or not connection.can_write:
            self.store.channel_failed(account_id, user_id, now + timedelta(minutes=self.scan_minutes))
            return "inactive"
        if not self.public_base_url:
            self.store.channel_failed(account_id, user_id, now + _FAR)
            return "no_address"
        calendar = self.calendars.session(connection)
        channel_id, token = uuid.uuid4().hex, secrets.token_urlsafe(32)
        try:
            answer = calendar.watch(str(connection.calendar_id), channel_id, self.public_base_url + ADDRESS_PATH,
                                    token, int(self.ttl_seconds))
        except SyncError as exc:
            self.store.channel_failed(account_id, user_id, now + RETRY_AFTER)
            _log(logging.WARNING, "drift channel not opened", account_id, user_id, "channel_failed",
                 getattr(exc, "reason", type(exc).__name__))
            return "failed"
        expires = _expiration(answer, now + timedelta(seconds=self.ttl_seconds))
        renew_at = expires - min(RENEW_MARGIN, (expires - now) / 2)
        record = ChannelRecord(channel_id, str(answer.get("resourceId") or ""), str(connection.calendar_id), expires)
        previous = self.store.set_channel(account_id, user_id, record, hashlib.sha256(token.encode()).hexdigest(),
                                          renew_at)
        if previous is not None and previous.id != channel_id:
            _stop(calendar, previous, account_id, user_id)
        return "opened"

    def stop(self, account_id: str, user_id: str) -> None:
        """Stop the connection's channel (DRIFT_POLICY=off), keeping its scan state."""
        record = self.store.current_channel(account_id, user_id)
        if record is None:
            return
        connection = self.mappings.get_connection(account_id, user_id)
        if connection is not None and connection.token_ref:
            _stop(self.calendars.session(connection), record, account_id, user_id)
        self.store.clear_channel(account_id, user_id, record.id)

    # -- hooks: one line each where a connection's life changes ----------------------------------
    def activated(self, account_id: str, user_id: str) -> None:
        """A calendar was chosen (connect, reconnect, switch) or a grant imported. Never raises."""
        try:
            outcome = self.open(account_id, user_id)
        except Exception as exc:  # best effort by design: the fallback scan covers a missing channel
            _log(logging.WARNING, "drift channel not opened", account_id, user_id, "channel_failed",
                 type(exc).__name__)
            return
        _log(logging.INFO, "drift channel", account_id, user_id, "channel_" + outcome)

    def stop_forgotten(self, account_id: str, user_id: str, token_ref: str, record: ChannelRecord) -> None:
        """A disconnect forgot the connection's drift state (its pings are refused from then on):
        stop its channel at Google with the grant, before that is revoked. Never raises."""
        try:
            _stop(self.calendars.session_for_ref(token_ref), record, account_id, user_id)
        except SyncError:
            pass  # the token is already unusable: the channel expires on its own, its pings are refused

    # -- the maintenance task ------------------------------------------------------------------------
    def renew_due(self) -> dict[str, int]:
        """Channels expiring within a day (or never opened, or failed) are opened anew."""
        now = self.clock()
        if self.policy == "off":
            due = self.store.due("channel_renew_at", now + _FAR, 200)
            for account_id, user_id in due:
                self.stop(account_id, user_id)
                self.store.channel_failed(account_id, user_id, now + _FAR)
            return {"drift_channels_stopped": len(due)}
        outcomes: dict[str, int] = {}
        for account_id, user_id in self.store.due("channel_renew_at", now, 200):
            outcome = self.open(account_id, user_id)
            outcomes[f"drift_channels_{outcome}"] = outcomes.get(f"drift_channels_{outcome}", 0) + 1
        return outcomes


def _expiration(answer: dict[str, Any], default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(answer["expiration"]) / 1000, timezone.utc)
    except (KeyError, TypeError, ValueError):
        return default


def _stop(calendar: CalendarSession, record: ChannelRecord, account_id: str, user_id: str) -> None:
    try:
        calendar.stop_channel(record.id, record.resource_id)
    except SyncError as exc:  # it expires on its own; meanwhile its pings are refused as stale
        _log(logging.WARNING, "drift channel not stopped", account_id, user_id, "channel_stop_failed",
             getattr(exc, "reason", type(exc).__name__))
