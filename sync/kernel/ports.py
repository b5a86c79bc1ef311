"""The ports the core talks through. Adapters implement them; tests use simple fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sync.kernel.model import Connection, ConnectionStatus, Mapping
from sync.kernel.notification import Notification

R = TypeVar("R")

# A unit of work over one event: given what is stored now, return
# (result, mapping to store or None to leave it, new connection status or None), optionally
# with a 4th element: the notifications of the transition (CONTRACT §8), committed with it.
# It may run more than once (transactions retry on contention), so it must be pure.
EventWork = Callable[[Connection | None, Mapping | None],
                     tuple[R, Mapping | None, ConnectionStatus | None]
                     | tuple[R, Mapping | None, ConnectionStatus | None, Sequence[Notification]]]


class Store(Protocol):
    def get_connection(self, account_id: str, user_id: str) -> Connection | None: ...

    def save_connection(self, connection: Connection) -> None: ...

    def update_event(self, account_id: str, user_id: str, event_id: str, work: EventWork[R]) -> R:
        """Run ``work`` in one transaction over the connection and the event's mapping."""
        ...

    def parked(self, account_id: str, user_id: str) -> list[Mapping]: ...

    def flush_notifications(self, account_id: str, user_id: str) -> int:
        """Publish notifications a crash left staged for this connection; return how many."""
        ...


class CalendarSession(Protocol):
    """Calendar v3 for one connection. Raises the errors of ``sync.kernel.errors``."""

    def insert(self, calendar_id: str, body: dict[str, Any]) -> str | None:
        """Create the event; return the etag Calendar gave it (drift repair recognises our writes)."""
        ...

    def update(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> str | None:
        """Replace the event (a cancelled one comes back); return its new etag."""
        ...

    def delete(self, calendar_id: str, event_id: str, send_updates: str | None = None) -> None:
        """Delete the event (a cancelled one answers 410); ``send_updates`` overrides SEND_UPDATES
        (a disconnect's removal mails nobody: "none")."""
        ...

    def move(self, calendar_id: str, event_id: str, destination: str) -> None: ...


class Calendars(Protocol):
    def session(self, connection: Connection) -> CalendarSession: ...


class Publisher(Protocol):
    def publish(self, data: bytes, ordering_key: str, attributes: dict[str, str]) -> str:
        """Publish and wait for the confirmation; return the message id or raise PublishFailed."""
        ...


class TokenVault(Protocol):
    """Where refresh tokens live. Firestore keeps only the returned reference."""

    def store_refresh_token(self, connection_key: str, token: str) -> str: ...

    def read_refresh_token(self, ref: str) -> str: ...

    def retire_others(self, ref: str) -> None:
        """Destroy the connection's other token versions, once ``ref`` is the one in use."""
        ...

    def destroy(self, ref: str) -> None: ...
