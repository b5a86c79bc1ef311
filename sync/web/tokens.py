"""The platform's HS256 JWTs (docs/connections.md#link-tokens, #api-tokens): link tokens (browser →
/connect) and API tokens (every route under /api/), and the API-token check those routes share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Response

from sync.kernel.errors import SyncError
from sync.kernel.model import key_problem
from sync.web.http import api_answer

LINK_MAX_SECONDS = 15 * 60
API_MAX_SECONDS = 60 * 60
LINK_AUDIENCE, API_AUDIENCE = "link", "api"
LEEWAY_SECONDS = 30  # clock skew between the platform and us
_MAX_ID = 256


class TokenInvalid(SyncError):
    """Forged, expired, malformed: the user must get a fresh link (401)."""


class TokenForbidden(SyncError):
    """Valid, but for another account or user (403)."""


class ReturnUrlRefused(SyncError):
    """A return_url outside ALLOWED_RETURN_ORIGINS (400): no open redirects."""


@dataclass(frozen=True)
class LinkClaims:
    account_id: str
    user_id: str
    return_url: str | None


def _is_identifier(value: object) -> bool:
    """An id the webhook would take: 1 to 256 printable characters."""
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID and value.isprintable()


def _identifier(value: object) -> str:
    if not _is_identifier(value):
        raise TokenInvalid("malformed sub or acct")
    assert isinstance(value, str)
    return value


def _lifetime(claims: dict[str, object], now: float) -> float:
    """Seconds until ``exp``. PyJWT takes a string exp ("1795320828") as a number; we do not."""
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise TokenInvalid("exp is not a number")
    return exp - now


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL; None for anything else, malformed included."""
    try:
        parts = urlsplit(url)
        port_number = parts.port  # raises ValueError on a malformed port ("host:8000:1", "host:x")
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    port = f":{port_number}" if port_number else ""
    return f"{parts.scheme}://{parts.hostname}{port}".lower()


def verify_link(token: str, secret: str, allowed_origins: tuple[str, ...], now: float | None = None) -> LinkClaims:
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=LEEWAY_SECONDS,
                            options={"require": ["exp", "sub", "acct"], "verify_aud": False})
    except jwt.PyJWTError:
        raise TokenInvalid("link token is invalid or expired") from None
    # Links made before audiences existed carry none; an API token always carries "api", so it
    # can never pass for a link (both are signed with LINK_SIGNING_SECRET).
    if "aud" in claims and claims["aud"] != LINK_AUDIENCE:
        raise TokenInvalid("not a link token")
    if _lifetime(claims, now) > LINK_MAX_SECONDS + LEEWAY_SECONDS:
        raise TokenInvalid("link token lives longer than 15 minutes")
    return_url = claims.get("return_url")
    if return_url is not None:
        # Control characters (CR/LF above all) are dropped by URL parsers, so the origin reads as
        # allowed, but no Location header may carry them: the redirect after saving would be a 500.
        if (not isinstance(return_url, str) or not return_url.isprintable()
                or origin_of(return_url) not in {o.lower() for o in allowed_origins}):
            raise ReturnUrlRefused("return_url is not on an allowed origin")
    account_id, user_id = _identifier(claims["acct"]), _identifier(claims["sub"])
    if key_problem(account_id, user_id):
        raise TokenInvalid("sub and acct cannot name a connection")
    return LinkClaims(account_id, user_id, return_url)


def verify_api(authorization: str, secret: str, account_id: str, user_id: str, now: float | None = None) -> None:
    """Bearer JWT with aud="api", at most an hour to live, whose acct and sub are the path's ids."""
    now = time.time() if now is None else now
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise TokenInvalid("missing bearer token")
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=["HS256"], audience=API_AUDIENCE,
                            leeway=LEEWAY_SECONDS, options={"require": ["exp", "sub", "acct", "aud"]})
    except jwt.PyJWTError:
        raise TokenInvalid("api token is invalid or expired") from None
    if claims["aud"] != API_AUDIENCE:  # exactly "api", not a list that merely holds it
        raise TokenInvalid("not an api token")
    if _lifetime(claims, now) > API_MAX_SECONDS + LEEWAY_SECONDS:
        raise TokenInvalid("api token lives longer than 60 minutes")
    if claims.get("acct") != account_id or claims.get("sub") != user_id:
        raise TokenForbidden("token is for another account or user")
    if not (_is_identifier(account_id) and _is_identifier(user_id)) or key_problem(account_id, user_id):
        # No connection can have them (the webhook and link tokens refuse such ids): nothing to answer for.
        raise TokenForbidden("these ids cannot name a connection")


def api_refusal(request: Any, secret: str, account_id: str, user_id: str) -> Response | None:
    """The check of every route under ``/api/``: None when the bearer token vouches for the path's
    ids, else the answer (401 with a challenge, or 403)."""
    try:
        verify_api(request.headers.get("Authorization", ""), secret, account_id, user_id)
    except TokenInvalid:
        return api_answer({"error": "unauthorized"}, 401, {"WWW-Authenticate": 'Bearer realm="evolutto-sync"'})
    except TokenForbidden:
        return api_answer({"error": "forbidden"}, 403)
    return None
