"""Who may push to a Pub/Sub push endpoint: the subscription's OIDC identity, and no one else.

A push subscription with an ``oidc_token`` sends ``Authorization: Bearer <ID token>`` signed
by Google, for the configured audience and service account. With ``PUSH_AUDIENCE`` and
``PUSH_SERVICE_ACCOUNT`` set, ``check_push`` verifies that token (signature against Google's
certificates, expiry, issuer, audience, email, email_verified) before any work is done; with
both unset (the local stack: the emulator sends no token) it lets every request through.

Used by every push-fed function (``sync_worker``, ``deliver_notification``) through the push
boundary (sync/web/push.py), which maps ``PushRefused.status`` (401 or 403) to its answer.
``google.auth`` is imported on the first check, so a cold start without the check configured
never loads it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from sync.kernel.errors import PushForbidden, PushUnauthenticated, Retryable

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW_SECONDS = 10
CERTS_DEFAULT_MAX_AGE = 300.0
CERTS_MAX_AGE_CAP = 3600.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


class OidcPushAuth:
    """The push identity check; without an audience (the local stack) every request passes."""

    def __init__(self, audience: str = "", service_account: str = "", certs_url: str = "") -> None:
        self.audience = audience
        self.service_account = service_account
        self.certs_url = certs_url
        self._lock = threading.Lock()
        self._certs: _CachingRequest | None = None  # Google's certificates, kept for their max-age

    def check(self, request_headers: Mapping[str, str]) -> None:
        """Raise PushRefused unless the request carries the configured push identity's ID token.

        Raises Retryable when Google's certificates cannot be fetched (Pub/Sub retries)."""
        if not self.audience:
            return
        scheme, _, token = (request_headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or not token.isascii():
            raise PushUnauthenticated("missing bearer token")
        claims = self._verify(token)
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise PushUnauthenticated("token not issued by Google")
        if claims.get("email") != self.service_account:
            raise PushForbidden("token of another service account")
        if claims.get("email_verified") is not True:
            raise PushUnauthenticated("token email not verified")

    def _verify(self, token: str) -> Mapping[str, Any]:
        import jwt as pyjwt
        from google.auth import exceptions
        from google.oauth2 import id_token

        try:
            return id_token.verify_token(token, self._certs_request(), audience=self.audience,  # type: ignore[arg-type]
                                         certs_url=self.certs_url, clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
        except exceptions.TransportError:
            raise Retryable("push token certificates unavailable") from None
        except (ValueError, exceptions.GoogleAuthError, pyjwt.PyJWTError, RecursionError):
            # RecursionError: google-auth parses the header's JSON before any signature check, so a
            # deeply nested header from anyone would otherwise escape as a 500.
            raise PushUnauthenticated("push token does not verify") from None

    def _certs_request(self) -> _CachingRequest:
        with self._lock:
            if self._certs is None:
                self._certs = _CachingRequest()
            return self._certs


class _CachingRequest:
    """A google-auth transport Request that keeps certificate responses for their max-age, so
    a push does not cost a fetch of Google's certificates (they change about daily)."""

    def __init__(self) -> None:
        from google.auth.transport.requests import Request

        self._request = Request()
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        if method != "GET":
            return self._request(url, method=method, **kwargs)
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        kwargs.setdefault("timeout", 10)
        response = self._request(url, method="GET", **kwargs)
        if response.status == 200:
            found = _MAX_AGE.search(response.headers.get("Cache-Control", "") or "")
            max_age = min(float(found.group(1)), CERTS_MAX_AGE_CAP) if found else CERTS_DEFAULT_MAX_AGE
            with self._lock:
                self._cache[url] = (time.monotonic() + max_age, response)
        return response
