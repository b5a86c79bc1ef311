"""Simple in-memory fakes of the ports (no mocks): they behave like the real things."""

from __future__ import annotations

import copy
import threading
from typing import Any

from sync.kernel.errors import AuthRevoked, CalendarConflict, CalendarNotFound, Permanent, PublishFailed, Retryable
from sync.kernel.model import Connection, ConnectionStatus, Mapping
from sync.kernel.ports import EventWork, R


class FakeStore:
    def __init__(self) -> None:
        self.connections: dict[tuple[str, str], Connection] = {}
        self.mappings: dict[tuple[str, str, str], Mapping] = {}
        self.lock = threading.Lock()
        self.transactions = 0
        self.notifications: list[Any] = []  # every notification a committed transaction staged
        self.flushes = 0

    def get_connection(self, account_id: str, user_id: str) -> Connection | None:
        return self.connections.get((account_id, user_id))

    def save_connection(self, connection: Connection) -> None:
        self.connections[(connection.account_id, connection.user_id)] = connection

    def update_event(self, account_id: str, user_id: str, event_id: str, work: EventWork[R]) -> R:
        with self.lock:
            self.transactions += 1
            conn = self.connections.get((account_id, user_id))
            result, mapping, status, *rest = work(conn, copy.deepcopy(self.mappings.get((account_id, user_id,
                                                                                       event_id))))
            self.notifications += list(rest[0]) if rest else []
            if mapping is not None:
                self.mappings[(account_id, user_id, event_id)] = mapping
            if status is not None and conn is not None and not conn.gone:
                self.connections[(account_id, user_id)] = Connection(
                    conn.account_id, conn.user_id, status, conn.calendar_id, conn.token_ref, conn.google_email)
            return result

    def parked(self, account_id: str, user_id: str) -> list[Mapping]:
        return [m for (a, u, _), m in self.mappings.items() if (a, u) == (account_id, user_id) and m.parked]

    def flush_notifications(self, account_id: str, user_id: str) -> int:
        self.flushes += 1
        return 0


class FakeCalendar:
    """Google's semantics: deleted events stay as cancelled, ids are never reused."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.faults: list[Exception] = []  # raised, in order, by the next calls
        self.faults_after: list[BaseException] = []  # raised by the next calls after they took effect
        self.revoked = False
        self.lock = threading.Lock()
        self.etags = 0

    def session(self, connection: Connection) -> FakeCalendar:
        if self.revoked:
            raise AuthRevoked("invalid_grant")
        return self

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.faults:
            raise self.faults.pop(0)

    def _etag(self) -> str:
        self.etags += 1
        return f'"{self.etags}"'

    def insert(self, calendar_id: str, body: dict[str, Any]) -> str | None:
        with self.lock:
            self._call("insert")
            if (calendar_id, body["id"]) in self.events:
                raise CalendarConflict("409")
            self.events[(calendar_id, body["id"])] = {**copy.deepcopy(body), "etag": self._etag()}
            if self.faults_after:
                raise self.faults_after.pop(0)  # the write landed, the answer did not
            return str(self.events[(calendar_id, body["id"])]["etag"])

    def update(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> str | None:
        with self.lock:
            self._call("update")
            if (calendar_id, event_id) not in self.events:
                raise CalendarNotFound(404)
            self.events[(calendar_id, event_id)] = {**copy.deepcopy(body), "etag": self._etag()}
            return str(self.events[(calendar_id, event_id)]["etag"])

    def delete(self, calendar_id: str, event_id: str, send_updates: str | None = None) -> None:
        with self.lock:
            self._call("delete" if send_updates is None else f"delete:{send_updates}")
            current = self.events.get((calendar_id, event_id))
            if current is None:
                raise CalendarNotFound(404)
            if current["status"] == "cancelled":
                raise CalendarNotFound(410)
            current["status"] = "cancelled"
            current["etag"] = self._etag()

    def move(self, calendar_id: str, event_id: str, destination: str) -> None:
        with self.lock:
            self._call("move")
            current = self.events.get((calendar_id, event_id))
            if current is None or current["status"] == "cancelled":
                raise CalendarNotFound(404)
            if (destination, event_id) in self.events:
                raise CalendarConflict("409")
            self.events[(destination, event_id)] = self.events.pop((calendar_id, event_id))

    def live(self, calendar_id: str) -> dict[str, dict[str, Any]]:
        return {eid: e for (cal, eid), e in self.events.items() if cal == calendar_id and e["status"] != "cancelled"}


class FakePublisher:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, str, dict[str, str]]] = []
        self.fail = False

    def publish(self, data: bytes, ordering_key: str, attributes: dict[str, str]) -> str:
        if self.fail:
            raise PublishFailed("pubsub: unavailable")
        self.messages.append((data, ordering_key, attributes))
        return str(len(self.messages))


def active_connection(account_id: str = "acme-consulting", user_id: str = "u-42",
                      calendar_id: str = "user@example.com") -> Connection:
    return Connection(account_id, user_id, ConnectionStatus.ACTIVE, calendar_id, "local_tokens/x", "user@example.com")


__all__ = ["FakeStore", "FakeCalendar", "FakePublisher", "active_connection", "Retryable", "Permanent"]


def webhook_app(project: str, secret: str):  # type: ignore[no-untyped-def]
    """``handle_webhook`` through functions-framework's test client, with a FakePublisher behind it,
    for a module's tests (a generator for a module-scoped fixture: yields (client, publisher))."""
    import pytest
    from functions_framework import create_app

    from sync import bootstrap

    mp = pytest.MonkeyPatch()
    mp.setenv("GOOGLE_CLOUD_PROJECT", project)
    mp.setenv("SECRETS_BACKEND", "env")
    mp.setenv("WEBHOOK_SIGNING_SECRET", secret)
    bootstrap.reset()
    publisher = FakePublisher()
    bootstrap.override("publisher", publisher)
    yield create_app("handle_webhook", "main.py").test_client(), publisher
    bootstrap.reset()
    mp.undo()
