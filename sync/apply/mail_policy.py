"""Who Google mails for one write (docs/guests.md#guest-mails-exactly-once). Pure.

Google mails an event's guests for every write that carries ``sendUpdates`` ``all`` or
``externalOnly``, whether or not anything changed. A careful person mails them once per change
they can see, so each write names its own ``sendUpdates``:

* the version's policy (its ``notify_attendees``, else SEND_UPDATES) when the write changes what
  guests see: the title, description, location, times, recurrence, the attendee list, the
  conference, or whether the event exists at all (a new event, a delete, an event brought back);
* ``none`` when it does not (reminders, colour, busy/free, visibility, tentative, a rewrite of an
  unchanged event, a restore that changes nothing visible), compared with what the event shows now:
  the last applied body the mapping keeps, or what Google returned when we read the event.

A write whose earlier attempt has an unknown outcome (no answer, a 5xx, a 503 answered after the
write was applied, a worker killed before recording) may already have mailed everyone: before
writing again with a mailing policy, the writer reads the event (``must_read``) and writes over
what it shows (``over``): nothing when Google already has this version, ``none`` when only
something guests do not see is left to fix. The steady state never reads: one call per change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sync.kernel.model import Change, Mapping, Version

NONE = "none"
CALENDAR_POLICIES = {"all": "all", "external": "externalOnly", "none": NONE}  # notify_attendees → sendUpdates
SOURCE_VERSION = "source_updated_at"
_REACH = {NONE: 0, "externalOnly": 1, "all": 2}  # who a policy mails: nobody, external guests, everyone


def version_policy(change: Change, default: str, mapping: Mapping | None = None) -> str:
    """The ``sendUpdates`` of a change's writes that guests see: its ``notify_attendees``; absent, a
    delete follows the last version applied to the event (kept on the mapping) and anything else
    the deployment's SEND_UPDATES (``default``)."""
    notify = change.event.notify_attendees if change.event is not None else change.raw_event.get("notify_attendees")
    if notify is not None:
        return CALENDAR_POLICIES[str(notify)]
    if change.is_delete and mapping is not None and mapping.notify is not None:
        return mapping.notify
    return default


def widest(kept: str | None, policy: str) -> str:
    """The policy that mails everyone either would: what a mapping keeps while the version that may be in
    Google is not recorded yet (a delete after it must reach whoever that version may have invited)."""
    return policy if kept is None or _REACH[policy] >= _REACH.get(kept, 0) else kept


# -- what guests see -------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def event_time(value: Any) -> tuple[str, ...]:
    """An event's start or end as the instant it names (Calendar answers with an offset where we sent
    a local time and a zone), or the all-day date."""
    if not isinstance(value, dict):
        return ("",)
    if value.get("date"):
        return ("date", str(value["date"]))
    text, zone = _text(value.get("dateTime")), _text(value.get("timeZone"))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
        text = moment.astimezone(timezone.utc).isoformat()
    except (ValueError, KeyError):
        pass  # compared as written
    return ("dateTime", text, zone)


def conference_kind(event: dict[str, Any]) -> str | None:
    """The conference an event body asks for or a Calendar event has (its solution type), or None."""
    data = event.get("conferenceData")
    if not isinstance(data, dict):
        return None
    raw_request, raw_solution = data.get("createRequest"), data.get("conferenceSolution")
    request: dict[str, Any] = raw_request if isinstance(raw_request, dict) else {}
    solution: dict[str, Any] = raw_solution if isinstance(raw_solution, dict) else {}
    asked, key = request.get("conferenceSolutionKey"), solution.get("key")
    requested = asked.get("type") if isinstance(asked, dict) else None
    created = key.get("type") if isinstance(key, dict) else None
    return _text(requested) or _text(created) or \
        ("conference" if data.get("conferenceId") or data.get("entryPoints") else None)


def guest_view(event: dict[str, Any]) -> tuple[Any, ...]:
    """What the event's guests see of a Calendar event or event body, normalised to compare: whether
    it exists, title, description, location, times, recurrence, the attendee list, the conference."""
    return (
        _text(event.get("status")) == "cancelled",
        _text(event.get("summary")),
        _text(event.get("description")),
        _text(event.get("location")),
        event_time(event.get("start")),
        event_time(event.get("end")),
        tuple(event.get("recurrence") or ()),
        tuple(sorted((_text(a.get("email")).lower(), bool(a.get("optional")))
                     for a in event.get("attendees") or [] if isinstance(a, dict))),
        conference_kind(event),
    )


def reminders_view(value: Any) -> tuple[Any, ...]:
    value = value if isinstance(value, dict) else {"useDefault": True}
    overrides = sorted((_text(o.get("method")), int(o.get("minutes") or 0))
                       for o in value.get("overrides") or [] if isinstance(o, dict))
    return bool(value.get("useDefault")), tuple(overrides)


def owner_view(event: dict[str, Any]) -> tuple[Any, ...]:
    """What only the calendar's owner sees (reminders, busy/free, visibility, colour, tentative) and the
    version the event holds: a write that changes only these mails nobody."""
    private = (event.get("extendedProperties") or {}).get("private") or {}
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    return (
        reminders_view(event.get("reminders")),
        _text(event.get("transparency")) or "opaque",
        _text(event.get("visibility")) or "default",
        _text(event.get("colorId")),
        _text(event.get("status")) or "confirmed",
        (_text(source.get("title")), _text(source.get("url"))) if source else None,
        _text(private.get(SOURCE_VERSION)),
    )


def _version(event: dict[str, Any]) -> Version | None:
    text = _text(((event.get("extendedProperties") or {}).get("private") or {}).get(SOURCE_VERSION))
    try:
        return Version.parse(text) if text else None
    except ValueError:
        return None


def holds_version(event: dict[str, Any], body: dict[str, Any]) -> bool:
    """The Calendar event carries the version ``body`` writes (its ``source_updated_at``)."""
    return _version(body) is not None and _version(event) == _version(body)


def holds_newer(event: dict[str, Any], body: dict[str, Any]) -> bool:
    """The Calendar event carries a newer version of ours than ``body``: a write of ours whose result
    was never recorded (a 503 after it was applied, a worker killed) got there first."""
    there, mine = _version(event), _version(body)
    return there is not None and mine is not None and there > mine


# -- one write --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mail:
    """The mail decision for the writes of one version of one event.

    ``policy``: the version's ``sendUpdates`` for a change guests see; ``body``: what the write sends
    (None: a delete); ``shown``: what the event shows guests now as far as we know without asking
    (the last applied body; None: no event yet, or not known); ``uncertain``: an earlier attempt at
    this event may have been applied (and have mailed) without our knowing.
    """

    policy: str
    body: dict[str, Any] | None = None
    shown: dict[str, Any] | None = None
    uncertain: bool = False

    @property
    def blind(self) -> str:
        """``sendUpdates`` for a write made without reading the event first."""
        if self.policy == NONE or self.body is None or self.shown is None:
            return self.policy  # nobody mailed; a delete is a cancellation; a new event an invitation
        return self.policy if guest_view(self.body) != guest_view(self.shown) else NONE

    @property
    def must_read(self) -> bool:
        """Read the event before writing: an earlier attempt may have mailed already, and this one would."""
        return self.uncertain and self.blind != NONE

    def over(self, current: dict[str, Any]) -> str | None:
        """``sendUpdates`` for a write over ``current``, the event as Calendar has it now; None: there
        is nothing to write (the delete is done, or Calendar already shows exactly this version)."""
        cancelled = _text(current.get("status")) == "cancelled"
        if self.body is None:
            return None if cancelled else self.policy
        if cancelled:
            return self.policy  # brought back: its guests are invited again
        if guest_view(current) == guest_view(self.body):
            if holds_version(current, self.body) and owner_view(current) == owner_view(self.body):
                return None
            return NONE
        return self.policy

    def as_shown(self, current: dict[str, Any]) -> Mail:
        """This decision with ``current`` as what the event shows (read from Calendar)."""
        return Mail(self.policy, self.body, current, uncertain=False)
