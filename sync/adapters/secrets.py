"""Secrets: the TokenVault port and configuration secrets, with two backends.

``secret-manager`` (the default, for the cloud): one secret per connection holding the
refresh token, a new version on every reconnect (older ones destroyed once it is in use), and Firestore
keeps only the version's resource name. Configuration secrets (signing secrets, OAuth
client) come from the environment when the platform mounts them there, else from the secret
of the same name in kebab case (``WEBHOOK_SIGNING_SECRET`` → ``webhook-signing-secret``).

``env`` (local runs only): configuration secrets from the environment; refresh tokens in
the Firestore collection ``local_tokens``, so every local process shares them.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc

from sync.kernel.errors import AuthRevoked, ConfigError, Retryable

TOKEN_SECRET_PREFIX = "calendar-token-"
LOCAL_TOKENS = "local_tokens"
CONFIG_SECRET_TTL = 300.0


def token_secret_id(connection_key: str) -> str:
    """Secret ids allow [A-Za-z0-9_-]; a digest keeps them short and free of user text."""
    return TOKEN_SECRET_PREFIX + hashlib.sha256(connection_key.encode("utf-8")).hexdigest()[:40]


_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
              gexc.TooManyRequests, gexc.Aborted, gexc.Unknown)


class SecretManagerVault:
    def __init__(self, project: str, client: Any, replica_locations: tuple[str, ...] = ()) -> None:
        self.project = project
        self.client = client  # secretmanager.SecretManagerServiceClient
        # Token secrets follow the configuration secrets' replicas (SECRET_REPLICA_LOCATIONS);
        # none configured: automatic replication.
        self.replication: dict[str, Any] = (
            {"user_managed": {"replicas": [{"location": loc} for loc in replica_locations]}}
            if replica_locations else {"automatic": {}}
        )

    def store_refresh_token(self, connection_key: str, token: str) -> str:
        secret_name = f"projects/{self.project}/secrets/{token_secret_id(connection_key)}"
        try:
            try:
                self.client.create_secret(request={
                    "parent": f"projects/{self.project}",
                    "secret_id": token_secret_id(connection_key),
                    "secret": {"replication": self.replication, "labels": {"purpose": "calendar-sync-token"}},
                })
            except gexc.Conflict:  # AlreadyExists over gRPC, Conflict over REST
                pass
            version = self.client.add_secret_version(
                request={"parent": secret_name, "payload": {"data": token.encode("utf-8")}}
            )
        except _TRANSIENT as exc:
            raise Retryable(f"secret manager: {type(exc).__name__}") from exc
        return str(version.name)

    def retire_others(self, ref: str) -> None:
        """Destroy every version of the connection's secret but ``ref`` (once it is in use)."""
        secret_name = ref.split("/versions/")[0]
        try:
            for old in self.client.list_secret_versions(request={"parent": secret_name, "filter": "state:ENABLED"}):
                if old.name != ref:
                    self.client.destroy_secret_version(request={"name": old.name})
        except _TRANSIENT as exc:
            raise Retryable(f"secret manager: {type(exc).__name__}") from exc

    def read_refresh_token(self, ref: str) -> str:
        try:
            response = self.client.access_secret_version(request={"name": ref})
        except (gexc.NotFound, gexc.FailedPrecondition, gexc.BadRequest) as exc:
            # Gone, destroyed or disabled (FAILED_PRECONDITION; over REST it surfaces as a 400):
            # the token cannot be used, so the user has to connect again.
            raise AuthRevoked("stored token is gone") from exc
        except _TRANSIENT as exc:
            raise Retryable(f"secret manager: {type(exc).__name__}") from exc
        return bytes(response.payload.data).decode("utf-8")

    def destroy(self, ref: str) -> None:
        secret_name = ref.split("/versions/")[0]
        try:
            self.client.delete_secret(request={"name": secret_name})
        except gexc.NotFound:
            pass

    def config_secret(self, name: str) -> str:
        response = self.client.access_secret_version(
            request={"name": f"projects/{self.project}/secrets/{name.lower().replace('_', '-')}/versions/latest"}
        )
        return bytes(response.payload.data).decode("utf-8")


def secret_manager_vault(project: str, endpoint: str | None,
                         replica_locations: tuple[str, ...] = ()) -> SecretManagerVault:
    """The vault on Secret Manager; ``endpoint``: a local Secret Manager stand-in (REST), for tests
    and local runs."""
    from google.cloud import secretmanager

    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        client = secretmanager.SecretManagerServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})
    else:
        client = secretmanager.SecretManagerServiceClient()
    return SecretManagerVault(project, client, replica_locations)


class FirestoreTokenVault:
    """Local stand-in for Secret Manager: refresh tokens in their own Firestore collection."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def store_refresh_token(self, connection_key: str, token: str) -> str:
        secret_id = token_secret_id(connection_key)
        doc_id = f"{secret_id}.{uuid.uuid4().hex}"
        self.db.collection(LOCAL_TOKENS).document(doc_id).set({"secret": secret_id, "token": token})
        return f"{LOCAL_TOKENS}/{doc_id}"

    def retire_others(self, ref: str) -> None:
        doc_id = ref.split("/", 1)[1]
        for snap in self._versions(doc_id.split(".", 1)[0]):
            if snap.id != doc_id:
                snap.reference.delete()

    def read_refresh_token(self, ref: str) -> str:
        snap = self.db.document(ref).get()
        if not snap.exists:
            raise AuthRevoked("stored token is gone")
        return str(snap.get("token"))

    def destroy(self, ref: str) -> None:
        secret_id = ref.split("/", 1)[1].split(".", 1)[0]
        for snap in self._versions(secret_id):
            snap.reference.delete()

    def _versions(self, secret_id: str) -> list[Any]:
        from google.cloud import firestore

        query = self.db.collection(LOCAL_TOKENS).where(filter=firestore.FieldFilter("secret", "==", secret_id))
        return list(query.stream())


class ConfigSecrets:
    """Signing secrets and OAuth client credentials, read on first use and cached briefly.

    The short cache lets a rotated secret take effect without a redeploy.
    """

    def __init__(self, env: Mapping[str, str], backend: str, vault: SecretManagerVault | None = None) -> None:
        self.env = env
        self.backend = backend
        self.vault = vault
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        value = self.env.get(name)
        if value:
            return value
        if self.backend == "env" or self.vault is None:
            raise ConfigError(f"{name} is not set")
        with self._lock:
            cached = self._cache.get(name)
            if cached and time.monotonic() - cached[0] < CONFIG_SECRET_TTL:
                return cached[1]
        try:
            value = self.vault.config_secret(name)
        except gexc.NotFound:
            raise ConfigError(f"{name} is neither set nor in Secret Manager") from None
        except _TRANSIENT as exc:
            raise Retryable(f"secret manager: {type(exc).__name__}") from exc
        with self._lock:
            self._cache[name] = (time.monotonic(), value)
        return value
