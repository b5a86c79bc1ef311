"""The domain, as frozen dataclasses. Pure: standard library only."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import quote

CREATED = "event.created"
UPDATED = "event.updated"
DELETED = "event.deleted"
CHANGE_TYPES = (CREATED, UPDATED, DELETED)

SYNC_SOURCE = "evolutto"
# The Google OAuth scopes the service asks for and uses, nothing more (docs/connections.md#the-browser-flow).
SCOPES = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
)
MESSAGE_SCHEMA = 1

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})?\Z",
    re.ASCII,  # "٢٠٢٦" is no year for Calendar; \Z, not $: "…Z\n" is no date-time either
)


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    CALENDAR_UNAVAILABLE = "calendar_unavailable"
    # Calendar's usage limits (403 quotaExceeded): read-only for hours; retried on its own (sync/limits).
    USAGE_LIMITED = "usage_limited"
    # Disconnect requested (sync/disconnect): refuses every write while the service removes what it
    # keeps (and, with remove_events, the synced events); the status route already says disconnected.
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, order=True)
class Version:
    """An event's ``updated_at``: an instant with up to nanosecond precision.

    ``key`` is a fixed-width UTC string, so versions compare exactly (no float or
    microsecond truncation) both here and as Firestore strings.
    """

    key: str

    @classmethod
    def parse(cls, text: str) -> Version:
        parts = _split_rfc3339(text)  # not the cache: each webhook's version is new, an event's times repeat
        if parts is None or parts[2] is None:
            raise ValueError("must be an RFC 3339 date-time with an offset (e.g. 2026-11-20T13:00:00Z)")
        local, nanos, offset = parts
        # UTC already ("…Z", the platform's usual form): nothing to convert.
        i = local if offset is timezone.utc else local.replace(tzinfo=offset).astimezone(timezone.utc)
        return cls(utc_key(i, nanos))

    @property
    def rfc3339(self) -> str:
        """The instant in its shortest exact RFC 3339 form (UTC, ``Z``)."""
        head, frac = self.key[:19], self.key[20:29]
        for width in (0, 3, 6, 9):
            if frac[width:] == "0" * (9 - width):
                return head + ("." + frac[:width] if width else "") + "Z"
        return self.key  # unreachable: width 9 always matches


def utc_key(instant: datetime, nanos: int) -> str:
    """``Version.key``'s text for a UTC ``instant`` (aware, or naive in UTC) with ``nanos`` nanoseconds."""
    if instant.year < 1000:  # strftime's %Y is not zero-padded there: kept as it was
        return instant.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
    # The same text as strftime("%Y-%m-%dT%H:%M:%S"), at a fraction of its cost (hot: every webhook).
    return f"{instant.isoformat(timespec='seconds')[:19]}.{nanos:09d}Z"


def _split_rfc3339(text: str) -> tuple[datetime, int, timezone | None] | None:
    """Split an RFC 3339 date-time into (naive local datetime, nanoseconds, offset or None).

    Returns None when the text is not a valid date-time.
    """
    m = _RFC3339.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second, frac, tz_text = m.groups()
    nanos = int(frac.ljust(9, "0")) if frac else 0
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), nanos // 1000)
    except ValueError:
        return None
    if tz_text is None:
        return local, nanos, None
    if tz_text in ("Z", "z"):
        return local, nanos, timezone.utc
    sign = 1 if tz_text[0] == "+" else -1
    hours, minutes = int(tz_text[1:3]), int(tz_text[4:6])
    if hours > 23 or minutes > 59:
        return None
    offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:  # 0001-01-01T00:00:00+01:00 names no instant a datetime can hold
        local.replace(tzinfo=offset).astimezone(timezone.utc)
    except OverflowError:
        return None
    return local, nanos, offset


# Cached (the result is immutable): one webhook parses the same start and end up to four times
# (validation, span, recurrence), and events share their times.
parse_rfc3339 = lru_cache(maxsize=4096)(_split_rfc3339)


@dataclass(frozen=True)
class EventTime:
    """Either an all-day ``date`` or a ``date_time`` (+ optional IANA ``time_zone``)."""

    date: date | None = None
    date_time: str | None = None
    time_zone: str | None = None

    @property
    def all_day(self) -> bool:
        return self.date is not None


@dataclass(frozen=True)
class Attendee:
    email: str
    display_name: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class PlatformEvent:
    id: str
    title: str
    start: EventTime
    end: EventTime
    description: str | None = None
    location: str | None = None
    recurrence: tuple[str, ...] = ()
    attendees: tuple[Attendee, ...] = ()
    reminders_minutes: tuple[int, ...] | None = None
    conference_url: str | None = None
    url: str | None = None
    # docs/events.md#presentation-and-google-meet: what the appointment looks like, and who is mailed.
    conference: str | None = None  # "google_meet": a Meet conference Google creates; None: no conference
    visibility: str = "default"  # "default" | "private" | "public"
    busy: bool = True  # False: shown as free (transparency "transparent")
    status: str = "confirmed"  # "confirmed" | "tentative"
    color: int | None = None  # Calendar's event colour id 1-11; None: the calendar's colour
    notify_attendees: str | None = None  # "none" | "external" | "all"; None: the deployment's SEND_UPDATES


CONFERENCE_TYPES = ("google_meet",)
VISIBILITIES = ("default", "private", "public")
EVENT_STATUSES = ("confirmed", "tentative")
NOTIFY_POLICIES = ("none", "external", "all")
COLOR_IDS = range(1, 12)


@dataclass(frozen=True)
class Change:
    """One validated platform webhook: what happened to which event, at which version."""

    type: str
    account_id: str
    user_id: str
    event_id: str
    version: Version
    webhook_id: str
    event: PlatformEvent | None = None  # None for deletes
    raw_event: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_delete(self) -> bool:
        return self.type == DELETED

    @property
    def ordering_key(self) -> str:
        return ordering_key(self.account_id, self.user_id, self.event_id)

    @property
    def connection_key(self) -> str:
        return connection_key(self.account_id, self.user_id)

    def to_message(self) -> dict[str, Any]:
        """The Pub/Sub message body: everything the worker needs, without the envelope."""
        return {
            "schema": MESSAGE_SCHEMA,
            "webhook_id": self.webhook_id,
            "type": self.type,
            "account_id": self.account_id,
            "user_id": self.user_id,
            "event": self.raw_event,
        }

    def parked_message(self) -> dict[str, Any]:
        """``to_message()`` with the event cut to the fields docs/events.md#fields defines, for keeping in a
        Firestore mapping: a change parked while the connection cannot write, or the last applied
        one that drift repair restores from. Unknown fields are ignored when the
        message is applied, but stored they could make the write fail for good (an array in an
        array, thousands of keys, maps nested past Firestore's depth), losing the change."""
        return {**self.to_message(), "event": contract_event(self.raw_event, self.is_delete)}

    def log_fields(self) -> dict[str, str]:
        """Identifiers only: safe to log (no titles, no contents)."""
        return {
            "webhook_id": self.webhook_id,
            "ordering_key": self.ordering_key,
            "account_id": self.account_id,
            "user_id": self.user_id,
            "event_id": self.event_id,
            "change_type": self.type,
            "version": self.version.rfc3339,
        }


_EVENT_FIELDS = ("id", "updated_at", "title", "description", "location", "start", "end", "recurrence",
                 "attendees", "reminders_minutes", "conference_url", "url", "conference", "visibility", "busy",
                 "status", "color", "notify_attendees")
_TIME_FIELDS = ("date", "date_time", "time_zone")
_ATTENDEE_FIELDS = ("email", "display_name", "optional")
_CONFERENCE_FIELDS = ("type",)
_DELETE_FIELDS = ("id", "updated_at", "notify_attendees")  # a delete's policy: who hears of the cancellation


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def contract_event(raw: dict[str, Any], is_delete: bool = False) -> dict[str, Any]:
    """The contract's fields of a webhook ``event`` (a delete's: id, updated_at, notify_attendees), each cut to the
    shape the contract gives it, so nothing in it nests an array in an array."""
    out: dict[str, Any] = {}
    for name in _DELETE_FIELDS if is_delete else _EVENT_FIELDS:
        value = raw.get(name)
        if name not in raw or value is None:
            continue
        if name in ("start", "end") and isinstance(value, dict):
            out[name] = {k: value[k] for k in _TIME_FIELDS if k in value and _scalar(value[k])}
        elif name == "attendees" and isinstance(value, list):
            out[name] = [{k: a[k] for k in _ATTENDEE_FIELDS if k in a and _scalar(a[k])}
                         for a in value if isinstance(a, dict)]
        elif name == "conference" and isinstance(value, dict):
            out[name] = {k: value[k] for k in _CONFERENCE_FIELDS if k in value and _scalar(value[k])}
        elif name in ("recurrence", "reminders_minutes") and isinstance(value, list):
            out[name] = [item for item in value if _scalar(item)]
        elif _scalar(value):
            out[name] = value
    return out


def ordering_key(account_id: str, user_id: str, event_id: str) -> str:
    return f"{account_id}/{user_id}/{event_id}"


def connection_key(account_id: str, user_id: str) -> str:
    """A Firestore-safe document id for (account, user): escaped so it cannot contain '/'."""
    return f"{quote(account_id, safe='')}:{quote(user_id, safe='')}"


MAX_DOCUMENT_ID_BYTES = 1500  # Firestore's limit on a document id


def key_problem(account_id: str, user_id: str) -> tuple[str, str] | None:
    """(field, why) when these ids cannot name a connection document, else None: a key over
    Firestore's 1500 bytes once escaped (non-ASCII escapes to three bytes a byte), or a key of the
    form ``__…__``, which Firestore reserves. Refused at the edge (a 400, a 401), they never reach
    a write that could only fail. (Event ids always fit: ``event_key`` hashes the long ones.)"""
    # quote() leaves only ASCII, at most 12 bytes a character (4 UTF-8 bytes, "%XX" each): ids short
    # enough that even that cannot pass the limit are not escaped to know it (hot: every webhook).
    if ((len(account_id) + len(user_id)) * _MAX_ESCAPED + 1 > MAX_DOCUMENT_ID_BYTES
            and len(connection_key(account_id, user_id)) > MAX_DOCUMENT_ID_BYTES):
        return "user_id", "account_id and user_id are too long together once escaped for storage"
    # quote() keeps "_" and turns anything it escapes into "%XX": the key starts (ends) with "__"
    # exactly when account_id starts (user_id ends) with it.
    if account_id.startswith("__") and user_id.endswith("__"):
        return "user_id", "an account_id starting and a user_id ending with '__' are reserved"
    return None


_MAX_ESCAPED = 12  # bytes of quote(c, safe="") for one character, at most


MAX_EVENT_KEY = 1400  # Firestore document ids hold at most 1500 bytes (room left for a page's prefix)


def event_key(event_id: str) -> str:
    """A Firestore-safe document id for a platform event id. An id whose escaped form would not fit
    (up to 256 characters, each escaped to as many as 12) is named by its SHA-256 instead."""
    key = "e:" + quote(event_id, safe="")
    return key if len(key) <= MAX_EVENT_KEY else "h:" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()


_B32_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_HEX = "0123456789abcdefghijklmnopqrstuv"
_TO_HEX = str.maketrans(_B32_STD, _B32_HEX)


def google_event_id(account_id: str, user_id: str, event_id: str) -> str:
    """Stable Calendar event id for (account, user, event): base32hex of a SHA-256, 52 chars.

    Calendar accepts ids of 5-1024 characters from ``[a-v0-9]``; a digest keeps every id the
    same length whatever the platform's ids look like, and cannot collide in practice.
    """
    material = "\x1f".join((account_id, user_id, event_id)).encode("utf-8")
    digest = hashlib.sha256(material).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").translate(_TO_HEX)


@dataclass(frozen=True)
class Connection:
    account_id: str
    user_id: str
    status: ConnectionStatus
    calendar_id: str | None = None
    token_ref: str | None = None
    google_email: str | None = None
    # Which activation this is (the store's stamp of the last connect or import): a writer that
    # read one activation and finds another when it records has met a reconnect in between, and
    # what it learned (a revoked grant, a calendar gone) is about a grant or calendar no longer
    # in use.
    activation: str | None = None
    # While ``usage_limited``: when the calendar is tried again, and how many tries failed so far
    # (docs/errors-and-limits.md#usage-limits).
    retry_at: datetime | None = None
    retry_step: int = 0
    # Whether the calendar can host Google Meet (its calendar-list entry's conferenceProperties, read when
    # it was chosen); None: not known (an imported grant), so a conference is asked for and Google decides.
    can_host_meet: bool | None = None

    @property
    def key(self) -> str:
        return connection_key(self.account_id, self.user_id)

    @property
    def can_write(self) -> bool:
        return self.status is ConnectionStatus.ACTIVE and bool(self.calendar_id and self.token_ref)

    def same_activation(self, other: Connection | None) -> bool:
        """``other`` is this connection as a later read found it, not activated again since."""
        return other is not None and other.activation == self.activation

    @property
    def gone(self) -> bool:
        """Disconnected, or being disconnected: nothing is written for it, kept for it, or announced."""
        return self.status in (ConnectionStatus.DISCONNECTING, ConnectionStatus.DISCONNECTED)


@dataclass(frozen=True)
class StatusChange:
    """A connection's new status as a writer records it, with what the status carries: the first
    retry of a ``usage_limited`` calendar (``retry_at``)."""

    status: ConnectionStatus
    retry_at: datetime | None = None

    @classmethod
    def of(cls, value: ConnectionStatus | StatusChange | None) -> StatusChange | None:
        return cls(value) if isinstance(value, ConnectionStatus) else value


@dataclass(frozen=True)
class Lease:
    """A change in flight: taken in the claim transaction, released when its result is written."""

    id: str
    version: Version
    until: datetime


@dataclass(frozen=True)
class Mapping:
    """What the service knows of one platform event in one user's calendar."""

    event_id: str
    google_event_id: str
    version: Version | None = None  # the newest version applied (or tombstoned, or failed)
    deleted: bool = False  # tombstone
    google_exists: bool = False  # a Google event was created and not deleted by us
    google_uncertain: bool = False  # a write was attempted but its outcome is unknown (timeout, crash)
    # The newest version whose write was attempted without its outcome recorded (no answer, a 5xx, a
    # worker killed): Calendar may show it, and its message will be delivered again, so an older
    # change is obsolete (docs/guests.md#guest-mails-exactly-once): writing it would bring an older version
    # back, or a deleted event, and mail its guests about it.
    attempted: Version | None = None
    calendar_id: str | None = None  # where the Google event lives
    last_error: str | None = None
    error_at: datetime | None = None
    synced_at: datetime | None = None
    lease: Lease | None = None
    parked: dict[str, Any] | None = None  # a change kept while the grant is revoked
    parked_version: Version | None = None
    # Drift repair (docs/drift.md): the etag Calendar gave our last write, and the change it applied (the
    # message, as ``parked``), so a hand edit can be recognised and rewritten. Firestore only.
    etag: str | None = None
    applied: dict[str, Any] | None = None
    # The sendUpdates the last applied version was written with ("all", "externalOnly", "none"):
    # a delete without notify_attendees follows it (docs/guests.md#guest-mails-exactly-once).
    notify: str | None = None
    # When the applied event ends (a series: its last occurrence), as a fixed-width UTC key like
    # Version.key; open_ended: a series without end. Both unknown (None/False) on mappings
    # written before snapshots existed: a windowed snapshot never deletes those (docs/snapshots.md#what-is-applied).
    ends_at: str | None = None
    open_ended: bool = False
    # Google Meet (sync/kernel/conference.py): the version that asked for the conference the event has
    # (its createRequest's id derives from it), where that conference stands (CONFERENCE_STATES), its
    # Meet code once created, and how many follow-up reads a pending creation has had (and by which job).
    conference_version: Version | None = None
    conference_state: str | None = None
    conference_id: str | None = None
    conference_checks: int = 0
    conference_chain: str | None = None  # the follow-up job reading the pending conference (the first to read)
