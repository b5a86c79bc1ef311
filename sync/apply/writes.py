"""The Calendar writes every writer of an event shares, on the CalendarSession port: one call in
the steady state, and the fallbacks that make it idempotent (deterministic ids) and safe against
our own abandoned writes.

A write whose answer never came (a timeout) may still be applied by Calendar later, after a newer
write of the same event: an older version would then overwrite the newer one, or bring back an
event deleted since. So every update and delete is conditional (``If-Match``) on the etag of our
last recorded write: an abandoned write is conditioned on an etag that the newer write replaced,
and fails with 412 instead of landing. When the event's etag is not the one we recorded (our
abandoned write landed, someone edited the event, an attendee answered) the writer reads it and
writes over what is there now, still conditionally. Inserts need no condition: a taken id is a 409.

Who Google mails for each of these calls is ``mail``'s to say (mail_policy.py): a rewrite after
a 409 or a 412, and a write after an attempt whose outcome is unknown, are sent over what the
event shows then, so Google never mails a guest twice for one version.

That read and rewrite are calls the writer's lease was not taken for: they are made only once
``renew`` has run the lease for another term (the event still ours). A lease that ran out during a
slow 412 may already be another writer's (a newer change) or behind the disconnect's removal, and a
rewrite then would put an older version over the newer one, delete what a newer change wrote, or
bring back an event the disconnect removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sync.apply.mail_policy import Mail, holds_newer
from sync.kernel.errors import CalendarConflict, CalendarNotFound, CalendarUnavailable, EtagMismatch
from sync.kernel.ports import CalendarSession


class Superseded(Exception):
    """Calendar already shows a newer version of the event than the one being written: a write of
    ours whose result was never recorded landed first. Writing this one would bring an older version
    back (and mail its guests about it); its message is obsolete."""


ATTEMPTS = 2  # conditional writes per call: over the recorded etag, then over the one read
Renew = Callable[[], bool]  # the writer's lease run for another term; False: it is no longer ours


def _conference(data_version: int, answer: dict[str, Any] | None) -> dict[str, Any]:
    """The port's conference keywords, given only when a write has to do with a conference."""
    out: dict[str, Any] = {}
    if data_version:
        out["conference_data_version"] = data_version
    if answer is not None:
        out["answer"] = answer
    return out


def _renewed(renew: Renew | None) -> None:
    if renew is not None and not renew():
        raise EtagMismatch("calendar 412, and the event's lease ran out meanwhile: not written over")


def insert(session: CalendarSession, calendar_id: str, gid: str, body: dict[str, Any],
           renew: Renew | None = None, *, mail: Mail, data_version: int = 0,
           answer: dict[str, Any] | None = None) -> tuple[str, int, str | None]:
    """Create the event: ("created", 1 call, etag); its id taken already (a redelivery, or an event
    cancelled by hand) → an update over what is there brings it back: ("restored", 3, etag), or
    finds this very version there: ("already_applied", 2, etag). After an attempt whose outcome is
    unknown (``mail.must_read``) the event is read first, so an insert that landed is not sent again
    (mail_policy.py): ("already_applied", 1, etag), or created now: ("created", 2, etag).
    ``data_version`` and ``answer``: the writes' ``conference_data_version`` and ``answer`` (the port's)."""
    if mail.must_read:
        name, calls, etag = update(session, calendar_id, gid, body, None, renew, mail=mail, data_version=data_version,
                                   answer=answer)
        return {"recreated": "created", "updated": "restored"}.get(name, name), calls, etag
    try:
        return "created", 1, session.insert(calendar_id, body, send_updates=mail.blind,
                                            **_conference(data_version, answer))
    except CalendarConflict:
        name, calls, etag = update(session, calendar_id, gid, body, None, renew, mail=mail, data_version=data_version,
                                   answer=answer)
        return ("already_applied" if name == "already_applied" else "restored"), 1 + calls, etag


def update(session: CalendarSession, calendar_id: str, gid: str, body: dict[str, Any],
           etag: str | None, renew: Renew | None = None, *, mail: Mail, data_version: int = 0,
           answer: dict[str, Any] | None = None) -> tuple[str, int, str | None]:
    """Replace the event over ``etag`` (our last write's; None: unknown, read first): ("updated",
    1, new etag); changed since → read, replace over what is there: ("updated", 3, new etag);
    gone for good (404/410) → created again with the same id: ("recreated", +1, etag). Whenever the
    event is read, what it shows decides the write's sendUpdates (``mail.over``), and a read that
    finds this very version there writes nothing: ("already_applied", calls, its etag). After an
    attempt whose outcome is unknown and a write that would mail (``mail.must_read``), it is read
    first. EtagMismatch (retryable) when it changes under every attempt, or when ``renew`` says the
    lease is no longer ours after a 412."""
    calls = 0
    send = mail.blind
    if mail.must_read:
        etag = None
    for attempt in range(ATTEMPTS):
        if attempt:
            _renewed(renew)
        try:
            if etag is None:
                calls += 1
                current = session.get(calendar_id, gid)
                if mail.body is not None and holds_newer(current, mail.body):
                    raise Superseded("calendar shows a newer version of the event")
                etag, over = _etag_of(current), mail.over(current)
                if over is None:
                    if answer is not None:  # the event as Calendar has it: what the write would have answered
                        answer.clear()
                        answer.update(current)
                    return "already_applied", calls, etag
                send = over
            calls += 1
            return "updated", calls, session.update(calendar_id, gid, body, if_match=etag, send_updates=send,
                                                    **_conference(data_version, answer))
        except CalendarNotFound:
            return "recreated", calls + 1, session.insert(calendar_id, body, send_updates=mail.policy,
                                                          **_conference(data_version, answer))
        except EtagMismatch:
            etag = None  # not the event we last wrote: read it, write over what is there now
    raise EtagMismatch("calendar 412: the event kept changing under the write")


def delete(session: CalendarSession, calendar_id: str, gid: str, etag: str | None,
           renew: Renew | None = None, *, mail: Mail) -> tuple[str, int, None]:
    """Delete the event over ``etag`` as ``update`` does: ("deleted", calls); already gone
    (404/410, or cancelled when read): ("deleted_already", calls). After an attempt whose outcome
    is unknown and a delete that would mail, the event is read first: a cancellation is sent once."""
    calls = 0
    if mail.must_read:
        etag = None
    for attempt in range(ATTEMPTS):
        if attempt:
            _renewed(renew)
        try:
            if etag is None:
                calls += 1
                event = session.get(calendar_id, gid)
                if mail.over(event) is None:
                    return "deleted_already", calls, None
                etag = _etag_of(event)
            calls += 1
            session.delete(calendar_id, gid, mail.policy, if_match=etag)
        except CalendarNotFound:
            return "deleted_already", calls, None
        except EtagMismatch:
            etag = None
            continue
        return "deleted", calls, None
    raise EtagMismatch("calendar 412: the event kept changing under the delete")


def _etag_of(event: dict[str, Any]) -> str | None:
    return str(event.get("etag") or "") or None


def move_event(session: CalendarSession, source: str, gid: str, destination: str) -> tuple[bool, str | None]:
    """Bring an event over from the calendar it lives in (a calendar switch), same id. (True, its
    etag) when it is now in ``destination``: moved, or already there (the copy left behind is
    dropped; etag None: not known); (False, None) when it is gone from ``source`` or ``source``
    itself is gone, so the next write re-creates it."""
    try:
        return True, session.move(source, gid, destination, send_updates="none")  # a move mails nobody
    except CalendarConflict:
        try:
            session.delete(source, gid, "none")  # the copy left behind: its guests were told of the other
        except (CalendarNotFound, CalendarUnavailable):
            pass
    except (CalendarNotFound, CalendarUnavailable):
        return False, None
    return True, None
