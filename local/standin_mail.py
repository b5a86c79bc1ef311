"""The mails Google Calendar sends guests, logged by the stand-in so tests can count them.

A write mails guests when it carries ``sendUpdates=all`` (every guest) or ``externalOnly`` (only
guests who do not use Google Calendar); ``none`` — and a write without ``sendUpdates`` — mails
nobody ("The default is false"; the deprecated ``sendNotifications=true`` counts as ``all``).
For each write with notifications on, every guest who should hear of it gets one mail:

- ``invitation``: the event is new to them (an insert, an attendee added, a cancelled event brought back);
- ``update``: a change to an event they were already invited to — strictly: every such write,
  even one that changes nothing (Google documents no de-duplication), and ``events.move`` (a new organizer);
- ``cancellation``: the event is deleted (or cancelled), or they were removed from it.

The organizer (the calendar written to) and resources (rooms) get no mail. Who uses Google
Calendar is modelled by domain: the stand-in's own users and every address of their domains (a
Google Workspace domain), plus ``gmail.com`` / ``googlemail.com``; a test can replace the domains.
A pending conference settling later mails nobody.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

KINDS = ("invitation", "update", "cancellation")
GOOGLE_CONSUMER_DOMAINS = ("gmail.com", "googlemail.com")


def notification_policy(args: Any) -> str:
    """The write's ``sendUpdates`` (``all`` / ``externalOnly`` / ``none``), from its query."""
    policy = args.get("sendUpdates")
    if policy:
        return str(policy)
    return "all" if args.get("sendNotifications") == "true" else "none"


def _guests(event: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The attendees who can be mailed about ``event`` (none once it is cancelled), by address."""
    if not event or event.get("status") == "cancelled":
        return {}
    organizer = str((event.get("organizer") or {}).get("email", "")).lower()
    return {a["email"].lower(): a for a in event.get("attendees") or []
            if a.get("email") and not a.get("resource") and a["email"].lower() != organizer}


class MailLog:
    """Every guest mail the stand-in "sent" (call with the state's lock held)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.google_domains: set[str] = set(GOOGLE_CONSUMER_DOMAINS)
        self.google_users: set[str] = set()

    # -- who uses Google Calendar -------------------------------------------------------------
    def add_google_user(self, email: str) -> None:
        """A stand-in user: a Google account, and its domain a Google Workspace domain."""
        self.google_users.add(email.lower())
        self.google_domains.add(email.lower().rpartition("@")[2])

    def set_google_domains(self, domains: list[str]) -> None:
        """Exactly these domains use Google Calendar (the stand-in's users themselves still do)."""
        self.google_domains = {d.lower() for d in domains}

    def uses_google_calendar(self, email: str) -> bool:
        email = email.lower()
        return email in self.google_users or email.rpartition("@")[2] in self.google_domains

    # -- sending ------------------------------------------------------------------------------
    def sent(self, method: str, policy: str, calendar_id: str, before: dict[str, Any] | None,
             after: dict[str, Any] | None, everyone: str | None = None) -> int:
        """Log the mails of one accepted write (``before`` / ``after``: the event around it;
        ``everyone``: one kind for every guest, as a move's update). Returns how many."""
        if policy == "none":
            return 0
        old, new = _guests(before), _guests(after)
        if everyone is not None:
            kinds = {email: everyone for email in new or old}
        else:
            kinds = {email: "update" if email in old else "invitation" for email in new}
            kinds.update({email: "cancellation" for email in old if email not in new})
        event = after if after is not None else before or {}
        n = 0
        for email, kind in kinds.items():
            if policy == "externalOnly" and self.uses_google_calendar(email):
                continue
            self.items.append({
                "n": len(self.items) + 1, "to": email, "kind": kind, "method": method, "sendUpdates": policy,
                "calendarId": calendar_id, "eventId": event.get("id"), "summary": event.get("summary"),
                "start": copy.deepcopy(event.get("start")), "sequence": event.get("sequence"),
                "hangoutLink": event.get("hangoutLink"), "at": event.get("updated"),
            })
            n += 1
        return n

    # -- reading ------------------------------------------------------------------------------
    def mails(self, to: str | None = None, event_id: str | None = None,
              calendar_id: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(m) for m in self.items
                if (to is None or m["to"] == to.lower()) and event_id in (None, m["eventId"])
                and calendar_id in (None, m["calendarId"])]

    def counts(self, to: str | None = None, event_id: str | None = None) -> dict[str, dict[str, int]]:
        """Guest → kind → how many mails (only kinds that were sent)."""
        out: dict[str, Counter[str]] = {}
        for m in self.mails(to, event_id):
            out.setdefault(m["to"], Counter())[m["kind"]] += 1
        return {guest: dict(kinds) for guest, kinds in out.items()}

    def reset(self) -> None:
        self.items.clear()
