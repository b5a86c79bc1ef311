"""The ports: every store and outside service the use cases talk to, as Protocols.

Adapters (``sync/adapters/``) implement them on Firestore, Pub/Sub, Secret Manager and the
Calendar API; ``tests/fakes.py`` implements each in memory for the unit tests. A use case
imports these, never an adapter; the composition root (``sync/bootstrap.py``) hands it the
real thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sync.kernel.model import Connection, ConnectionStatus, Mapping, StatusChange
from sync.kernel.notification import Notification

R = TypeVar("R")

# A unit of work over one event: given what is stored now, return
# (result, mapping to store or None to leave it, new connection status or None — a StatusChange when
# the status carries more, as usage_limited its retry time), optionally
# with a 4th element: the notifications of the transition (docs/notifications.md#body), committed with it.
# It may run more than once (transactions retry on contention), so it must be pure.
EventWork = Callable[[Connection | None, Mapping | None],
                     tuple[R, Mapping | None, ConnectionStatus | StatusChange | None]
                     | tuple[R, Mapping | None, ConnectionStatus | StatusChange | None, Sequence[Notification]]]


class MappingStore(Protocol):
    """Connections and their event mappings: what every writer of a user's calendar reads and
    records (the worker's apply, calendar moves, drift restores), one event at a time."""

    def get_connection(self, account_id: str, user_id: str) -> Connection | None: ...

    def update_event(self, account_id: str, user_id: str, event_id: str, work: EventWork[R]) -> R:
        """Run ``work`` in one transaction over the connection and the event's mapping; stage the
        notifications it returns in the outbox with it, and publish them after the commit.
        Raises Retryable when one could not be published (it stays in the outbox: the
        redelivery of the message that made the transition flushes it)."""
        ...

    def get_mappings(self, account_id: str, user_id: str, event_ids: Sequence[str]) -> dict[str, Mapping]:
        """The mappings of these events (those that exist), by event id; read outside a transaction."""
        ...

    def parked(self, account_id: str, user_id: str) -> list[Mapping]: ...

    def flush_notifications(self, account_id: str, user_id: str) -> int:
        """Publish notifications a crash left staged for this connection; return how many."""
        ...


class CalendarSession(Protocol):
    """Calendar v3 for one connection. Raises the errors of ``sync.kernel.errors``."""

    # Every write names its ``send_updates`` (Calendar's ``sendUpdates``: "all", "externalOnly" or
    # "none"): who Google mails for it. The writer decides it per write (docs/guests.md).
    def insert(self, calendar_id: str, body: dict[str, Any], *, send_updates: str, conference_data_version: int = 0,
               answer: dict[str, Any] | None = None) -> str | None:
        """Create the event; return the etag Calendar gave it (drift repair recognises our writes).
        ``conference_data_version`` 1: the body's ``conferenceData`` counts (0: ignored; sync/kernel/conference.py);
        ConferenceRefused when the calendar cannot host the conference asked for (nothing written).
        ``answer``: filled with the event as Calendar answered (its conference, say)."""
        ...

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """The event as Calendar has it now (a cancelled one too: ``status`` says so); its
        ``etag`` is what a conditional write over it names, its other fields what guests see and
        the version it holds (``extendedProperties``). CalendarNotFound when there is none."""
        ...

    def update(self, calendar_id: str, event_id: str, body: dict[str, Any], if_match: str | None = None, *,
               send_updates: str, conference_data_version: int = 0,
               answer: dict[str, Any] | None = None) -> str | None:
        """Replace the event (a cancelled one comes back); return its new etag. ``if_match``: only
        if its etag is still that one (EtagMismatch otherwise, nothing changed). ``conference_data_version``
        and ``answer`` as for ``insert`` (with 1 and no ``conferenceData``, the conference is removed; with 0
        it is kept as it is)."""
        ...

    def get_conference(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """The event's ``id``, ``etag``, ``status`` and ``conferenceData`` as Calendar has them now (a pending
        conference's follow-up); CalendarNotFound when there is no event."""
        ...

    def delete(self, calendar_id: str, event_id: str, send_updates: str,
               if_match: str | None = None) -> None:
        """Delete the event (a cancelled one answers 410); a disconnect's removal mails nobody
        (``send_updates="none"``); ``if_match`` as for ``update``."""
        ...

    def move(self, calendar_id: str, event_id: str, destination: str, *, send_updates: str) -> str | None:
        """Move the event to ``destination`` (same id); return its new etag (a move mails nobody: "none")."""
        ...

    def list_events(self, calendar_id: str, sync_token: str | None, page_token: str | None) -> dict[str, Any]:
        """One page of ``events.list``, deleted events included: everything without a sync token,
        else what changed since it (SyncTokenExpired on 410)."""
        ...

    def list_own(self, calendar_id: str, account_id: str, user_id: str, page_token: str | None) -> dict[str, Any]:
        """One page of the live events this service wrote for (account, user)."""
        ...

    def watch(self, calendar_id: str, channel_id: str, address: str, token: str, ttl_seconds: int) -> dict[str, Any]:
        """Open a push channel on the calendar's events; Calendar's answer (``resourceId``, ``expiration``)."""
        ...

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """Stop a push channel (one Calendar no longer knows counts as stopped)."""
        ...

    def writable_calendars(self) -> list[dict[str, Any]]:
        """The account's calendars it may write to, primary first."""
        ...

    def calendar_entry(self, calendar_id: str) -> dict[str, Any]:
        """One entry of the account's calendar list (``calendarList.get``)."""
        ...


class Calendars(Protocol):
    def session(self, connection: Connection) -> CalendarSession:
        """Calendar as the connection's grant (AuthRevoked when it has none)."""
        ...

    def session_for_ref(self, ref: str, access_token: str | None = None) -> CalendarSession:
        """Calendar as the grant stored at ``ref`` (``access_token``: one just obtained)."""
        ...


class Publisher(Protocol):
    def publish(self, data: bytes, ordering_key: str, attributes: dict[str, str]) -> str:
        """Publish and wait for the confirmation; return the message id or raise PublishFailed."""
        ...

    def publish_many(self, messages: Sequence[tuple[bytes, str, dict[str, str]]]) -> int:
        """Publish all at once and wait for every confirmation; return how many. PublishFailed if
        any was not confirmed (publishing them all again is safe)."""
        ...


class NotificationOutbox(Protocol):
    """Notifications staged with their transitions (by the stores) and not yet published."""

    def flush_pending(self, account_id: str, user_id: str) -> int:
        """Publish what a crash left staged for this connection; how many. Retryable when one could
        not be published, or one is still being published by the process that staged it."""
        ...

    def republish_stale(self, older_than: float = 60.0) -> dict[str, int]:
        """Publish what was left staged for over ``older_than`` seconds, anywhere (the maintenance task)."""
        ...


# -- connections (docs/connections.md) -------------------------------------------------------------
class ConnectionStore(Protocol):
    """Each user's connection as the connect flow, the status route and the import see it."""

    def get_connection(self, account_id: str, user_id: str) -> Connection | None: ...

    def set_pending(self, account_id: str, user_id: str, token_ref: str, google_email: str) -> None:
        """A new grant, not yet in use: the connection keeps working until a calendar is chosen."""
        ...

    def activate(self, account_id: str, user_id: str, calendar_id: str, token_ref: str,
                 google_email: str | None, *, can_host_meet: bool | None = None) -> None:
        """Active on ``calendar_id`` with this grant, ``connection.activated`` staged with it;
        DisconnectInProgress (nothing changed) while a disconnect is removing events. ``can_host_meet``:
        what the calendar's list entry says of Google Meet (None: not known)."""
        ...

    def status_figures(self, account_id: str, user_id: str) -> dict[str, Any]:
        """``last_synced_at``, ``last_error`` and ``counts`` of the status route."""
        ...


class UsageLimitStore(Protocol):
    """Connections that Calendar's usage limits made read-only, and their retries (sync/limits,
    docs/errors-and-limits.md#usage-limits). A try holds a short lease on the connection, so two
    maintenance runs never try one calendar at once."""

    def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(account, user) of up to ``limit`` connections whose retry is due at ``now``, soonest first."""
        ...

    def begin_try(self, account_id: str, user_id: str, lease_id: str, now: datetime,
                  until: datetime, *, due_by: datetime | None = None) -> Connection | None:
        """One transaction: a ``usage_limited`` connection whose retry is due by ``due_by``
        (default ``now``) and not being tried at ``now`` is leased to this try until ``until`` and
        returned; so is an ``active`` one whose resume did not finish handing its parked changes
        back (``finish_resume``). None otherwise (a connection in another status that still
        carries a retry loses it)."""
        ...

    def postpone(self, account_id: str, user_id: str, lease_id: str, retry_at: datetime, failed: int) -> bool:
        """One transaction: the try met the limit again; while it is still this try's, the next
        retry is at ``retry_at`` after ``failed`` failed tries, and the lease is cleared."""
        ...

    def release_try(self, account_id: str, user_id: str, lease_id: str) -> None:
        """The try came to no verdict (Calendar unreachable, the event busy): the lease cleared,
        the retry still due."""
        ...

    def resume(self, account_id: str, user_id: str, lease_id: str, notification: Notification) -> bool:
        """One transaction: while the connection is ``usage_limited`` and the try is this one's
        (no reconnect or disconnect since it began), it becomes ``active`` and ``notification``
        (``connection.resumed``) is staged with it; the retry stays due, leased, until
        ``finish_resume``, so a run that dies before handing the parked changes back is followed
        by one that does. False otherwise."""
        ...

    def finish_resume(self, account_id: str, user_id: str, lease_id: str) -> None:
        """The parked changes are back in the queue: the retry is dropped (while the try is ours)."""
        ...


class OAuthClient(Protocol):
    """Google's OAuth endpoints ($OAUTH_TOKEN_URI, $OAUTH_REVOKE_URI)."""

    def exchange_code(self, client_id: str, client_secret: str, code: str, verifier: str,
                      redirect_uri: str) -> dict[str, Any]:
        """The token response; OAuthRefused when the provider refuses (bad code, wrong verifier),
        Retryable when it could not be asked."""
        ...

    def revoke(self, token: str) -> bool:
        """Revoke a grant; True when revoked now or already gone. Retryable when unsure."""
        ...


class OAuthStates(Protocol):
    def put_state(self, state_hash: str, doc: dict[str, Any]) -> None: ...

    def consume_state(self, state_hash: str) -> dict[str, Any] | None:
        """The state's record, once: a second call finds nothing."""
        ...


@dataclass(frozen=True)
class FlowGrant:
    """The grant a browser session obtained at its own OAuth callback."""

    token_ref: str
    google_email: str


class FlowSessions(Protocol):
    """What each browser's connect flow may do, server side: started → authorized → used."""

    def start(self, sid_hash: str, account_id: str, user_id: str, expires_at: datetime) -> None: ...

    def authorize(self, sid_hash: str, account_id: str, user_id: str, token_ref: str, google_email: str) -> bool:
        """started → authorized, keeping the grant; False if the record is not a started flow of this user."""
        ...

    def grant(self, sid_hash: str, account_id: str, user_id: str) -> FlowGrant | None:
        """The grant of an authorized, unexpired flow of this user; None otherwise."""
        ...

    def use(self, sid_hash: str, account_id: str, user_id: str) -> FlowGrant | None:
        """authorized → used, atomically: of concurrent callers one gets the grant, the others None."""
        ...

    def release(self, sid_hash: str) -> None:
        """used → authorized again: saving the choice failed after ``use`` (the user may retry)."""
        ...


class PushAuth(Protocol):
    def check(self, request_headers: MappingOf[str, str]) -> None:
        """Raise PushRefused unless the request carries the push subscription's identity
        (Retryable when that cannot be told now)."""
        ...


class PlatformEndpoint(Protocol):
    """Where notifications go: the platform's webhook URL (PLATFORM_WEBHOOK_URL)."""

    def post(self, body: bytes, headers: dict[str, str], timeout: float) -> int:
        """POST, never following a redirect and never reading the answer's body; its status.
        PlatformUnreachable when no answer came (``timed_out`` when none within ``timeout``)."""
        ...


class Secrets(Protocol):
    """Configuration secrets (signing secrets, the OAuth client), by name: ConfigError when unset."""

    def get(self, name: str) -> str: ...


class TokenVault(Protocol):
    """Where refresh tokens live. Firestore keeps only the returned reference."""

    def store_refresh_token(self, connection_key: str, token: str) -> str: ...

    def read_refresh_token(self, ref: str) -> str: ...

    def retire_others(self, ref: str) -> None:
        """Destroy the connection's other token versions, once ``ref`` is the one in use."""
        ...

    def destroy(self, ref: str) -> None: ...


# -- drift repair (docs/drift.md) -------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelRecord:
    """A Calendar push channel (``events.watch``) of one connection."""

    id: str
    resource_id: str
    calendar_id: str
    expires_at: datetime


@dataclass(frozen=True)
class CheckState:
    """What a drift check starts from, once it holds the connection's check lease."""

    lease_id: str
    sync_token: str | None
    calendar_id: str | None  # the calendar the token belongs to
    pending_at: datetime | None = None  # when the ping that scheduled this check came
    enrolled: bool = True  # False: the connection has no drift state (disconnected): no lease taken
    last_started_at: datetime | None = None  # when the connection's previous check started listing


class DriftStore(Protocol):
    """Per connection: the sync token, the check lease, the fallback scan's schedule, the current
    channel; per channel: whose it is; the coalescing of pings into one check."""

    # the check
    def begin_check(self, account_id: str, user_id: str, lease_id: str, until: datetime) -> CheckState | None:
        """Take the connection's check lease (None: another check holds it)."""
        ...

    def listing_started(self, account_id: str, user_id: str, lease_id: str, at: datetime) -> None:
        """The check starts listing at ``at``: from now on a ping schedules one more check (this one
        may list before its change), which starts no earlier than a debounce window after ``at``."""
        ...

    def end_check(self, account_id: str, user_id: str, lease_id: str, sync_token: str | None,
                  calendar_id: str, keep_token: bool) -> None: ...

    def release_check(self, account_id: str, user_id: str, lease_id: str) -> None: ...

    # pings, coalesced
    def mark_pending(self, account_id: str, user_id: str, window: timedelta) -> bool:
        """True for the one caller that should schedule a check: none is pending, or the pending
        one is older than ``window`` (its job was lost)."""
        ...

    def clear_pending(self, account_id: str, user_id: str) -> None: ...

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        """The channel's owner (``account_id``, ``user_id``), ``token_sha256`` and ``expires_at``."""
        ...

    def accept_message(self, channel_id: str, number: int) -> bool:
        """True once per message: ``number`` is above the highest the channel has sent us."""
        ...

    def drift_doc(self, account_id: str, user_id: str) -> dict[str, Any] | None: ...

    # channels
    def current_channel(self, account_id: str, user_id: str) -> ChannelRecord | None: ...

    def set_channel(self, account_id: str, user_id: str, channel: ChannelRecord, token_sha256: str,
                    renew_at: datetime) -> ChannelRecord | None:
        """Make ``channel`` the connection's current one; return the one it replaces."""
        ...

    def channel_failed(self, account_id: str, user_id: str, retry_at: datetime) -> None:
        """No channel could be opened: the maintenance job tries again from ``retry_at``."""
        ...

    def clear_channel(self, account_id: str, user_id: str, channel_id: str) -> None: ...

    # the maintenance job
    def due(self, field: str, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(account, user) of connections whose ``field`` (``channel_renew_at``, ``next_scan_at``) has come."""
        ...

    def postpone_scan(self, account_id: str, user_id: str, at: datetime) -> None: ...

    def enroll(self, account_id: str, user_id: str, next_scan_at: datetime) -> None:
        """A connection the maintenance job did not know yet: a channel and scans from now on."""
        ...

    def active_connections(self) -> list[tuple[str, str]]: ...

    def enrolled(self) -> set[str]:
        """The connection keys that have drift state."""
        ...

    def sweep_due(self, period: timedelta) -> bool:
        """True once per ``period`` (across instances): time to enrol connections we missed."""
        ...


# -- snapshots and calendar moves (docs/snapshots.md) -------------------------------------------------
Doc = dict[str, Any]  # a stored record as the use case reads and writes it (JSON-like)
# The snapshot document as stored and its final counts → the notification its done transition stages.
OnCompleted = Callable[[Doc, dict[str, int]], Notification | None]


class SnapshotStore(Protocol):
    """A snapshot (its document, pages, event copies, per-event results and counters) and what
    reconcile compares against (the user's mappings)."""

    def get_connection(self, account_id: str, user_id: str) -> Connection | None: ...

    def create(self, snapshot_id: str, doc: Doc) -> None:
        """Store a new snapshot and make it the user's latest."""
        ...

    def get(self, snapshot_id: str) -> Doc | None: ...

    def latest(self, account_id: str, user_id: str) -> Doc | None:
        """The user's latest snapshot (with its ``snapshot_id``)."""
        ...

    def transition(self, snapshot_id: str, from_states: Sequence[str], fields: Doc,
                   skips: dict[int, list[int]] | None = None, revision: int | None = None) -> Doc | None:
        """Move the snapshot out of one of ``from_states`` (exactly once): ``fields`` merged, and
        each page's ``skips`` (positions of events already applied) recorded with it; None if it
        was not in one. ``revision``: the pages were read at this revision; PagesChanged if one
        was stored since."""
        ...

    def put_page(self, snapshot_id: str, n: int, events: list[tuple[str, dict[str, Any], str]],
                 purge_at: datetime, now: datetime) -> None:
        """Store page ``n`` (replacing what it held): (event id, raw event, version key) each.
        PageRefused, having stored nothing, when the snapshot cannot take it."""
        ...

    def pages(self, snapshot_id: str) -> dict[int, dict[str, str]]:
        """Page number → {event id: version key} of what it holds."""
        ...

    def page_events(self, snapshot_id: str, page: Doc, offset: int, limit: int) -> list[tuple[int, Doc]]:
        """(index in the page, stored event) for the page's recorded ids ``offset`` to ``offset + limit``."""
        ...

    def put_delete_chunks(self, snapshot_id: str, chunks: list[list[str]], purge_at: datetime) -> None: ...

    def part(self, snapshot_id: str, part_id: str) -> Doc | None:
        """A page (``p…``) or a chunk of deletes (``d…``)."""
        ...

    def mark_published(self, snapshot_id: str, part_id: str, through: int | None = None) -> None:
        """The whole part was handed on (``through`` None), or its events before index ``through``."""
        ...

    def mapping_docs(self, account_id: str, user_id: str) -> list[Doc]:
        """The user's mappings, the fields reconcile reads (ids, version, liveness, window)."""
        ...

    def result_exists(self, snapshot_id: str, event_id: str) -> bool: ...

    def record_result(self, snapshot_id: str, event_id: str, category: str, outcome: str,
                      purge_at: datetime) -> bool:
        """Record one event's result once (True), or nothing when a delivery already did (False)."""
        ...

    def counts(self, snapshot_id: str) -> tuple[int, dict[str, int]]:
        """(results recorded, per category)."""
        ...

    def finish(self, snapshot_id: str, now: datetime, on_completed: OnCompleted) -> bool:
        """applying → done, exactly once, with the final counts; the notification ``on_completed``
        returns staged by the same transaction."""
        ...

    def expire_abandoned(self, now: datetime) -> int:
        """Snapshots still receiving past their expiry → expired; how many."""
        ...


class MoveStore(Protocol):
    """The connection's latest calendar switch (``calendar_moves/{account:user}``)."""

    def movable(self, account_id: str, user_id: str, destination: str) -> list[str]:
        """The ids of the synced events not in ``destination`` (written, or of unknown outcome)."""
        ...

    def start(self, account_id: str, user_id: str, record: Doc) -> None:
        """Record a switch (replacing the previous one)."""
        ...

    def get(self, account_id: str, user_id: str) -> Doc | None: ...

    def chunk_done(self, account_id: str, user_id: str, move_id: str, chunk: int, size: int, now: datetime) -> None:
        """Count a chunk moved, once (a redelivered chunk counts nothing)."""
        ...


class Watches(Protocol):
    """Drift repair's Calendar push channels, as a connection's life sees them (sync/drift/channels.py)."""

    def activated(self, account_id: str, user_id: str) -> None:
        """A calendar was chosen or a grant imported: watch it (best effort, never raises)."""
        ...

    def stop_forgotten(self, account_id: str, user_id: str, token_ref: str, record: ChannelRecord) -> None:
        """Stop a channel a disconnect forgot, with the grant it was opened with (never raises)."""
        ...


class CalendarMoves(Protocol):
    """A calendar switch through the queue (sync/moves/), as the activation sees it."""

    def start(self, account_id: str, user_id: str, source: str, destination: str) -> int:
        """Record the switch and publish its move jobs; how many events will move."""
        ...


# -- the disconnect (docs/connections.md#disconnect) --------------------------------------------------
@dataclass(frozen=True)
class Begun:
    """What a disconnect's transition found: "started" (this call made it), "running" (a disconnect
    is under way already), "disconnected" (nothing to do) or "never" (no such connection)."""

    kind: str
    record: Doc
    channel: ChannelRecord | None = None


@dataclass(frozen=True)
class Removable:
    """A mapping whose Google event is still to be removed; only what the delete needs."""

    key: str  # the mapping's document id
    google_event_id: str
    calendar_id: str | None
    may_exist: bool  # written, or an attempt of unknown outcome (else: nothing to delete)
    lease_until: datetime | None  # a write that began before the disconnect holds it until then


class DisconnectStore(Protocol):
    """``disconnects/{account:user}``: the disconnect under way (its id, the grants to revoke, the
    calendar and the channel, the phase, counts, the sequence of its job chain)."""

    def get(self, account_id: str, user_id: str) -> Doc | None: ...

    def begin(self, account_id: str, user_id: str, remove_events: bool, now: datetime) -> Begun:
        """In one transaction: the connection refuses writes (``disconnecting``), its drift state
        and calendar move are forgotten, and the disconnect's record is created."""
        ...

    def update(self, account_id: str, user_id: str, disconnect_id: str, fields: Doc) -> bool:
        """Merge ``fields`` into the record if it is still this disconnect's."""
        ...

    def advance(self, account_id: str, user_id: str, disconnect_id: str, seq: int, to: int, now: datetime) -> bool:
        """Hand the job chain from ``seq`` on to ``to``: True for the one job that may continue it."""
        ...

    def forget(self, record: Doc, deadline: Callable[[], bool], now: datetime) -> bool:
        """Delete the mappings that need no removal and strip the others to their ids; delete the
        user's snapshots. False when ``deadline()`` came first (call again to go on)."""
        ...

    def to_remove(self, account_id: str, user_id: str, limit: int) -> list[Removable]: ...

    def settle(self, record: Doc, removed: list[str], failed: list[str], now: datetime,
               dropped: list[str] | None = None) -> None:
        """Their events are gone (``removed``), refused for good (``failed``), or were never there
        (``dropped``): delete these mappings and count them, once."""
        ...

    def drop_mappings(self, record: Doc, now: datetime) -> int:
        """Whatever mappings are left (their events could not be removed): deleted, counted as failed."""
        ...

    def pending_grant(self, account_id: str, user_id: str) -> str | None:
        """A grant obtained by a connect flow begun during the disconnect (revoked with the rest)."""
        ...

    def finish(self, record: Doc, now: datetime) -> Doc | None:
        """``disconnecting`` → ``disconnected``, the record deleted and ``connection.disconnected``
        staged, in one transaction, exactly once; the final record (None if already finished)."""
        ...

    def stalled(self, before: datetime, limit: int = 100) -> list[Doc]:
        """Disconnects that made no progress since ``before`` (their job chain was lost)."""
        ...


# -- operations (docs/configuration.md#operations) ----------------------------------------------------
@dataclass(frozen=True)
class Received:
    """A message pulled from a subscription (leased until acknowledged or handed back)."""

    message_id: str
    ack_id: str
    publish_time: str
    attributes: dict[str, str]
    data: bytes
    delivery_attempt: int


class DeadLetterSubscription(Protocol):
    """A dead-letter topic's inspection subscription."""

    def pull(self, max_messages: int, timeout: float) -> list[Received]:
        """Up to ``max_messages`` held messages; none when nothing came within ``timeout``."""
        ...

    def hand_back(self, ack_ids: Sequence[str]) -> None:
        """Give them back at once, unconsumed."""
        ...

    def acknowledge(self, ack_ids: Sequence[str]) -> None: ...
