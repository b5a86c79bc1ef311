"""Simple in-memory fakes of the ports (sync/kernel/ports.py; no mocks): they behave like the
real things. The bottom of the file holds each one to its Protocol (mypy, ``make lint``)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sync.kernel.errors import (
    AuthRevoked,
    CalendarConflict,
    CalendarNotFound,
    CalendarUnavailable,
    ConferenceRefused,
    ConfigError,
    EtagMismatch,
    NoAnswer,
    PageRefused,
    PagesChanged,
    Permanent,
    PublishFailed,
    Retryable,
    SyncTokenExpired,
    UsageLimited,
)
from sync.kernel.model import SYNC_SOURCE, Connection, ConnectionStatus, Mapping, StatusChange, connection_key
from sync.kernel.notification import Notification
from sync.kernel.ports import (
    Begun,
    Calendars,
    CalendarSession,
    ChannelRecord,
    CheckState,
    ConnectionStore,
    DeadLetterSubscription,
    DisconnectStore,
    DriftStore,
    EventWork,
    FlowGrant,
    FlowSessions,
    MappingStore,
    MoveStore,
    NotificationOutbox,
    OAuthClient,
    OAuthStates,
    OnCompleted,
    Publisher,
    R,
    Received,
    Removable,
    Secrets,
    SnapshotStore,
    TokenVault,
    UsageLimitStore,
    Watches,
)
from sync.snapshots.model import APPLYING, CATEGORIES, DONE, EXPIRED, MAX_EVENTS, RECEIVING, chunk_id, page_id


class FakeStore:
    """Connections and mappings. With an ``outbox``, a transition's notifications are staged in it
    with the commit and published after it, as the Firestore store does (else only recorded)."""

    def __init__(self, outbox: FakeOutbox | None = None) -> None:
        self.connections: dict[tuple[str, str], Connection] = {}
        self.mappings: dict[tuple[str, str, str], Mapping] = {}
        self.lock = threading.Lock()
        self.transactions = 0
        self.notifications: list[Any] = []  # every notification a committed transaction staged
        self.flushes = 0
        self.outbox = outbox

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
            staged = list(rest[0]) if rest else []
            self.notifications += staged
            if self.outbox is not None:
                self.outbox.stage(staged)
            if mapping is not None:
                self.mappings[(account_id, user_id, event_id)] = mapping
            change = StatusChange.of(status)
            if change is not None and conn is not None and not conn.gone and change.status is not conn.status:
                self.connections[(account_id, user_id)] = with_status(conn, change)
        if self.outbox is not None and self.outbox.publish(staged):  # after the commit
            raise Retryable("notification outbox: publish failed")  # the message's redelivery flushes it
        return result

    def get_mappings(self, account_id: str, user_id: str, event_ids: Sequence[str]) -> dict[str, Mapping]:
        with self.lock:
            return {e: copy.deepcopy(self.mappings[(account_id, user_id, e)]) for e in event_ids
                    if (account_id, user_id, e) in self.mappings}

    def parked(self, account_id: str, user_id: str) -> list[Mapping]:
        return [m for (a, u, _), m in self.mappings.items() if (a, u) == (account_id, user_id) and m.parked]

    def flush_notifications(self, account_id: str, user_id: str) -> int:
        self.flushes += 1
        return self.outbox.flush_pending(account_id, user_id) if self.outbox is not None else 0


def with_status(conn: Connection, change: StatusChange) -> Connection:
    """The connection after a writer's status change, as the Firestore store writes it: a
    usage_limited one carries its first retry, any other status drops it."""
    if change.status is ConnectionStatus.USAGE_LIMITED and change.retry_at is not None:
        return replace(conn, status=change.status, retry_at=change.retry_at, retry_step=0)
    return replace(conn, status=change.status, retry_at=None, retry_step=0)


class FakeUsageLimits:
    """The usage-limit retries over a FakeStore's connections (sync/adapters/firestore/limits.py)."""

    def __init__(self, store: FakeStore, outbox: FakeOutbox | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.leases: dict[tuple[str, str], tuple[str, datetime]] = {}
        self.resuming: set[tuple[str, str]] = set()  # active again, parked changes not all handed back
        self.notifications: list[Notification] = []

    def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        with self.store.lock:
            due = sorted((c.retry_at, k) for k, c in self.store.connections.items()
                         if c.retry_at is not None and c.retry_at <= now)
        return [k for _, k in due[:limit]]

    def begin_try(self, account_id: str, user_id: str, lease_id: str, now: datetime,
                  until: datetime, *, due_by: datetime | None = None) -> Connection | None:
        key = (account_id, user_id)
        with self.store.lock:
            conn = self.store.connections.get(key)
            if conn is None:
                return None
            resuming = conn.status is ConnectionStatus.ACTIVE and key in self.resuming
            if conn.status is not ConnectionStatus.USAGE_LIMITED and not resuming:
                self.store.connections[key] = replace(conn, retry_at=None, retry_step=0)
                self.leases.pop(key, None)
                self.resuming.discard(key)
                return None
            held = self.leases.get(key)
            if conn.retry_at is None or conn.retry_at > (due_by or now) or (held is not None and held[1] > now):
                return None
            self.leases[key] = (lease_id, until)
            return conn

    def _ours(self, key: tuple[str, str], lease_id: str,
              status: ConnectionStatus = ConnectionStatus.USAGE_LIMITED) -> Connection | None:
        conn = self.store.connections.get(key)
        held = self.leases.get(key)
        if conn is None or conn.status is not status or held is None or held[0] != lease_id:
            return None
        if status is ConnectionStatus.ACTIVE and key not in self.resuming:
            return None
        return conn

    def postpone(self, account_id: str, user_id: str, lease_id: str, retry_at: datetime, failed: int) -> bool:
        key = (account_id, user_id)
        with self.store.lock:
            conn = self._ours(key, lease_id)
            if conn is None:
                return False
            self.store.connections[key] = replace(conn, retry_at=retry_at, retry_step=failed)
            del self.leases[key]
            return True

    def release_try(self, account_id: str, user_id: str, lease_id: str) -> None:
        key = (account_id, user_id)
        with self.store.lock:
            if self._ours(key, lease_id) is not None:
                del self.leases[key]

    def resume(self, account_id: str, user_id: str, lease_id: str, notification: Notification) -> bool:
        key = (account_id, user_id)
        with self.store.lock:
            conn = self._ours(key, lease_id)
            if conn is None:
                return False
            self.store.connections[key] = replace(conn, status=ConnectionStatus.ACTIVE, retry_step=0)
            self.resuming.add(key)  # the retry stays due, leased, until finish_resume
            self.notifications.append(notification)
            self.store.notifications.append(notification)
            if self.outbox is not None:
                self.outbox.stage([notification])
        if self.outbox is not None:
            self.outbox.publish([notification])
        return True

    def finish_resume(self, account_id: str, user_id: str, lease_id: str) -> None:
        key = (account_id, user_id)
        with self.store.lock:
            conn = self._ours(key, lease_id, ConnectionStatus.ACTIVE)
            if conn is not None:
                self.store.connections[key] = replace(conn, retry_at=None, retry_step=0)
                del self.leases[key]
                self.resuming.discard(key)


class FakeCalendar:
    """Google's semantics: deleted events stay as cancelled, ids are never reused; ``events.list``
    with sync tokens (a change counter: a token lists what changed after it); push channels; the
    account's calendar list. Both ports at once: ``Calendars`` hands out itself as the session."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.faults: list[Exception] = []  # raised, in order, by the next calls
        self.faults_after: list[BaseException] = []  # raised by the next calls after they took effect
        self.revoked = False
        # Over Calendar's usage limits: every write (insert, update, delete, move) answers 403
        # quotaExceeded, as Google does; reads still answer.
        self.usage_limited = False
        self.lock = threading.RLock()
        self.etags = 0
        self.seq = 0  # the sync token: every change of an event bumps it
        self.changed: dict[tuple[str, str], int] = {}
        self.expired = False  # the next listing with a sync token answers 410
        self.channels: dict[str, dict[str, Any]] = {}  # open push channels by id
        self.calendar_list: dict[str, dict[str, Any]] = {}  # calendarList entries by id (writable ones)
        # The next call of each method named here is abandoned by its client (a timeout: Retryable
        # to the caller) yet applied by Calendar later, when land_abandoned() says so, its If-Match
        # checked then, as Google does with a request it received.
        self.abandon: list[str] = []
        self.abandoned: list[Callable[[], object]] = []
        # Google Meet as Calendar does it (local/standin_meet.py has the rules): calendars that cannot host
        # it, creation "immediate" or "pending" (settled on the next get_conference, to ``meet_outcome``),
        # and the request ids each event has seen (a repeated one is ignored, even after a removal).
        self.meet_refused: set[str] = set()  # calendar ids without hangoutsMeet
        self.meet_creation = "immediate"
        self.meet_outcome = "success"
        self.meet_stuck = False  # True: a pending creation stays pending on reads
        self.meet_requests: dict[tuple[str, str], set[str]] = {}
        self.meet_codes = 0
        self.conference_versions: list[int] = []  # each write's conferenceDataVersion
        # Every write as sent (method, event id, sendUpdates), and those that took effect: Google
        # mails the guests of a write that took effect with sendUpdates all / externalOnly.
        self.sent: list[tuple[str, str, str]] = []
        self.landed: list[tuple[str, str, str]] = []

    def session(self, connection: Connection) -> FakeCalendar:
        if self.revoked:
            raise AuthRevoked("invalid_grant")
        return self

    def session_for_ref(self, ref: str, access_token: str | None = None) -> FakeCalendar:
        if self.revoked:
            raise AuthRevoked("invalid_grant")
        return self

    def _bump(self, key: tuple[str, str]) -> None:
        self.seq += 1
        self.changed[key] = self.seq

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.faults:
            raise self.faults.pop(0)
        if self.usage_limited and name.split(":")[0] in ("insert", "update", "delete", "move"):
            raise UsageLimited("calendar 403 quotaExceeded")

    def _etag(self) -> str:
        self.etags += 1
        return f'"{self.etags}"'

    def _abandoned(self, name: str, land: Callable[[], object]) -> None:
        if name in self.abandon:
            self.abandon.remove(name)
            self.abandoned.append(land)
            raise NoAnswer("calendar transport: TimeoutError")

    def land_abandoned(self) -> list[str]:
        """Apply the abandoned writes now, in order; what each did ("landed", or the error's name)."""
        out = []
        with self.lock:
            while self.abandoned:
                try:
                    self.abandoned.pop(0)()
                    out.append("landed")
                except Exception as exc:  # noqa: BLE001 - what Calendar answered nobody
                    out.append(type(exc).__name__)
        return out

    def _send(self, method: str, event_id: str, send_updates: str) -> None:
        assert send_updates in ("all", "externalOnly", "none"), send_updates
        self.sent.append((method, event_id, send_updates))

    def mailing(self, event_id: str | None = None) -> list[tuple[str, str]]:
        """The writes that took effect with a mailing sendUpdates: (method, sendUpdates) each."""
        return [(m, su) for m, eid, su in self.landed if su != "none" and event_id in (None, eid)]

    def _precondition(self, current: dict[str, Any], if_match: str | None) -> None:
        if if_match is not None and if_match != current["etag"]:
            raise EtagMismatch("calendar 412 precondition failed")

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        with self.lock:
            self._call("get")
            current = self.events.get((calendar_id, event_id))
            if current is None:
                raise CalendarNotFound(404)
            return copy.deepcopy(current)

    def insert(self, calendar_id: str, body: dict[str, Any], *, send_updates: str, conference_data_version: int = 0,
               answer: dict[str, Any] | None = None) -> str | None:
        with self.lock:
            self._send("insert", body["id"], send_updates)
            self._call("insert")
            self.conference_versions.append(conference_data_version)
            self._abandoned("insert", lambda: self._insert(calendar_id, copy.deepcopy(body), send_updates,
                                                           conference_data_version))
            return self._insert(calendar_id, body, send_updates, conference_data_version, answer)

    def _insert(self, calendar_id: str, body: dict[str, Any], send_updates: str = "none", version: int = 0,
                answer: dict[str, Any] | None = None) -> str | None:
        with self.lock:
            if (calendar_id, body["id"]) in self.events:
                raise CalendarConflict("409")
            stored = {**copy.deepcopy(body), "etag": self._etag()}
            self._conference(calendar_id, stored, body, None, version)
            self.events[(calendar_id, body["id"])] = stored
            self._bump((calendar_id, body["id"]))
            self.landed.append(("insert", body["id"], send_updates))
            if self.faults_after:
                raise self.faults_after.pop(0)  # the write landed, the answer did not
            return self._answer(stored, answer)

    def update(self, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None = None, *,
               send_updates: str, conference_data_version: int = 0,
               answer: dict[str, Any] | None = None) -> str | None:
        with self.lock:
            self._send("update", event_id, send_updates)
            self._call("update")
            self.conference_versions.append(conference_data_version)
            body = copy.deepcopy(body)
            self._abandoned("update", lambda: self._update(calendar_id, event_id, body, if_match, send_updates,
                                                           conference_data_version))
            return self._update(calendar_id, event_id, body, if_match, send_updates, conference_data_version, answer)

    def _update(self, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None,
                send_updates: str = "none", version: int = 0, answer: dict[str, Any] | None = None) -> str | None:
        current = self.events.get((calendar_id, event_id))
        if current is None:
            raise CalendarNotFound(404)
        self._precondition(current, if_match)
        stored = {**copy.deepcopy(body), "etag": self._etag(), "status": body.get("status", "confirmed")}
        self._conference(calendar_id, stored, body, current, version)
        self.events[(calendar_id, event_id)] = stored
        self._bump((calendar_id, event_id))
        self.landed.append(("update", event_id, send_updates))
        if self.faults_after:
            raise self.faults_after.pop(0)  # the write landed, the answer did not
        return self._answer(stored, answer)

    @staticmethod
    def _answer(stored: dict[str, Any], answer: dict[str, Any] | None) -> str:
        if answer is not None:
            answer.clear()
            answer.update(copy.deepcopy(stored))
        return str(stored["etag"])

    def _conference(self, calendar_id: str, stored: dict[str, Any], body: dict[str, Any],
                    previous: dict[str, Any] | None, version: int) -> None:
        """The stored event's conference by the write's conferenceDataVersion (raises before any change)."""
        stored.pop("conferenceData", None)
        kept = (previous or {}).get("conferenceData")
        data = body.get("conferenceData")
        if version == 0 or (data is not None and "createRequest" not in data):
            if kept is not None:
                stored["conferenceData"] = copy.deepcopy(kept)
            return
        if data is None:
            return  # version 1 without conferenceData: removed
        request = data["createRequest"]["requestId"]
        seen = self.meet_requests.setdefault((calendar_id, stored["id"]), set())
        if request in seen:
            if kept is not None:
                stored["conferenceData"] = copy.deepcopy(kept)
            return
        if calendar_id in self.meet_refused:
            raise ConferenceRefused("calendar 400 invalid conference type")
        seen.add(request)
        create = {"requestId": request, "conferenceSolutionKey": {"type": "hangoutsMeet"}}
        if self.meet_creation == "pending":
            stored["conferenceData"] = {"createRequest": {**create, "status": {"statusCode": "pending"}}}
        else:
            stored["conferenceData"] = self._settled(create, self.meet_outcome)

    def _settled(self, create: dict[str, Any], outcome: str) -> dict[str, Any]:
        if outcome == "failure":
            return {"createRequest": {**create, "status": {"statusCode": "failure"}}}
        self.meet_codes += 1
        code = f"abc-{self.meet_codes:04d}-xyz"
        return {"createRequest": {**create, "status": {"statusCode": "success"}}, "conferenceId": code,
                "entryPoints": [{"entryPointType": "video", "uri": f"https://meet.google.com/{code}"}],
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"}}

    def get_conference(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """Settles a pending creation (to ``meet_outcome``) as Google does on a later read: new etag."""
        with self.lock:
            self._call("get_conference")
            current = self.events.get((calendar_id, event_id))
            if current is None:
                raise CalendarNotFound(404)
            create = (current.get("conferenceData") or {}).get("createRequest") or {}
            if (create.get("status") or {}).get("statusCode") == "pending" and not self.meet_stuck:
                bare = {k: v for k, v in create.items() if k != "status"}
                current["conferenceData"] = self._settled(bare, self.meet_outcome)
                current["etag"] = self._etag()
                self._bump((calendar_id, event_id))
            return {k: copy.deepcopy(current[k]) for k in ("id", "etag", "status", "conferenceData") if k in current}

    def join_url(self, calendar_id: str, event_id: str) -> str | None:
        points = (self.events.get((calendar_id, event_id), {}).get("conferenceData") or {}).get("entryPoints") or []
        return next((p["uri"] for p in points if p.get("entryPointType") == "video"), None)

    def delete(self, calendar_id: str, event_id: str, send_updates: str,
               if_match: str | None = None) -> None:
        with self.lock:
            self._send("delete", event_id, send_updates)
            self._call("delete")
            self._abandoned("delete", lambda: self._delete(calendar_id, event_id, if_match, send_updates))
            self._delete(calendar_id, event_id, if_match, send_updates)

    def _delete(self, calendar_id: str, event_id: str, if_match: str | None, send_updates: str = "none") -> None:
        current = self.events.get((calendar_id, event_id))
        if current is None:
            raise CalendarNotFound(404)
        self._precondition(current, if_match)
        if current["status"] == "cancelled":
            raise CalendarNotFound(410)
        current["status"] = "cancelled"
        current["etag"] = self._etag()
        self._bump((calendar_id, event_id))
        self.landed.append(("delete", event_id, send_updates))
        if self.faults_after:
            raise self.faults_after.pop(0)  # the write landed, the answer did not

    def move(self, calendar_id: str, event_id: str, destination: str, *, send_updates: str) -> str | None:
        with self.lock:
            self._send("move", event_id, send_updates)
            self._call("move")
            current = self.events.get((calendar_id, event_id))
            if current is None or current["status"] == "cancelled":
                raise CalendarNotFound(404)
            if (destination, event_id) in self.events:
                raise CalendarConflict("409")
            self.events[(destination, event_id)] = {**self.events.pop((calendar_id, event_id)), "etag": self._etag()}
            if (calendar_id, event_id) in self.meet_requests:  # what Google remembers goes with the event
                self.meet_requests[(destination, event_id)] = self.meet_requests.pop((calendar_id, event_id))
            self._bump((destination, event_id))
            self.landed.append(("move", event_id, send_updates))
            return str(self.events[(destination, event_id)]["etag"])

    def list_events(self, calendar_id: str, sync_token: str | None, page_token: str | None) -> dict[str, Any]:
        with self.lock:
            self.calls.append("list")
            if sync_token is not None and self.expired:
                self.expired = False
                raise SyncTokenExpired("410")
            since = int(sync_token or 0)
            items = [copy.deepcopy(e) for (cal, eid), e in self.events.items()
                     if cal == calendar_id and self.changed.get((cal, eid), 0) > since]
            return {"items": items, "nextSyncToken": str(self.seq)}

    def list_own(self, calendar_id: str, account_id: str, user_id: str, page_token: str | None) -> dict[str, Any]:
        with self.lock:
            self._call("list_own")
            items = [copy.deepcopy(e) for (cal, _), e in self.events.items()
                     if cal == calendar_id and e["status"] != "cancelled"
                     and (e.get("extendedProperties") or {}).get("private", {}).get("sync_source") == SYNC_SOURCE
                     and e["extendedProperties"]["private"].get("source_account_id") == account_id
                     and e["extendedProperties"]["private"].get("source_user_id") == user_id]
            return {"items": items}

    def watch(self, calendar_id: str, channel_id: str, address: str, token: str, ttl_seconds: int) -> dict[str, Any]:
        with self.lock:
            self._call("watch")
            expires = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
            self.channels[channel_id] = {"calendar_id": calendar_id, "address": address, "token": token,
                                         "resourceId": f"res-{channel_id[:8]}"}
            return {"id": channel_id, "resourceId": f"res-{channel_id[:8]}",
                    "expiration": str(int(expires.timestamp() * 1000))}

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        with self.lock:
            self._call("stop_channel")
            self.channels.pop(channel_id, None)

    def writable_calendars(self) -> list[dict[str, Any]]:
        with self.lock:
            self._call("calendar_list")
            return sorted((copy.deepcopy(c) for c in self.calendar_list.values()),
                          key=lambda c: (not c.get("primary", False), str(c.get("summary", "")).lower()))

    def calendar_entry(self, calendar_id: str) -> dict[str, Any]:
        with self.lock:
            self._call("calendar_entry")
            entry = self.calendar_list.get(calendar_id)
            if entry is None:
                raise CalendarNotFound(404)
            return copy.deepcopy(entry)

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

    def publish_many(self, messages: Sequence[tuple[bytes, str, dict[str, str]]]) -> int:
        for data, key, attributes in messages:
            self.publish(data, key, attributes)
        return len(messages)


class FakeOutbox:
    """The notification outbox: staged with a transition, published after it to ``publisher`` and
    then cleared; one whose publish failed stays staged for the next flush."""

    def __init__(self, publisher: FakePublisher | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.publisher = publisher or FakePublisher()
        self.clock = clock
        self.staged: dict[str, tuple[Notification, float]] = {}  # by webhook id

    def stage(self, notifications: Sequence[Notification]) -> None:
        for n in notifications:
            self.staged.setdefault(n.id, (n, self.clock()))

    def publish(self, notifications: Sequence[Notification]) -> list[str]:
        """Publish each and clear it; the ids that could not be published (still staged)."""
        failed, held = [], set()
        for n in notifications:
            message = json.dumps(n.to_message(), separators=(",", ":")).encode("utf-8")
            if n.ordering_key in held:  # an earlier one of the connection is unpublished: this waits too
                failed.append(n.id)
                continue
            try:
                self.publisher.publish(message, n.ordering_key, n.attributes())
            except PublishFailed:
                failed.append(n.id)
                held.add(n.ordering_key)
                continue
            self.staged.pop(n.id, None)
        return failed

    def pending(self, account_id: str, user_id: str) -> list[Notification]:
        return [n for n, _ in self.staged.values() if (n.account_id, n.user_id) == (account_id, user_id)]

    def published(self) -> list[dict[str, Any]]:
        return [json.loads(data) for data, _, _ in self.publisher.messages]

    def flush_pending(self, account_id: str, user_id: str) -> int:
        due = self.pending(account_id, user_id)
        if self.publish(due):
            raise Retryable("notification outbox: publish failed")
        return len(due)

    def republish_stale(self, older_than: float = 60.0) -> dict[str, int]:
        stale = [n for n, at in self.staged.values() if self.clock() - at > older_than]
        failed = self.publish(stale)
        if failed:
            raise Retryable(f"notification outbox: {len(failed)} publish(es) failed")
        return {"notifications_republished": len(stale)}


class FakeSecrets:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = values if values is not None else {"OAUTH_CLIENT_ID": "client", "OAUTH_CLIENT_SECRET": "shh"}

    def get(self, name: str) -> str:
        if name not in self.values:
            raise ConfigError(f"{name} is not set")
        return self.values[name]


class FakeOAuthStates:
    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}

    def put_state(self, state_hash: str, doc: dict[str, Any]) -> None:
        self.states[state_hash] = dict(doc)

    def consume_state(self, state_hash: str) -> dict[str, Any] | None:
        return self.states.pop(state_hash, None)


class FakeFlowSessions:
    """Browser flow sessions: started → authorized → used, each of one user, until it expires."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.now = now
        self.sessions: dict[str, dict[str, Any]] = {}

    def _of(self, sid_hash: str, account_id: str, user_id: str, state: str) -> dict[str, Any] | None:
        doc = self.sessions.get(sid_hash)
        if doc is None or (doc["account_id"], doc["user_id"], doc["state"]) != (account_id, user_id, state):
            return None
        return doc if doc["expires_at"] > self.now() else None

    def start(self, sid_hash: str, account_id: str, user_id: str, expires_at: datetime) -> None:
        self.sessions[sid_hash] = {"account_id": account_id, "user_id": user_id, "state": "started",
                                   "expires_at": expires_at}

    def authorize(self, sid_hash: str, account_id: str, user_id: str, token_ref: str, google_email: str) -> bool:
        doc = self._of(sid_hash, account_id, user_id, "started")
        if doc is None:
            return False
        doc.update(state="authorized", token_ref=token_ref, google_email=google_email)
        return True

    def grant(self, sid_hash: str, account_id: str, user_id: str) -> FlowGrant | None:
        doc = self._of(sid_hash, account_id, user_id, "authorized")
        return FlowGrant(doc["token_ref"], doc["google_email"]) if doc is not None else None

    def use(self, sid_hash: str, account_id: str, user_id: str) -> FlowGrant | None:
        grant = self.grant(sid_hash, account_id, user_id)
        if grant is not None:
            self.sessions[sid_hash]["state"] = "used"
        return grant

    def release(self, sid_hash: str) -> None:
        doc = self.sessions.get(sid_hash)
        if doc is not None and doc["state"] == "used":
            doc["state"] = "authorized"


class FakeDeadLetters:
    """A dead-letter inspection subscription holding ``messages`` until acknowledged."""

    def __init__(self, messages: Sequence[Received]) -> None:
        self.held = {m.message_id: m for m in messages}
        self.handed_back: list[str] = []
        self.acked: list[str] = []

    def pull(self, max_messages: int, timeout: float) -> list[Received]:
        return list(self.held.values())[:max_messages]

    def hand_back(self, ack_ids: Sequence[str]) -> None:
        self.handed_back += list(ack_ids)

    def acknowledge(self, ack_ids: Sequence[str]) -> None:
        self.acked += list(ack_ids)
        self.held = {mid: m for mid, m in self.held.items() if m.ack_id not in ack_ids}


class FakeDriftStore:
    """The drift store (one account's drift state per connection, channels, pending pings)."""

    def __init__(self, scan_minutes: float = 360.0) -> None:
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}  # drift/{account:user}
        self.channel_docs: dict[str, dict[str, Any]] = {}  # drift_channels/{id}
        self.pending: dict[tuple[str, str], datetime] = {}  # drift_pending/{account:user}
        self.sweep_at: datetime | None = None
        self.active: list[tuple[str, str]] = []  # what active_connections answers
        self.scan_period = timedelta(minutes=scan_minutes)
        self.lock = threading.Lock()

    def _doc(self, account_id: str, user_id: str) -> dict[str, Any]:
        return self.docs.setdefault((account_id, user_id), {"account_id": account_id, "user_id": user_id})

    def begin_check(self, account_id: str, user_id: str, lease_id: str, until: datetime) -> CheckState | None:
        with self.lock:
            doc = self.docs.get((account_id, user_id))
            if doc is None:
                self.pending.pop((account_id, user_id), None)
                return CheckState(lease_id, None, None, enrolled=False)
            held = doc.get("check_lease_until")
            if doc.get("check_lease_id") and isinstance(held, datetime) and held > datetime.now(timezone.utc):
                return None
            doc.update(check_lease_id=lease_id, check_lease_until=until)
            return CheckState(lease_id, doc.get("sync_token"), doc.get("sync_calendar_id"),
                              self.pending.get((account_id, user_id)), last_started_at=doc.get("check_started_at"))

    def listing_started(self, account_id: str, user_id: str, lease_id: str, at: datetime) -> None:
        with self.lock:
            self.pending.pop((account_id, user_id), None)
            doc = self.docs.get((account_id, user_id))
            if doc is not None and doc.get("check_lease_id") == lease_id:
                doc["check_started_at"] = at

    def end_check(self, account_id: str, user_id: str, lease_id: str, sync_token: str | None,
                  calendar_id: str, keep_token: bool) -> None:
        fields: dict[str, Any] = {"last_check_at": datetime.now(timezone.utc),
                                  "next_scan_at": datetime.now(timezone.utc) + self.scan_period}
        if not keep_token:
            fields.update(sync_token=sync_token, sync_calendar_id=calendar_id)
        self._leave(account_id, user_id, lease_id, fields)

    def release_check(self, account_id: str, user_id: str, lease_id: str) -> None:
        self._leave(account_id, user_id, lease_id, {})

    def _leave(self, account_id: str, user_id: str, lease_id: str, fields: dict[str, Any]) -> None:
        with self.lock:
            doc = self.docs.get((account_id, user_id))
            if doc is not None and doc.get("check_lease_id") == lease_id:
                doc.update(fields, check_lease_id=None, check_lease_until=None)

    def mark_pending(self, account_id: str, user_id: str, window: timedelta) -> bool:
        with self.lock:
            now = datetime.now(timezone.utc)
            at = self.pending.get((account_id, user_id))
            if at is not None and now - at < window:
                return False
            self.pending[(account_id, user_id)] = now
            return True

    def clear_pending(self, account_id: str, user_id: str) -> None:
        with self.lock:
            self.pending.pop((account_id, user_id), None)

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.channel_docs.get(channel_id))

    def accept_message(self, channel_id: str, number: int) -> bool:
        with self.lock:
            doc = self.channel_docs.get(channel_id)
            if doc is None or number <= int(doc.get("last_message_number") or 0):
                return False
            doc["last_message_number"] = number
            return True

    def drift_doc(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.docs.get((account_id, user_id)))

    def current_channel(self, account_id: str, user_id: str) -> ChannelRecord | None:
        doc = self.docs.get((account_id, user_id)) or {}
        if not doc.get("channel_id"):
            return None
        return ChannelRecord(doc["channel_id"], doc.get("channel_resource_id") or "",
                             doc.get("channel_calendar_id") or "", doc["channel_expires_at"])

    def set_channel(self, account_id: str, user_id: str, channel: ChannelRecord, token_sha256: str,
                    renew_at: datetime) -> ChannelRecord | None:
        with self.lock:
            previous = self.current_channel(account_id, user_id)
            doc = self._doc(account_id, user_id)
            doc.update(channel_id=channel.id, channel_resource_id=channel.resource_id,
                       channel_calendar_id=channel.calendar_id, channel_expires_at=channel.expires_at,
                       channel_renew_at=renew_at)
            doc.setdefault("next_scan_at", datetime.now(timezone.utc) + self.scan_period)
            self.channel_docs[channel.id] = {"account_id": account_id, "user_id": user_id,
                                             "token_sha256": token_sha256, "calendar_id": channel.calendar_id,
                                             "expires_at": channel.expires_at}
            if previous is not None and previous.id != channel.id:
                self.channel_docs.pop(previous.id, None)
            return previous

    def channel_failed(self, account_id: str, user_id: str, retry_at: datetime) -> None:
        with self.lock:
            self._doc(account_id, user_id).update(channel_renew_at=retry_at,
                                                  next_scan_at=datetime.now(timezone.utc) + self.scan_period)

    def clear_channel(self, account_id: str, user_id: str, channel_id: str) -> None:
        with self.lock:
            doc = self.docs.get((account_id, user_id))
            if doc is not None and doc.get("channel_id") == channel_id:
                doc.update(channel_id=None, channel_resource_id=None, channel_calendar_id=None,
                           channel_expires_at=None, channel_renew_at=None)
            self.channel_docs.pop(channel_id, None)

    def due(self, field: str, now: datetime, limit: int) -> list[tuple[str, str]]:
        return [key for key, doc in self.docs.items()
                if isinstance(doc.get(field), datetime) and doc[field] <= now][:limit]

    def postpone_scan(self, account_id: str, user_id: str, at: datetime) -> None:
        self._doc(account_id, user_id)["next_scan_at"] = at

    def enroll(self, account_id: str, user_id: str, next_scan_at: datetime) -> None:
        with self.lock:
            if (account_id, user_id) not in self.docs:
                self.docs[(account_id, user_id)] = {"account_id": account_id, "user_id": user_id,
                                                    "channel_renew_at": datetime.now(timezone.utc),
                                                    "next_scan_at": next_scan_at}

    def active_connections(self) -> list[tuple[str, str]]:
        return list(self.active)

    def enrolled(self) -> set[str]:
        return {connection_key(a, u) for a, u in self.docs}

    def sweep_due(self, period: timedelta) -> bool:
        now = datetime.now(timezone.utc)
        if self.sweep_at is not None and self.sweep_at > now:
            return False
        self.sweep_at = now + period
        return True


def active_connection(account_id: str = "acme-consulting", user_id: str = "u-42",
                      calendar_id: str = "user@example.com") -> Connection:
    return Connection(account_id, user_id, ConnectionStatus.ACTIVE, calendar_id, "local_tokens/x", "user@example.com")


__all__ = ["FakeStore", "FakeCalendar", "FakePublisher", "FakeDriftStore", "FakeSnapshotStore", "FakeMoveStore",
           "active_connection", "Retryable", "Permanent", "CalendarUnavailable"]


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
    bootstrap.container().override(publisher=publisher)
    yield create_app("handle_webhook", "main.py").test_client(), publisher
    bootstrap.reset()
    mp.undo()


def mapping_doc(m: Mapping) -> dict[str, Any]:
    """A mapping as the stores read it for reconcile and moves (the fields they select)."""
    return {"event_id": m.event_id, "google_event_id": m.google_event_id,
            "version": m.version.key if m.version else None, "deleted": m.deleted,
            "google_exists": m.google_exists, "google_uncertain": m.google_uncertain,
            "has_parked": m.parked is not None, "lease_id": m.lease.id if m.lease else None,
            "lease_until": m.lease.until if m.lease else None, "ends_at": m.ends_at, "open_ended": m.open_ended,
            "calendar_id": m.calendar_id}


class FakeSnapshotStore:
    """Snapshots in memory, over a FakeStore's connections and mappings (what reconcile reads)."""

    def __init__(self, mappings: FakeStore) -> None:
        self.mappings = mappings
        self.docs: dict[str, dict[str, Any]] = {}
        self.parts: dict[tuple[str, str], dict[str, Any]] = {}  # (snapshot, part id) → page or chunk of deletes
        self.events: dict[tuple[str, int, str], dict[str, Any]] = {}  # (snapshot, page, event id) → stored event
        self.results: dict[tuple[str, str], dict[str, Any]] = {}
        self.latest_ids: dict[tuple[str, str], str] = {}
        self.notifications: list[Any] = []  # what the done transitions staged
        self.lock = threading.RLock()

    def get_connection(self, account_id: str, user_id: str) -> Connection | None:
        return self.mappings.get_connection(account_id, user_id)

    def create(self, snapshot_id: str, doc: dict[str, Any]) -> None:
        self.docs[snapshot_id] = copy.deepcopy(doc)
        self.latest_ids[(doc["account_id"], doc["user_id"])] = snapshot_id

    def get(self, snapshot_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.docs.get(snapshot_id))

    def latest(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        snapshot_id = self.latest_ids.get((account_id, user_id))
        doc = self.get(snapshot_id) if snapshot_id else None
        return {**doc, "snapshot_id": snapshot_id} if doc else None

    def transition(self, snapshot_id: str, from_states: Sequence[str], fields: dict[str, Any],
                   skips: dict[int, list[int]] | None = None, revision: int | None = None) -> dict[str, Any] | None:
        with self.lock:
            doc = self.docs.get(snapshot_id)
            if doc is None or doc.get("state") not in tuple(from_states):
                return None
            if revision is not None and int(doc.get("revision", 0)) != revision:
                raise PagesChanged(snapshot_id)
            doc.update(copy.deepcopy(fields))
            for n, skip in (skips or {}).items():
                self.parts[(snapshot_id, page_id(n))]["skip_index"] = list(skip)
            return copy.deepcopy(doc)

    def put_page(self, snapshot_id: str, n: int, events: list[tuple[str, dict[str, Any], str]],
                 purge_at: datetime, now: datetime) -> None:
        with self.lock:
            doc = self.docs.get(snapshot_id)
            if doc is None or doc.get("state") != RECEIVING:
                raise PageRefused("not_receiving", state=(doc or {}).get("state"))
            if doc["expires_at"] <= now:
                raise PageRefused("snapshot_expired", state=EXPIRED)
            before = self.parts.get((snapshot_id, page_id(n))) or {}
            total = int(doc.get("events", 0)) - len(before.get("ids") or []) + len(events)
            if total > MAX_EVENTS:
                raise PageRefused("too_many_events", limit=MAX_EVENTS)
            for event_id in before.get("ids") or []:
                self.events.pop((snapshot_id, n, event_id), None)
            self.parts[(snapshot_id, page_id(n))] = {"kind": "page", "page": n, "ids": [e[0] for e in events],
                                                     "versions": [e[2] for e in events], "count": len(events)}
            for event_id, raw, version in events:
                self.events[(snapshot_id, n, event_id)] = {"page": n, "event_id": event_id,
                                                           "event": copy.deepcopy(raw), "version": version}
            doc.update(events=total, revision=int(doc.get("revision", 0)) + 1,
                       pages_received=sorted({*doc.get("pages_received", []), n}))

    def pages(self, snapshot_id: str) -> dict[int, dict[str, str]]:
        return {int(p["page"]): dict(zip(p["ids"], p["versions"], strict=True))
                for (sid, _), p in self.parts.items() if sid == snapshot_id and p["kind"] == "page"}

    def page_events(self, snapshot_id: str, page: dict[str, Any], offset: int,
                    limit: int) -> list[tuple[int, dict[str, Any]]]:
        n = int(page["page"])
        return [(offset + i, copy.deepcopy(self.events[(snapshot_id, n, event_id)]))
                for i, event_id in enumerate((page.get("ids") or [])[offset:offset + limit])
                if (snapshot_id, n, event_id) in self.events]

    def put_delete_chunks(self, snapshot_id: str, chunks: list[list[str]], purge_at: datetime) -> None:
        for i, ids in enumerate(chunks):
            self.parts[(snapshot_id, chunk_id(i))] = {"kind": "deletes", "chunk": i, "ids": list(ids),
                                                      "count": len(ids)}

    def part(self, snapshot_id: str, part_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.parts.get((snapshot_id, part_id)))

    def mark_published(self, snapshot_id: str, part_id: str, through: int | None = None) -> None:
        self.parts[(snapshot_id, part_id)].update({"published": True} if through is None
                                                  else {"published_through": through})

    def mapping_docs(self, account_id: str, user_id: str) -> list[dict[str, Any]]:
        return [mapping_doc(m) for (a, u, _), m in self.mappings.mappings.items() if (a, u) == (account_id, user_id)]

    def result_exists(self, snapshot_id: str, event_id: str) -> bool:
        return (snapshot_id, event_id) in self.results

    def record_result(self, snapshot_id: str, event_id: str, category: str, outcome: str,
                      purge_at: datetime) -> bool:
        with self.lock:
            if snapshot_id not in self.docs or (snapshot_id, event_id) in self.results:
                return False
            self.results[(snapshot_id, event_id)] = {"category": category, "outcome": outcome}
            return True

    def counts(self, snapshot_id: str) -> tuple[int, dict[str, int]]:
        counts = dict.fromkeys(CATEGORIES, 0)
        total = 0
        for (sid, _), result in self.results.items():
            if sid == snapshot_id:
                counts[result["category"]] += 1
                total += 1
        return total, counts

    def finish(self, snapshot_id: str, now: datetime, on_completed: OnCompleted) -> bool:
        with self.lock:
            doc = self.docs.get(snapshot_id)
            if doc is None or doc.get("state") != APPLYING:
                return False
            total, counts = self.counts(snapshot_id)
            known = int(doc.get("unchanged_at_complete", 0))
            counts["unchanged"] += known
            if total + known < int(doc.get("upserts", 0)) + int(doc.get("deletes", 0)):
                return False
            doc.update(state=DONE, finished_at=now, counts=counts)
            note = on_completed({**copy.deepcopy(doc), "snapshot_id": snapshot_id}, counts)
            if note is not None:
                self.notifications.append(note)
            return True

    def expire_abandoned(self, now: datetime) -> int:
        expired = [sid for sid, doc in self.docs.items()
                   if doc.get("state") == RECEIVING and doc.get("expires_at") and doc["expires_at"] <= now]
        for sid in expired:
            self.transition(sid, (RECEIVING,), {"state": EXPIRED, "finished_at": now})
        return len(expired)


class FakeMoveStore:
    """Calendar moves in memory, over a FakeStore's mappings."""

    def __init__(self, mappings: FakeStore) -> None:
        self.mappings = mappings
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}

    def movable(self, account_id: str, user_id: str, destination: str) -> list[str]:
        docs = [mapping_doc(m) for (a, u, _), m in self.mappings.mappings.items() if (a, u) == (account_id, user_id)]
        return sorted(d["event_id"] for d in docs if not d["deleted"] and d["calendar_id"] != destination
                      and (d["google_exists"] or d["google_uncertain"] or d["lease_id"]))

    def start(self, account_id: str, user_id: str, record: dict[str, Any]) -> None:
        self.docs[(account_id, user_id)] = copy.deepcopy(record)

    def get(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.docs.get((account_id, user_id)))

    def chunk_done(self, account_id: str, user_id: str, move_id: str, chunk: int, size: int, now: datetime) -> None:
        doc = self.docs.get((account_id, user_id))
        if doc is None or doc.get("move_id") != move_id or chunk in doc["chunks_done"]:
            return
        doc["chunks_done"].append(chunk)
        doc["done"] = int(doc["done"]) + size
        if doc["done"] >= int(doc["total"]):
            doc["finished_at"] = now


class FakeVault:
    """Refresh tokens by reference; a connection's versions share its key."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.destroyed: list[str] = []

    def store_refresh_token(self, connection_key: str, token: str) -> str:
        ref = f"local_tokens/{connection_key}.{len(self.tokens)}"
        self.tokens[ref] = token
        return ref

    def read_refresh_token(self, ref: str) -> str:
        if ref not in self.tokens:
            raise AuthRevoked("stored token is gone")
        return self.tokens[ref]

    def retire_others(self, ref: str) -> None:
        key = ref.rsplit(".", 1)[0]
        for other in [r for r in self.tokens if r != ref and r.rsplit(".", 1)[0] == key]:
            self.destroy(other)

    def destroy(self, ref: str) -> None:
        if self.tokens.pop(ref, None) is not None:
            self.destroyed.append(ref)


class FakeConnections:
    """The connection store over a FakeStore's connections (the worker's view of the same users)."""

    def __init__(self, mappings: FakeStore) -> None:
        self.mappings = mappings
        self.pending: dict[tuple[str, str], tuple[str, str]] = {}  # a new grant waiting for its calendar
        self.notifications: list[Any] = []
        self.figures: dict[tuple[str, str], dict[str, Any]] = {}
        self.activations = 0

    def get_connection(self, account_id: str, user_id: str) -> Connection | None:
        return self.mappings.get_connection(account_id, user_id)

    def set_pending(self, account_id: str, user_id: str, token_ref: str, google_email: str) -> None:
        self.pending[(account_id, user_id)] = (token_ref, google_email)
        if (account_id, user_id) not in self.mappings.connections:
            self.mappings.save_connection(Connection(account_id, user_id, ConnectionStatus.DISCONNECTED))

    def activate(self, account_id: str, user_id: str, calendar_id: str, token_ref: str,
                 google_email: str | None, *, can_host_meet: bool | None = None) -> None:
        from sync.kernel import notification as notes
        from sync.kernel.errors import DisconnectInProgress

        before = self.mappings.get_connection(account_id, user_id)
        if before is not None and before.status is ConnectionStatus.DISCONNECTING:
            raise DisconnectInProgress("a disconnect is under way")
        self.activations += 1  # the store's stamp of this activation
        self.mappings.save_connection(Connection(account_id, user_id, ConnectionStatus.ACTIVE, calendar_id,
                                                 token_ref, google_email, activation=f"a{self.activations}",
                                                 can_host_meet=can_host_meet))
        self.pending.pop((account_id, user_id), None)
        self.notifications.append(notes.activated(account_id, user_id, google_email, calendar_id,
                                                  before.calendar_id if before else None,
                                                  (str(len(self.notifications)),)))

    def status_figures(self, account_id: str, user_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.figures.get((account_id, user_id)) or {
            "last_synced_at": None, "last_error": None,
            "counts": {"synced": sum(m.google_exists for (a, u, _), m in self.mappings.mappings.items()
                                     if (a, u) == (account_id, user_id)), "failed": 0, "parked": 0, "deleted": 0}})


class FakeDisconnectStore:
    """The disconnect's record and transitions over the other fakes (mappings and connections,
    drift state, snapshots, moves), as the Firestore store makes them in its transactions."""

    def __init__(self, connections: FakeConnections, drift: FakeDriftStore, snapshots: FakeSnapshotStore,
                 moves: FakeMoveStore) -> None:
        self.connections, self.drift, self.snapshots, self.moves = connections, drift, snapshots, moves
        self.mappings = connections.mappings
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.notifications: list[Any] = []
        self.lock = threading.RLock()

    def get(self, account_id: str, user_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.records.get((account_id, user_id)))

    def begin(self, account_id: str, user_id: str, remove_events: bool, now: datetime) -> Begun:
        with self.lock:
            key = (account_id, user_id)
            conn = self.mappings.connections.get(key)
            if conn is None:
                return Begun("never", {})
            if conn.status is ConnectionStatus.DISCONNECTING:
                return Begun("running", copy.deepcopy(self.records.get(key) or {}))
            pending = self.connections.pending.get(key)
            refs = [r for r in (conn.token_ref, pending[0] if pending else None) if r]
            if conn.status is ConnectionStatus.DISCONNECTED and not refs:
                return Begun("disconnected", {})
            channel = self.drift.current_channel(account_id, user_id)
            if channel is not None:
                self.drift.channel_docs.pop(channel.id, None)
            self.drift.docs.pop(key, None)
            self.drift.pending.pop(key, None)
            record = {"disconnect_id": f"dc_{len(self.notifications)}_{now.timestamp()}", "account_id": account_id,
                      "user_id": user_id, "remove_events": remove_events and conn.status is not
                      ConnectionStatus.DISCONNECTED, "announce": conn.status is not ConnectionStatus.DISCONNECTED,
                      "token_refs": refs, "calendar_id": conn.calendar_id,
                      "channel": {"id": channel.id, "resource_id": channel.resource_id} if channel else None,
                      "phase": "forgetting", "total": None, "removed": 0, "failed": 0, "deleted_mappings": 0,
                      "job_seq": 0, "requested_at": now, "updated_at": now}
            self.records[key] = record
            self.mappings.connections[key] = Connection(account_id, user_id, ConnectionStatus.DISCONNECTING)
            self.connections.pending.pop(key, None)
            self.moves.docs.pop(key, None)
            return Begun("started", copy.deepcopy(record), channel)

    def update(self, account_id: str, user_id: str, disconnect_id: str, fields: dict[str, Any]) -> bool:
        with self.lock:
            record = self.records.get((account_id, user_id))
            if record is None or record["disconnect_id"] != disconnect_id:
                return False
            record.update(copy.deepcopy(fields))
            return True

    def advance(self, account_id: str, user_id: str, disconnect_id: str, seq: int, to: int, now: datetime) -> bool:
        with self.lock:
            record = self.records.get((account_id, user_id))
            if record is None or record["disconnect_id"] != disconnect_id or int(record["job_seq"]) != seq:
                return False
            record.update(job_seq=to, updated_at=now)
            return True

    def _events(self, account_id: str, user_id: str) -> dict[str, Mapping]:
        return {e: m for (a, u, e), m in self.mappings.mappings.items() if (a, u) == (account_id, user_id)}

    def forget(self, record: dict[str, Any], deadline: Callable[[], bool], now: datetime) -> bool:
        a, u = record["account_id"], record["user_id"]
        kept, doubt = 0, set()
        for event_id, m in self._events(a, u).items():
            if record.get("remove_events") and (m.google_exists or m.google_uncertain or m.lease):
                self.mappings.mappings[(a, u, event_id)] = Mapping(
                    m.event_id, m.google_event_id, google_exists=m.google_exists, google_uncertain=m.google_uncertain,
                    calendar_id=m.calendar_id, lease=m.lease)
                kept += 1
                if m.lease or m.google_uncertain:
                    doubt.add(m.calendar_id or record.get("calendar_id") or "")
            else:
                del self.mappings.mappings[(a, u, event_id)]
                self.records[(a, u)]["deleted_mappings"] += 1
        for snapshot_id in [sid for sid, doc in self.snapshots.docs.items()
                            if (doc["account_id"], doc["user_id"]) == (a, u)]:
            del self.snapshots.docs[snapshot_id]
        self.update(a, u, record["disconnect_id"], {"phase": "removing", "total": kept, "updated_at": now,
                                                    "sweep_calendars": sorted(c for c in doubt if c)})
        return True

    def to_remove(self, account_id: str, user_id: str, limit: int) -> list[Removable]:
        return [Removable(event_id, m.google_event_id, m.calendar_id,
                          bool(m.google_exists or m.google_uncertain or m.lease), m.lease.until if m.lease else None)
                for event_id, m in list(self._events(account_id, user_id).items())[:limit]]

    def settle(self, record: dict[str, Any], removed: list[str], failed: list[str], now: datetime,
               dropped: list[str] | None = None) -> None:
        with self.lock:
            a, u = record["account_id"], record["user_id"]
            current = self.records.get((a, u))
            if current is None or current["disconnect_id"] != record["disconnect_id"]:
                return
            there = {k for k in removed + failed + (dropped or []) if (a, u, k) in self.mappings.mappings}
            for k in there:
                del self.mappings.mappings[(a, u, k)]
            current["removed"] += len(there & set(removed))
            current["failed"] += len(there & set(failed))
            current["deleted_mappings"] += len(there)
            current["updated_at"] = now

    def drop_mappings(self, record: dict[str, Any], now: datetime) -> int:
        a, u = record["account_id"], record["user_id"]
        left = list(self._events(a, u))
        for event_id in left:
            del self.mappings.mappings[(a, u, event_id)]
        current = self.records[(a, u)]
        current["failed"] += len(left)
        current["deleted_mappings"] += len(left)
        return len(left)

    def pending_grant(self, account_id: str, user_id: str) -> str | None:
        pending = self.connections.pending.get((account_id, user_id))
        return pending[0] if pending else None

    def finish(self, record: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        from sync.kernel import notification as notes

        with self.lock:
            a, u = record["account_id"], record["user_id"]
            final = self.records.get((a, u))
            if final is None or final["disconnect_id"] != record["disconnect_id"]:
                return None
            self.mappings.connections[(a, u)] = Connection(a, u, ConnectionStatus.DISCONNECTED)
            self.connections.pending.pop((a, u), None)
            del self.records[(a, u)]
            self.drift.pending.pop((a, u), None)
            if final.get("announce"):
                self.notifications.append(notes.disconnected(a, u, int(final["removed"]),
                                                             ("disconnect", record["disconnect_id"]), now))
            return copy.deepcopy(final)

    def stalled(self, before: datetime, limit: int = 100) -> list[dict[str, Any]]:
        return [copy.deepcopy(r) for r in self.records.values() if r["updated_at"] < before][:limit]


class FakeOAuth:
    """Google's OAuth endpoints: ``answers`` are the token responses of the next exchanges (an
    exception is raised); ``revoked`` the tokens revoked."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any] | Exception] = []
        self.exchanged: list[dict[str, str]] = []
        self.revoked: list[str] = []

    def exchange_code(self, client_id: str, client_secret: str, code: str, verifier: str,
                      redirect_uri: str) -> dict[str, Any]:
        self.exchanged.append({"code": code, "verifier": verifier, "redirect_uri": redirect_uri})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def revoke(self, token: str) -> bool:
        self.revoked.append(token)
        return True


class FakeWatches:
    """Drift repair's channels as a connection's life calls them: what was asked, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def activated(self, account_id: str, user_id: str) -> None:
        self.calls.append(("activated", account_id, user_id))

    def stop_forgotten(self, account_id: str, user_id: str, token_ref: str, record: ChannelRecord) -> None:
        self.calls.append(("stop", account_id, user_id, token_ref, record.id))


# -- each fake holds to its port (checked by mypy in `make lint`) ------------------------------------
def _conforms() -> None:
    _: MappingStore = FakeStore()
    _calendars: Calendars = FakeCalendar()
    _session: CalendarSession = FakeCalendar()
    _publisher: Publisher = FakePublisher()
    _drift: DriftStore = FakeDriftStore()
    _snapshots: SnapshotStore = FakeSnapshotStore(FakeStore())
    _moves: MoveStore = FakeMoveStore(FakeStore())
    _oauth: OAuthClient = FakeOAuth()
    _vault: TokenVault = FakeVault()
    _connections: ConnectionStore = FakeConnections(FakeStore())
    _disconnects: DisconnectStore = FakeDisconnectStore(FakeConnections(FakeStore()), FakeDriftStore(),
                                                        FakeSnapshotStore(FakeStore()), FakeMoveStore(FakeStore()))
    _watches: Watches = FakeWatches()
    _outbox: NotificationOutbox = FakeOutbox()
    _secrets: Secrets = FakeSecrets()
    _states: OAuthStates = FakeOAuthStates()
    _flows: FlowSessions = FakeFlowSessions()
    _dead_letters: DeadLetterSubscription = FakeDeadLetters([])
    _usage: UsageLimitStore = FakeUsageLimits(FakeStore())
