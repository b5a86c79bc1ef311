"""``POST /google/notifications`` on ``integrations``: Calendar's push pings (docs/drift.md#how-it-notices), which
schedule a drift check (sync/drift/).

A ping carries no data, only ``X-Goog-Channel-ID``, ``X-Goog-Channel-Token``,
``X-Goog-Resource-State`` and ``X-Goog-Message-Number``. An unknown channel, a wrong token and a
channel that is no longer the connection's current one all get the same 404 and cause no work, so
a prober learns nothing. A ping whose message number is not above the highest the channel has
sent (a captured ping replayed, or one Google delivered late: the check of the later one covers
it) is acknowledged and does nothing; the number is taken in a transaction, so of concurrent
replays none gets through. A valid ``sync`` ping (the channel's first) is acknowledged;
``exists`` / ``not_exists`` schedule one drift check (coalesced: sync/drift/schedule.py). Nothing
from the headers is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.web.http import api_answer

if TYPE_CHECKING:
    from sync.bootstrap import Container

CHANNEL_ID = re.compile(r"^[0-9a-f]{32}$")  # the ids we make (uuid4 hex): anything else is not ours
MESSAGE_NUMBER = re.compile(r"^[0-9]{1,19}$", re.ASCII)  # Google's: a (64-bit) integer, growing per channel
CHECK_STATES = ("exists", "not_exists")


def _refused(fields: dict[str, Any]) -> Response:
    fields["outcome"] = "ping_refused"
    return api_answer({"error": "not_found"}, 404)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def handle(request: Any, c: Container, fields: dict[str, Any]) -> Response:
    if request.method != "POST":
        return Response(status=405, headers={"Allow": "POST"})
    channel_id = request.headers.get("X-Goog-Channel-ID", "")
    token = request.headers.get("X-Goog-Channel-Token", "")
    state = request.headers.get("X-Goog-Resource-State", "")
    if not CHANNEL_ID.match(channel_id) or not token:
        return _refused(fields)
    store = c.drift_store
    channel = store.channel(channel_id) or {}
    expected = str(channel.get("token_sha256") or "")
    given = hashlib.sha256(_bytes(token)).hexdigest()
    if not hmac.compare_digest(_bytes(given), _bytes(expected)) or not expected:
        return _refused(fields)
    account_id, user_id = str(channel.get("account_id", "")), str(channel.get("user_id", ""))
    current = store.drift_doc(account_id, user_id) or {}
    expires = channel.get("expires_at")
    if current.get("channel_id") != channel_id or (isinstance(expires, datetime)
                                                   and expires < datetime.now(timezone.utc)):
        return _refused(fields)  # stale: replaced, or disconnected
    fields.update(account_id=account_id, user_id=user_id)
    number = request.headers.get("X-Goog-Message-Number", "")
    if not MESSAGE_NUMBER.match(number) or not store.accept_message(channel_id, int(number)):
        fields["outcome"] = "ping_replayed"  # or numberless: not a message of this channel we have not seen
        return api_answer({"status": "ok"}, 200)
    if state not in CHECK_STATES or c.settings.drift_policy == "off":
        fields["outcome"] = "ping_acknowledged"
        return api_answer({"status": "ok"}, 200)
    scheduled = c.drift_scheduler.schedule(account_id, user_id, "ping")
    fields["outcome"] = "drift_check_scheduled" if scheduled else "drift_check_coalesced"
    return api_answer({"status": "ok"}, 200)
