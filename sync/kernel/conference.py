"""Google Meet on a synced event (docs/events.md#google-meet). Pure: standard library only.

Google creates a conference when a write carries ``conferenceData.createRequest`` with
``conferenceDataVersion=1``, and ignores a request whose ``requestId`` it has already seen on the
event ("if an ID provided is the same as for the previous request, the request is ignored"), even
after that conference was removed. So the request id is derived from the event and the *anchor*:
the version that (re-)added the conference, kept on the mapping. Every later write while the field
stays (a newer version, a retry, a redelivery, a snapshot's repair) sends the same request again,
which Google ignores: the event keeps its conference and its join link. A version without the field
is written with ``conferenceDataVersion=1`` and no ``conferenceData``, which removes it; one that
adds it again has a new anchor, so a new request, so a new conference. Writes that do not speak of
conferences at all (drift restores, calendar moves) use ``conferenceDataVersion=0``: the conference
stays as it is.

Where a conference stands is kept on the mapping (``conference_state``):

    requested    asked for by a write whose answer is not recorded yet
    pending      Google is still creating it: a follow-up job (``conference_check``) reads the event
    ready        created; ``conference_id`` is its Meet code; the platform was told once
    failed       Google could not create it (settled ``failure``, or still pending after the checks)
    unsupported  the calendar cannot host Meet: the event was written without it
    removed      a version without the field took ours away (later writes keep saying so)

The notifications (``event.conference_ready`` / ``event.conference_failed``) are staged by the
transaction that moves a conference into ``ready`` / ``failed`` / ``unsupported``, so each
conference is announced once, whatever the retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sync.kernel import notification as notes
from sync.kernel.model import Connection, Mapping, PlatformEvent, Version, ordering_key

MEET = "hangoutsMeet"  # Calendar's conferenceSolutionKey.type for Google Meet
REQUESTED, PENDING, READY, FAILED, UNSUPPORTED, REMOVED = (
    "requested", "pending", "ready", "failed", "unsupported", "removed")
CONFERENCE_STATES = (REQUESTED, PENDING, READY, FAILED, UNSUPPORTED, REMOVED)
_OURS = (REQUESTED, PENDING, READY, FAILED)  # states in which the event may carry our conference
SETTLED = (READY, FAILED, UNSUPPORTED)  # announced: nothing more is said of this conference
SHOWN = (REQUESTED, PENDING, READY)  # states in which guests may see our conference on the event

# event.conference_failed's reasons
CANNOT_HOST = "calendar_cannot_host_meet"
CREATION_FAILED = "creation_failed"
STILL_PENDING = "creation_still_pending"
NOT_CREATED = "not_created"

CHECK_KIND = "conference_check"  # the follow-up job on the bulk lane (sync/meet/)
MAX_CHECKS = 5  # reads of a pending conference before it counts as failed (under Pub/Sub's 5-100 attempts)
CHECK_BACKOFF_SECONDS = (2.0, 5.0, 15.0, 60.0, 300.0)  # the pause before each next read


def hosts_meet(entry: dict[str, Any]) -> bool | None:
    """Whether a calendar-list entry's calendar can host Google Meet (its
    ``conferenceProperties.allowedConferenceSolutionTypes``); None when the entry does not say."""
    props = entry.get("conferenceProperties")
    if not isinstance(props, dict):
        return None
    allowed = props.get("allowedConferenceSolutionTypes")
    return isinstance(allowed, list) and MEET in allowed


def request_id(google_id: str, anchor: Version, renewal: str | None = None) -> str:
    """The createRequest's id for the conference the version ``anchor`` asked for on this event;
    ``renewal``: asked anew under the same version after the conference ``renewal`` names was lost."""
    material = f"{google_id}\x1f{anchor.key}" + ("" if renewal is None else f"\x1frenewal\x1f{renewal}")
    return "evm" + hashlib.sha256(material.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Ask:
    """What one write asks of the event's conference."""

    data_version: int = 0  # the write's conferenceDataVersion
    anchor: Version | None = None  # the version whose conference the event should have (None: none)
    create: bool = False  # the body carries the createRequest of ``anchor``
    unsupported: bool = False  # wanted, but the calendar cannot host Meet: written without it
    # A repeated request (the event had it already): what a renewal under the same version derives its id
    # from (the conference the mapping names, "" none); None: a first request, never renewed.
    kept: str | None = None
    renewal: str | None = None  # asked anew under ``anchor`` itself: the lost conference (see ``renewed``)

    def body(self, google_id: str) -> dict[str, Any] | None:
        """The body's ``conferenceData`` (None: the body has none)."""
        if not self.create:
            return None
        assert self.anchor is not None
        return {"createRequest": {"requestId": request_id(google_id, self.anchor, self.renewal),
                                  "conferenceSolutionKey": {"type": MEET}}}

    def without_conference(self) -> Ask:
        """The same write once Calendar refused its conference (400 "Invalid conference type value.")."""
        return replace(self, data_version=0, create=False, unsupported=True)


def ask(event: PlatformEvent, mapping: Mapping | None, version: Version, connection: Connection | None) -> Ask:
    """The conference part of writing ``event`` at ``version`` over what ``mapping`` says."""
    state = mapping.conference_state if mapping is not None else None
    anchor = mapping.conference_version if mapping is not None else None
    if event.conference != "google_meet":
        if state in (*_OURS, REMOVED):
            return Ask(data_version=1)  # no conferenceData with version 1: Google removes ours
        return Ask()
    can_host = connection.can_host_meet if connection is not None else None
    if anchor is not None and state in _OURS:
        # The same request again: ignored, the conference kept.
        return Ask(1, anchor, create=True, kept=(mapping.conference_id or "") if mapping is not None else "")
    if anchor is not None and state == UNSUPPORTED and can_host is not True:
        return Ask(0, anchor, unsupported=True)  # told already; tried again once on a calendar that can
    if can_host is False:
        return Ask(0, version, unsupported=True)
    return Ask(1, version, create=True)


def renewed(request: Ask, answer: Seen, version: Version) -> Ask | None:
    """The request to send again when a write that repeated an earlier version's create request came back
    without any conference (removed by hand in Google, so Google ignored the repeated id): asked anew,
    under this version (under a renewal id when this version is the anchor itself: a snapshot's repair of
    it). None when there is nothing to ask again."""
    if not request.create or answer.status is not None or request.anchor is None or request.kept is None:
        return None
    if request.anchor != version:
        return Ask(1, version, create=True)
    return Ask(1, version, create=True, renewal=request.kept or "none")


def claimed(mapping: Mapping, request: Ask) -> Mapping:
    """The mapping as the claim stores it: the anchor recorded before the write, so a retry of a
    write whose answer was lost sends the same request (and a newer version keeps it)."""
    if request.anchor is None:
        if request.data_version == 1:
            return replace(mapping, conference_version=None, conference_state=REMOVED, conference_id=None,
                           conference_checks=0, conference_chain=None)
        if mapping.conference_state != UNSUPPORTED:
            return mapping
        return replace(mapping, conference_version=None, conference_state=None, conference_id=None,
                       conference_checks=0, conference_chain=None)
    if mapping.conference_version == request.anchor:
        return mapping
    return replace(mapping, conference_version=request.anchor, conference_state=REQUESTED, conference_id=None,
                   conference_checks=0, conference_chain=None)


@dataclass(frozen=True)
class Seen:
    """What an event as Calendar answered says of its conference."""

    status: str | None  # createRequest.status.statusCode ("success", "pending", "failure"); None: none
    join_url: str | None = None
    conference_id: str | None = None
    request: str | None = None  # the createRequest's id, when it shows one


MEET_ORIGIN = "https://meet.google.com/"  # the only join links announced (docs/events.md#google-meet)
_MAX_ID_CHARS = 128  # a Meet code is 12; anything longer is no conference of ours


def _solution(data: dict[str, Any], create: dict[str, Any]) -> str | None:
    """The conference's kind, as the answer shows it (None: not shown)."""
    for holder, key in ((data.get("conferenceSolution"), "key"), (create, "conferenceSolutionKey")):
        found = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(found, dict) and isinstance(found.get("type"), str):
            return str(found["type"])
    return None


def meet_link(uri: Any) -> bool:
    """Whether ``uri`` is a Google Meet join link (https, meet.google.com itself, no user part)."""
    if not isinstance(uri, str) or not uri.startswith(MEET_ORIGIN) or len(uri) > 2 * _MAX_ID_CHARS:
        return False
    path = uri[len(MEET_ORIGIN):]
    return bool(path) and all(c.isascii() and (c.isalnum() or c in "-_/?=&.") for c in path)


def seen(event: dict[str, Any] | None) -> Seen:
    """The event's conference as Calendar answered it. Only a Google Meet conference counts: anyone who
    can edit the calendar may swap in another one (an add-on's, any link) that Google then keeps under
    our repeated request id, and the platform hands ``join_url`` to the client as the Meet link. A
    foreign conference is seen as none, so the write asks for a new Meet (``renewed``)."""
    data = (event or {}).get("conferenceData")
    if not isinstance(data, dict):
        return Seen(None)
    found = data.get("createRequest")
    create: dict[str, Any] = found if isinstance(found, dict) else {}
    if _solution(data, create) not in (None, MEET):
        return Seen(None)
    progress = create.get("status")
    status = progress.get("statusCode") if isinstance(progress, dict) else None
    video = [p.get("uri") for p in data.get("entryPoints") or []
             if isinstance(p, dict) and p.get("entryPointType") == "video"]
    join = video[0] if video and meet_link(video[0]) else None
    if status is None:
        status = "success" if join else None  # a conference attached whole (no createRequest shown)
    found_id = data.get("conferenceId")
    conference_id = found_id if isinstance(found_id, str) and 0 < len(found_id) <= _MAX_ID_CHARS else None
    return Seen(status, join, conference_id, create.get("requestId") if isinstance(create.get("requestId"), str)
                else None)


@dataclass(frozen=True)
class Settled:
    """A conference's new standing, what to tell the platform, and whether to follow it up."""

    mapping: Mapping
    notifications: Sequence[notes.Notification] = ()
    follow_up: bool = False


def after_write(mapping: Mapping, request: Ask, answer: Seen | None, account_id: str, user_id: str,
                now: datetime) -> Settled:
    """The conference fields once a write's answer is in (``mapping`` as the finishing transaction
    read it, the claim's anchor on it). ``answer`` None: the write was a delete."""
    if answer is None:
        state = REMOVED if mapping.conference_state in (*_OURS, REMOVED) else None
        return Settled(replace(mapping, conference_version=None, conference_state=state, conference_id=None,
                               conference_checks=0, conference_chain=None))
    if request.anchor is None:
        return Settled(mapping)
    anchor = request.anchor
    if mapping.conference_version != anchor or request.renewal is not None:  # asked anew (``renewed``): a new one
        mapping = replace(mapping, conference_version=anchor, conference_state=REQUESTED, conference_id=None,
                          conference_checks=0, conference_chain=None)
    if request.unsupported:
        return _settle(mapping, UNSUPPORTED, None, CANNOT_HOST, account_id, user_id, now)
    if answer.status == "pending":
        if mapping.conference_state in SETTLED:
            return Settled(mapping)
        if mapping.conference_state == PENDING:
            return Settled(mapping)  # followed up already: one chain of checks per conference
        return Settled(replace(mapping, conference_state=PENDING, conference_checks=0, conference_chain=None),
                       follow_up=True)
    return settle_seen(mapping, answer, account_id, user_id, now)


def settle_seen(mapping: Mapping, answer: Seen, account_id: str, user_id: str, now: datetime) -> Settled:
    """A settled answer (success, failure, or no conference at all) for the mapping's anchor."""
    if answer.status == "success" and answer.join_url and answer.conference_id:
        return _settle(mapping, READY, answer, None, account_id, user_id, now)
    if answer.status == "failure":
        return _settle(mapping, FAILED, None, CREATION_FAILED, account_id, user_id, now)
    return _settle(mapping, FAILED, None, NOT_CREATED, account_id, user_id, now)


def follows(mapping: Mapping, chain: str | None) -> bool:
    """Whether the follow-up job ``chain`` is the one following the mapping's pending conference: the
    first whose read was recorded claims it. Several jobs may be published for one conference (a
    redelivered write publishes again while none has read, as its first publish may have been lost);
    the others stop at their next delivery instead of counting reads, which would settle the conference
    as still pending after MAX_CHECKS reads made within a second. None: a job from before chains."""
    return chain is None or mapping.conference_chain in (None, chain)


def after_check(mapping: Mapping, anchor: Version, answer: Seen, account_id: str, user_id: str,
                now: datetime, chain: str | None = None) -> Settled:
    """A follow-up read of a pending conference by the job ``chain``: settled, or one more check counted
    (the last one settles it as failed)."""
    if mapping.conference_version != anchor or mapping.conference_state != PENDING:
        return Settled(mapping)  # settled meanwhile, or no longer the conference asked about
    if answer.status == "pending":
        if not follows(mapping, chain):
            return Settled(mapping)  # another job follows it: this one stops (any job's settled read counts)
        checks = mapping.conference_checks + 1
        mapping = replace(mapping, conference_checks=checks, conference_chain=chain or mapping.conference_chain)
        if checks >= MAX_CHECKS:
            return _settle(mapping, FAILED, None, STILL_PENDING, account_id, user_id, now)
        return Settled(mapping, follow_up=True)
    return settle_seen(mapping, answer, account_id, user_id, now)


def _settle(mapping: Mapping, state: str, answer: Seen | None, reason: str | None, account_id: str, user_id: str,
            now: datetime) -> Settled:
    assert mapping.conference_version is not None
    conference_id = answer.conference_id if answer is not None else None
    if mapping.conference_state == state and mapping.conference_id == conference_id:
        return Settled(mapping)  # announced already (a redelivery, a later version keeping it)
    new = replace(mapping, conference_state=state, conference_id=conference_id)
    version = mapping.conference_version.rfc3339
    if state == READY:
        assert answer is not None and answer.join_url and answer.conference_id
        note = notes.conference_ready(account_id, user_id, mapping.event_id, version, answer.join_url,
                                      answer.conference_id, now)
    else:
        note = notes.conference_failed(account_id, user_id, mapping.event_id, version, reason or NOT_CREATED, now)
    return Settled(new, (note,))


def check_job(account_id: str, user_id: str, event_id: str, anchor: Version,
              chain: str) -> tuple[dict[str, Any], str]:
    """The follow-up job of a pending conference and its ordering key (the event's, on the bulk lane);
    ``chain``: this job's own id (see ``follows``)."""
    return ({"schema": 1, "kind": CHECK_KIND, "account_id": account_id, "user_id": user_id, "event_id": event_id,
             "version": anchor.rfc3339, "chain": chain}, ordering_key(account_id, user_id, event_id))


def backoff(checks: int) -> float:
    """The pause before the next read of a conference read ``checks`` times already."""
    return CHECK_BACKOFF_SECONDS[min(checks, len(CHECK_BACKOFF_SECONDS) - 1)]
