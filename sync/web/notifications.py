"""``deliver_notification`` (docs/notifications.md#delivery): a notification's push envelope → one
delivery to the platform (sync/notifications/deliver.py); anything but delivered (or disabled)
is a 503, so Pub/Sub retries and finally dead-letters it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.kernel.notification import Notification
from sync.web.http import answer
from sync.web.push import BadEnvelope, decode_envelope, handle_push

if TYPE_CHECKING:
    from sync.bootstrap import Container

LEVELS = {"delivered": logging.INFO, "disabled": logging.INFO, "unconfigured": logging.ERROR}


def handle(request: Any, c: Container) -> Response:
    return handle_push(request, lambda: c.settings, lambda: c.push_auth, "deliver_notification",
                       lambda raw, fields: _deliver(raw, fields, c), "notification handled")


def _deliver(raw: bytes, fields: dict[str, Any], c: Container) -> tuple[int, Response, int]:
    try:
        notification = Notification.from_message(decode_envelope(raw, fields))
    except (BadEnvelope, ValueError):
        fields.update(outcome="bad_envelope", reason="not a notification push envelope")
        return 400, answer({"outcome": "bad_envelope"}, 400), logging.ERROR
    fields.update(notification.log_fields())
    outcome = c.deliverer.deliver(notification)
    fields.update({"outcome": outcome.name, **({"reason": outcome.fields["reason"]}
                                               if "reason" in outcome.fields else {})})
    level = LEVELS.get(outcome.name, logging.WARNING)
    if outcome.acknowledge:
        return 200, answer({"outcome": outcome.name}, 200), level
    extra = {"platform_status": outcome.fields["platform_status"]} if "platform_status" in outcome.fields else {}
    return 503, answer({"outcome": outcome.name, **extra}, 503), level
