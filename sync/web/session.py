"""A small signed session cookie for the connect flow, and its CSRF token.

The cookie holds no secret: a random session id, the user it is for, where to return, and
an expiry, signed with HMAC-SHA256 under a key derived from LINK_SIGNING_SECRET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "evs_session"
# Over https the name carries the __Host- prefix: browsers then keep it only with Secure, Path=/
# and no Domain, so no other function on the shared cloudfunctions.net host can set or shadow it.
# Plain http (the local stack) keeps the bare name: browsers refuse __Host- without Secure.
HOST_COOKIE = "__Host-" + COOKIE
LIFETIME_SECONDS = 30 * 60


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), f"evolutto-sync/{purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    sid: str
    account_id: str
    user_id: str
    return_url: str | None
    expires: int

    @classmethod
    def new(cls, account_id: str, user_id: str, return_url: str | None) -> Session:
        return cls(secrets.token_urlsafe(24), account_id, user_id, return_url, int(time.time()) + LIFETIME_SECONDS)

    def encode(self, secret: str) -> str:
        body = _b64(json.dumps({"sid": self.sid, "acct": self.account_id, "sub": self.user_id,
                                "ret": self.return_url, "exp": self.expires}, separators=(",", ":")).encode())
        signature = _b64(hmac.new(_key(secret, "session"), body.encode(), hashlib.sha256).digest())
        return f"{body}.{signature}"

    @classmethod
    def decode(cls, value: str | None, secret: str) -> Session | None:
        if not value or "." not in value or not value.isascii():  # compare_digest takes ASCII only
            return None
        body, _, signature = value.partition(".")
        expected = _b64(hmac.new(_key(secret, "session"), body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            data = json.loads(_unb64(body))
            session = cls(str(data["sid"]), str(data["acct"]), str(data["sub"]), data.get("ret"), int(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def csrf_token(self, secret: str) -> str:
        return _b64(hmac.new(_key(secret, "csrf"), self.sid.encode(), hashlib.sha256).digest())

    def csrf_ok(self, secret: str, offered: str | None) -> bool:
        if not offered or not offered.isascii():  # compare_digest refuses non-ASCII str
            return False
        return hmac.compare_digest(self.csrf_token(secret), offered)

    @property
    def sid_hash(self) -> str:
        return hashlib.sha256(self.sid.encode()).hexdigest()


def cookie_name(secure: bool) -> str:
    return HOST_COOKIE if secure else COOKIE


def cookie_header(value: str, secure: bool, max_age: int = LIFETIME_SECONDS) -> str:
    """HttpOnly, SameSite=Lax, and over https (always, in the cloud) ``__Host-`` and Secure; a
    local http stack omits both, which browsers refuse over plain http."""
    return (f"{cookie_name(secure)}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
            + ("; Secure" if secure else ""))
