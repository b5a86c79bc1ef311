"""The OAuthClient port on requests: the authorization code exchange (PKCE) and revocation at
$OAUTH_TOKEN_URI and $OAUTH_REVOKE_URI."""

from __future__ import annotations

from typing import Any

import requests

from sync.kernel.errors import OAuthRefused, Retryable

TIMEOUT = 15


class HttpOAuth:
    def __init__(self, token_uri: str, revoke_uri: str) -> None:
        self.token_uri = token_uri
        self.revoke_uri = revoke_uri

    def exchange_code(self, client_id: str, client_secret: str, code: str, verifier: str,
                      redirect_uri: str) -> dict[str, Any]:
        try:
            response = requests.post(self.token_uri, timeout=TIMEOUT, data={
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

    def revoke(self, token: str) -> bool:
        """Revoke a grant; True when revoked now or already gone. Raises Retryable when unsure."""
        try:
            response = requests.post(self.revoke_uri, data={"token": token}, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise Retryable(f"oauth revoke: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise Retryable(f"oauth revoke {response.status_code}")
        return response.status_code in (200, 400)  # 400 invalid_token: already revoked or expired
