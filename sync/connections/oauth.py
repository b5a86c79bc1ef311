"""The OAuth 2.0 authorization code flow's own parts (PKCE S256, the authorization URL). Pure;
the exchange and the revocation are the OAuthClient port's (sync/adapters/oauth.py)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from sync.kernel.model import SCOPES


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
