"""Changes parked while a connection could not write, sent back through the queue once it can."""

from __future__ import annotations

import json

from sync.kernel.model import ordering_key
from sync.kernel.ports import MappingStore, Publisher


def resume_parked(store: MappingStore, publisher: Publisher, account_id: str, user_id: str) -> int:
    """After a reconnect (or a usage-limited calendar taking writes again), send every parked
    change back through the queue, oldest version first; return how many. One change is kept per
    event (its newest version), so each event's changes land in version order.

    They stay parked until the worker applies them, so a failed publish loses nothing.
    """
    sent = 0
    parked = store.parked(account_id, user_id)
    for mapping in sorted(parked, key=lambda m: m.parked_version.key if m.parked_version else ""):
        if mapping.parked is None:
            continue
        message = mapping.parked
        publisher.publish(
            json.dumps(message, separators=(",", ":")).encode("utf-8"),
            ordering_key(account_id, user_id, mapping.event_id),
            {"account_id": account_id, "user_id": user_id, "event_id": mapping.event_id,
             "webhook_id": str(message.get("webhook_id", "")), "replay": "parked"},
        )
        sent += 1
    return sent
