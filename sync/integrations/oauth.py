"""OAuth 2.0 authorization code flow with PKCE (S256) against $OAUTH_* endpoints."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from sync.adapters.calendar_api import SCOPES
from sync.kernel.errors import Retryable, SyncError

TIMEOUT = 15


class OAuthRefused(SyncError):
    """The provider refused the exchange (bad code, wrong verifier, …): the user starts again."""


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)[:96]
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorization_url(auth_uri: str, client_id: str, redirect_uri: str, state: str, pkce: Pkce) -> str:
    query = urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": " ".join(SCOPES), "state": state, "code_challenge": pkce.challenge,
        "code_challenge_method": "S256", "access_type": "offline", "prompt": "consent",
        "include_granted_scopes": "false",
    })
    return f"{auth_uri}{'&' if '?' in auth_uri else '?'}{query}"


def exchange_code(token_uri: str, client_id: str, client_secret: str, code: str, verifier: str,
                  redirect_uri: str) -> dict[str, Any]:
    try:
        response = requests.post(token_uri, timeout=TIMEOUT, data={
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": redirect_uri, "client_id": client_id, "client_secret": client_secret,
        })
    except requests.RequestException as exc:
        raise Retryable(f"oauth token endpoint: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise Retryable(f"oauth token endpoint {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        raise Retryable("oauth token endpoint sent no JSON") from None
    if response.status_code != 200:
        raise OAuthRefused(str(payload.get("error", "refused")))
    return dict(payload)


def revoke(revoke_uri: str, token: str) -> bool:
    """Revoke a grant; True when revoked now or already gone. Raises Retryable when unsure."""
    try:
        response = requests.post(revoke_uri, data={"token": token}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise Retryable(f"oauth revoke: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise Retryable(f"oauth revoke {response.status_code}")
    return response.status_code in (200, 400)  # 400 invalid_token: already revoked or expired
