"""Delivering one notification to the platform (docs/notifications.md#delivery), signed with
Standard Webhooks v1 as on the inbound side: ``webhook-id`` is the notification's id (the same on
every retry, so the platform can deduplicate), ``webhook-timestamp`` the time of this attempt,
``webhook-signature`` one ``v1,<base64 HMAC-SHA256>`` entry per configured secret
(``PLATFORM_WEBHOOK_SECRET`` holds several space-separated ``whsec_…`` values during a rotation).
A 2xx acknowledges; a timeout (10 s), a redirect, a 4xx or a 5xx hands the message back, so
Pub/Sub retries with backoff and finally dead-letters it. With ``PLATFORM_WEBHOOK_URL`` unset,
anything that arrives is acknowledged. On ports: the platform's endpoint and the secrets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sync.kernel.errors import ConfigError, PlatformUnreachable, Retryable
from sync.kernel.notification import Notification
from sync.kernel.outcome import Outcome
from sync.kernel.ports import PlatformEndpoint, Secrets
from sync.kernel.signature import decode_secrets, sign

TIMEOUT_SECONDS = 10.0
SECRET_NAME = "PLATFORM_WEBHOOK_SECRET"


def signed_request(notification: Notification, keys: list[bytes], now: float) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery attempt."""
    body = json.dumps(notification.to_body(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = int(now)
    signatures = " ".join("v1," + sign(key, notification.id, timestamp, body) for key in keys)
    return body, {"Content-Type": "application/json", "User-Agent": "evolutto-calendar-sync",
                  "webhook-id": notification.id, "webhook-timestamp": str(timestamp),
                  "webhook-signature": signatures}


class Deliverer:
    """``endpoint`` None: PLATFORM_WEBHOOK_URL is unset, nothing is delivered."""

    def __init__(self, endpoint: PlatformEndpoint | None, secrets: Secrets, timeout: float = TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.endpoint = endpoint
        self.secrets = secrets
        self.timeout = timeout
        self.clock = clock

    def deliver(self, notification: Notification) -> Outcome:
        """``delivered`` (a 2xx) or ``disabled`` acknowledge; ``unconfigured`` (no secret),
        ``platform_timeout``, ``platform_unreachable`` and ``platform_refused`` hand it back, with
        the reason (and the platform's status) in the fields."""
        if self.endpoint is None:
            return Outcome("disabled")
        try:
            keys = decode_secrets(self.secrets.get(SECRET_NAME), SECRET_NAME)
        except (ConfigError, Retryable) as exc:
            return Outcome("unconfigured", acknowledge=False, fields={"reason": str(exc)})
        body, headers = signed_request(notification, keys, self.clock())
        try:
            status = self.endpoint.post(body, headers, self.timeout)
        except PlatformUnreachable as exc:
            if exc.timed_out:
                return Outcome("platform_timeout", acknowledge=False,
                               fields={"reason": f"no answer within {self.timeout:g} s"})
            return Outcome("platform_unreachable", acknowledge=False, fields={"reason": exc.reason})
        if 200 <= status < 300:
            return Outcome("delivered")
        return Outcome("platform_refused", acknowledge=False,
                       fields={"reason": f"platform answered {status}", "platform_status": status})
