"""``deliver_notification`` (CONTRACT §8): a notification's push envelope → a signed POST to the platform.

Standard Webhooks v1, as on the inbound side: ``webhook-id`` is the notification's id (the same
on every retry, so the platform can deduplicate), ``webhook-timestamp`` the time of this
attempt, ``webhook-signature`` one ``v1,<base64 HMAC-SHA256>`` entry per configured secret
(``PLATFORM_WEBHOOK_SECRET`` holds several space-separated ``whsec_…`` values during a
rotation). A 2xx from the platform acknowledges the message; a timeout (10 s), a redirect, a 4xx
or a 5xx is answered 503, so Pub/Sub retries with backoff and finally dead-letters it.
With ``PLATFORM_WEBHOOK_URL`` unset, anything that arrives is acknowledged and logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests

from sync import bootstrap
from sync.entrypoints import BadEnvelope, Response, _json, decode_envelope, handle_push
from sync.kernel.errors import ConfigError, Retryable
from sync.kernel.notification import Notification
from sync.kernel.signature import decode_secrets, sign

TIMEOUT_SECONDS = 10.0
SECRET_NAME = "PLATFORM_WEBHOOK_SECRET"
_local = threading.local()


def _http() -> requests.Session:
    if not hasattr(_local, "session"):  # one pool per thread, reused across requests
        _local.session = requests.Session()
    return _local.session  # type: ignore[no-any-return]


def signed_request(notification: Notification, keys: list[bytes], now: float) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery attempt."""
    body = json.dumps(notification.to_body(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = int(now)
    signatures = " ".join("v1," + sign(key, notification.id, timestamp, body) for key in keys)
    return body, {"Content-Type": "application/json", "User-Agent": "evolutto-calendar-sync",
                  "webhook-id": notification.id, "webhook-timestamp": str(timestamp),
                  "webhook-signature": signatures}


def deliver_notification(request: Any) -> Response:
    return handle_push(request, "deliver_notification", _deliver, "notification handled")


def _deliver(raw: bytes, fields: dict[str, Any]) -> tuple[int, Response, int]:
    try:
        notification = Notification.from_message(decode_envelope(raw, fields))
    except (BadEnvelope, ValueError):
        fields.update(outcome="bad_envelope", reason="not a notification push envelope")
        return 400, _json({"outcome": "bad_envelope"}, 400), logging.ERROR
    fields.update(notification.log_fields())
    url = (bootstrap.config().env.get("PLATFORM_WEBHOOK_URL") or "").strip()
    if not url:
        fields["outcome"] = "disabled"  # PLATFORM_WEBHOOK_URL unset: nothing to deliver to
        return 200, _json({"outcome": "disabled"}, 200), logging.INFO
    try:
        keys = decode_secrets(bootstrap.config_secrets().get(SECRET_NAME), SECRET_NAME)
    except (ConfigError, Retryable) as exc:
        fields.update(outcome="unconfigured", reason=str(exc))
        return 503, _json({"outcome": "unconfigured"}, 503), logging.ERROR
    body, headers = signed_request(notification, keys, time.time())
    try:
        # Only the status matters: the body is never read (stream=True), however large the platform makes it.
        answer = _http().post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False,
                              stream=True)
        answer.close()
    except requests.Timeout:
        fields.update(outcome="platform_timeout", reason=f"no answer within {TIMEOUT_SECONDS:g} s")
        return 503, _json({"outcome": "platform_timeout"}, 503), logging.WARNING
    except requests.RequestException as exc:
        fields.update(outcome="platform_unreachable", reason=type(exc).__name__)
        return 503, _json({"outcome": "platform_unreachable"}, 503), logging.WARNING
    if 200 <= answer.status_code < 300:
        fields["outcome"] = "delivered"
        return 200, _json({"outcome": "delivered"}, 200), logging.INFO
    fields.update(outcome="platform_refused", reason=f"platform answered {answer.status_code}")
    return 503, _json({"outcome": "platform_refused", "platform_status": answer.status_code}, 503), logging.WARNING
