"""Google Meet on the stand-in: an event's ``conferenceData`` as Calendar v3 treats it.

- ``conferenceDataVersion`` (query, 0 by default, 0 or 1) on insert / update / patch. With 0 the
  body's ``conferenceData`` is ignored: an insert gets no conference, an update or a patch keeps
  the event's conference as it is. With 1 the body decides:
  a ``createRequest`` asks Google for a new conference; the conference data as read (copied back,
  its ``createRequest.requestId`` or ``conferenceId`` unchanged) keeps it; an update without
  ``conferenceData`` (or a patch with ``"conferenceData": null``) removes it; a patch that does not
  name it keeps it.
- "If an ID provided is the same as for the previous request, the request is ignored": a
  ``requestId`` already used on an event creates nothing — not a second conference, and not a new
  one after the event's conference was removed either (a new conference needs a new id).
- A new conference of type ``hangoutsMeet`` (the type when ``conferenceSolutionKey`` is left out)
  gets a meeting code shaped ``abc-defg-hij``, ``conferenceId`` = the code, ``hangoutLink`` and a
  video entry point ``https://meet.google.com/<code>`` (phone and "more" entry points too unless the
  calendar's policy says ``phone: false``), ``conferenceSolution`` ``{key, name, iconUri}`` and a
  ``signature``; ``createRequest.status.statusCode`` is ``success``.
- A calendar whose ``allowedConferenceSolutionTypes`` lacks the type asked for (and any type but
  ``hangoutsMeet``: Hangouts types are deprecated, ``addOn`` needs an add-on) answers 400
  ``invalid`` "Invalid conference type value." and writes nothing.
- Creation may be asynchronous: under a calendar's policy ``creation: "pending"`` the write answers
  ``statusCode: pending`` (no entry points, no link), and the conference settles — ``success`` or
  ``failure`` (``outcome``; a failure has no entry points, no solution, no link) — on the
  ``after_reads``-th read of the event (``events.get`` of it, or any ``events.list`` of its
  calendar), once ``after_seconds`` have passed (from a timer, reads or not), or when a test settles
  it (``State.settle_conferences``). Settling changes the event as Google does: a new etag, a new
  ``updated``, a change for sync tokens and a push ping; not a new ``sequence``, and no guest mail.

The policy is per calendar (a user's primary calendar has the user's address as its id) with a
stand-in-wide default; ``ConferencePolicy`` lists the switches.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from local.standin_errors import ApiError

if TYPE_CHECKING:
    from local.standin import Calendar, State

MEET = "hangoutsMeet"
CREATABLE = (MEET,)  # eventHangout / eventNamedHangout: deprecated, "new conferences cannot be created"
MEET_SOLUTION = {
    "key": {"type": MEET}, "name": "Google Meet",
    "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
}
ENTRY_POINT_TYPES = ("video", "phone", "sip", "more")
INVALID_TYPE = "Invalid conference type value."
INVALID_DATA = "Invalid conference data."
CREATIONS = ("immediate", "pending")
OUTCOMES = ("success", "failure")


@dataclass
class ConferencePolicy:
    """How Google creates conferences on a calendar (all switchable by tests)."""

    allowed: list[str] = field(default_factory=lambda: [MEET])  # conferenceProperties.allowedConferenceSolutionTypes
    creation: str = "immediate"  # "immediate": settled in the write's answer; "pending": settles later
    outcome: str = "success"  # what creation settles to: "success" or "failure"
    after_reads: int | None = 1  # pending settles on this read of the event (None: not on reads)
    after_seconds: float | None = None  # or once this long has passed (None: not on time)
    phone: bool = True  # dial-in (phone + "more") entry points next to the video one

    def updated(self, spec: dict[str, Any]) -> ConferencePolicy:
        """A copy with the fields of ``spec`` replaced; a wrong name or value is a ``ValueError``."""
        names = {f.name for f in fields(self)}
        unknown = set(spec) - names
        if unknown:
            raise ValueError(f"unknown conference policy fields: {', '.join(sorted(unknown))}")
        out = ConferencePolicy(**{**asdict(self), **spec})
        if not isinstance(out.allowed, list) or not all(isinstance(t, str) for t in out.allowed):
            raise ValueError("allowed: a list of conference solution types")
        if out.creation not in CREATIONS:
            raise ValueError(f"creation: one of {', '.join(CREATIONS)}")
        if out.outcome not in OUTCOMES:
            raise ValueError(f"outcome: one of {', '.join(OUTCOMES)}")
        if out.after_reads is not None and (isinstance(out.after_reads, bool) or not isinstance(out.after_reads, int)
                                            or out.after_reads < 1):
            raise ValueError("after_reads: a positive integer or null")
        if out.after_seconds is not None and (isinstance(out.after_seconds, bool)
                                              or not isinstance(out.after_seconds, (int, float))
                                              or out.after_seconds < 0):
            raise ValueError("after_seconds: a non-negative number or null")
        if not isinstance(out.phone, bool):
            raise ValueError("phone: true or false")
        return out


@dataclass
class Pending:
    """A create request Google is still working on."""

    calendar_id: str
    event_id: str
    request_id: str
    solution: str
    outcome: str
    after_reads: int | None
    due_at: float | None  # time.monotonic() when it settles on time
    phone: bool
    reads: int = 0

    def due(self) -> bool:
        return (self.after_reads is not None and self.reads >= self.after_reads) or \
            (self.due_at is not None and time.monotonic() >= self.due_at)


class Meet:
    """Conferences of every calendar of a ``State`` (call with ``state.lock`` held)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.default = ConferencePolicy()
        self.policies: dict[str, ConferencePolicy] = {}
        self.pending: dict[tuple[str, str], Pending] = {}
        self.last_request: dict[tuple[str, str], str] = {}  # (calendar, event) → its last requestId
        self.codes: set[str] = set()
        self.random = random.Random(20260)  # its own: the fault injection's sequence stays as it was
        self.created: dict[str, int] = {"success": 0, "failure": 0, "pending": 0}

    # -- policy -------------------------------------------------------------------------------
    def policy(self, calendar_id: str) -> ConferencePolicy:
        return self.policies.get(calendar_id, self.default)

    def configure(self, calendar_id: str | None, spec: dict[str, Any]) -> ConferencePolicy:
        """Change the policy of one calendar (``None``: the default of every calendar without one)."""
        if calendar_id is None:
            self.default = self.default.updated(spec)
            return self.default
        self.policies[calendar_id] = self.policy(calendar_id).updated(spec)
        return self.policies[calendar_id]

    def conference_properties(self, calendar_id: str) -> dict[str, Any]:
        """The calendar-list entry's ``conferenceProperties`` (empty when no type is allowed)."""
        allowed = self.policy(calendar_id).allowed
        return {"allowedConferenceSolutionTypes": list(allowed)} if allowed else {}

    # -- writes -------------------------------------------------------------------------------
    def apply(self, calendar: Calendar, event: dict[str, Any], body: dict[str, Any],
              previous: dict[str, Any] | None, version: int, partial: bool) -> None:
        """Give ``event`` (about to be stored; the body's conference fields are not in it) the
        conference the write asks for. Raises before changing anything when Google would refuse."""
        key = (calendar.id, event["id"])
        if version == 0 or (partial and "conferenceData" not in body):
            self._keep(event, previous)
            return
        data = body.get("conferenceData")
        if data is None:
            self.pending.pop(key, None)
            return
        create = data.get("createRequest")
        if create is not None:
            self._create(calendar, event, previous, create)
        elif data.get("conferenceSolution") and data.get("entryPoints"):
            self._attach(calendar, event, previous, data)
        else:
            raise ApiError(400, "invalid", INVALID_DATA)

    def _keep(self, event: dict[str, Any], previous: dict[str, Any] | None) -> None:
        for name in ("conferenceData", "hangoutLink"):
            if previous and name in previous:
                event[name] = copy.deepcopy(previous[name])

    def _create(self, calendar: Calendar, event: dict[str, Any], previous: dict[str, Any] | None,
                create: dict[str, Any]) -> None:
        key = (calendar.id, event["id"])
        request_id = create.get("requestId")
        if not request_id:
            raise ApiError(400, "invalid", INVALID_DATA)
        if self.last_request.get(key) == request_id:  # the same request again: ignored
            self._keep(event, previous)
            return
        solution = (create.get("conferenceSolutionKey") or {}).get("type") or MEET
        policy = self.policy(calendar.id)
        if solution not in CREATABLE or solution not in policy.allowed:
            raise ApiError(400, "invalid", INVALID_TYPE)
        self.last_request[key] = request_id
        self.pending.pop(key, None)
        if policy.creation == "immediate":
            self._settle_into(event, request_id, solution, policy.outcome, policy.phone)
            return
        event["conferenceData"] = {"createRequest": {"requestId": request_id,
                                                     "conferenceSolutionKey": {"type": solution},
                                                     "status": {"statusCode": "pending"}}}
        self.created["pending"] += 1
        pending = Pending(calendar.id, event["id"], request_id, solution, policy.outcome, policy.after_reads,
                          None if policy.after_seconds is None else time.monotonic() + policy.after_seconds,
                          policy.phone)
        self.pending[key] = pending
        if policy.after_seconds is not None:
            timer = threading.Timer(policy.after_seconds, self._settle_on_time, (key, pending))
            timer.daemon = True
            timer.start()

    def _attach(self, calendar: Calendar, event: dict[str, Any], previous: dict[str, Any] | None,
                data: dict[str, Any]) -> None:
        """Conference data given whole: the event's own (kept as Google has it) or another's (copied)."""
        prior = (previous or {}).get("conferenceData") or {}
        if data.get("conferenceId") and data.get("conferenceId") == prior.get("conferenceId"):
            self._keep(event, previous)
            return
        solution = ((data.get("conferenceSolution") or {}).get("key") or {}).get("type")
        if solution not in self.policy(calendar.id).allowed:
            raise ApiError(400, "invalid", INVALID_TYPE)
        kinds = [p.get("entryPointType") for p in data["entryPoints"]]
        if any(k not in ENTRY_POINT_TYPES for k in kinds) or set(kinds) == {"more"} \
                or any(kinds.count(k) > 1 for k in ("video", "sip", "more")):
            raise ApiError(400, "invalid", INVALID_DATA)
        self.pending.pop((calendar.id, event["id"]), None)
        event["conferenceData"] = {k: copy.deepcopy(v) for k, v in data.items()
                                   if k in ("conferenceId", "conferenceSolution", "entryPoints", "notes", "parameters",
                                            "signature")}
        video = [p.get("uri") for p in data["entryPoints"] if p.get("entryPointType") == "video"]
        if solution == MEET and video and video[0]:
            event["hangoutLink"] = video[0]

    def moved(self, source_id: str, target_id: str, event_id: str) -> None:
        """``events.move``: the conference and what Google remembers of it go with the event."""
        source, target = (source_id, event_id), (target_id, event_id)
        if source in self.last_request:
            self.last_request[target] = self.last_request.pop(source)
        if source in self.pending:
            self.pending[target] = self.pending.pop(source)
            self.pending[target].calendar_id = target_id

    # -- settling -----------------------------------------------------------------------------
    def read(self, calendar: Calendar, event_id: str | None = None) -> None:
        """A client reads one event (``events.get``) or lists the calendar (``event_id=None``):
        count the read for what is pending there and settle what is due, before the answer."""
        for key, pending in list(self.pending.items()):
            if key[0] == calendar.id and (event_id is None or key[1] == event_id):
                pending.reads += 1
                if pending.due():
                    self._settle(key, pending.outcome)

    def settle(self, calendar_id: str | None = None, event_id: str | None = None,
               outcome: str | None = None) -> int:
        """Settle pending conferences now (all, a calendar's, or one event's), to their policy's
        outcome or to ``outcome``. Returns how many settled."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"outcome: one of {', '.join(OUTCOMES)}")
        keys = [k for k in self.pending if calendar_id in (None, k[0]) and event_id in (None, k[1])]
        return sum(self._settle(k, outcome or self.pending[k].outcome) for k in keys)

    def _settle_on_time(self, key: tuple[str, str], pending: Pending) -> None:
        with self.state.lock:
            if self.pending.get(key) is pending:
                self._settle(key, pending.outcome)

    def _settle(self, key: tuple[str, str], outcome: str) -> bool:
        pending = self.pending.pop(key)
        calendar = self.state.calendars.get(pending.calendar_id)
        event = calendar.events.get(pending.event_id) if calendar else None
        create = ((event or {}).get("conferenceData") or {}).get("createRequest") or {}
        if calendar is None or event is None or create.get("requestId") != pending.request_id:
            return False  # the event, or this request, is gone meanwhile
        self._settle_into(event, pending.request_id, pending.solution, outcome, pending.phone)
        self.state.touched(calendar, event)  # a change like any other: new etag, sync tokens, a ping
        return True

    def _settle_into(self, event: dict[str, Any], request_id: str, solution: str, outcome: str, phone: bool) -> None:
        self.created[outcome] += 1
        create = {"requestId": request_id, "conferenceSolutionKey": {"type": solution},
                  "status": {"statusCode": outcome}}
        if outcome == "failure":
            event["conferenceData"] = {"createRequest": create}
            event.pop("hangoutLink", None)
            return
        code = self._new_code()
        link = f"https://meet.google.com/{code}"
        entry_points: list[dict[str, Any]] = [
            {"entryPointType": "video", "uri": link, "label": f"meet.google.com/{code}"}]
        if phone:
            pin = "".join(self.random.choice("0123456789") for _ in range(9))
            number = "".join(self.random.choice("0123456789") for _ in range(4))
            entry_points += [
                {"entryPointType": "phone", "uri": f"tel:+55-11-4935-{number}", "label": f"+55 11 4935-{number}",
                 "pin": pin, "regionCode": "BR"},
                {"entryPointType": "more", "uri": f"https://tel.meet/{code}?pin={pin}", "pin": pin},
            ]
        event["conferenceData"] = {
            "createRequest": create, "entryPoints": entry_points, "conferenceSolution": copy.deepcopy(MEET_SOLUTION),
            "conferenceId": code,
            "signature": base64.b64encode(hashlib.sha256(f"{code}:{request_id}".encode()).digest()).decode()[:40],
        }
        event["hangoutLink"] = link

    def _new_code(self) -> str:
        letters = "abcdefghijklmnopqrstuvwxyz"
        while True:
            code = "-".join("".join(self.random.choice(letters) for _ in range(n)) for n in (3, 4, 3))
            if code not in self.codes:
                self.codes.add(code)
                return code

    def describe(self) -> dict[str, Any]:
        """What ``GET /_admin/conferences`` shows."""
        return {"default": asdict(self.default), "calendars": {c: asdict(p) for c, p in self.policies.items()},
                "pending": [{"calendarId": p.calendar_id, "eventId": p.event_id, "requestId": p.request_id,
                             "reads": p.reads, "outcome": p.outcome} for p in self.pending.values()],
                "created": dict(self.created)}
