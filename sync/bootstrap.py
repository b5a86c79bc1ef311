"""Wires adapters to the core, lazily: nothing here runs at import time.

Each getter builds its object on first use and keeps it for the life of the instance, so
clients (gRPC channels, HTTP pools, the Calendar discovery document) are made once.
Heavy libraries are imported inside the getters, so each function's cold start pays only
for what that function uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sync.config import Settings, settings

T = TypeVar("T")
_lock = threading.RLock()
_instances: dict[str, Any] = {}


def once(name: str, make: Callable[[], T]) -> T:
    """The instance built by ``make`` on first use, kept for the life of the process under ``name``."""
    try:
        return _instances[name]  # type: ignore[no-any-return]
    except KeyError:
        pass
    with _lock:
        if name not in _instances:
            _instances[name] = make()
        return _instances[name]  # type: ignore[no-any-return]


def reset() -> None:
    """Forget every instance (tests that change the environment)."""
    with _lock:
        _instances.clear()
        settings.cache_clear()


def override(name: str, instance: Any) -> None:
    """Put a ready-made instance in place (tests wire fakes through this)."""
    with _lock:
        _instances[name] = instance


def config() -> Settings:
    return settings()


def _pubsub_client() -> Any:
    def make() -> Any:
        from sync.adapters.pubsub import new_publisher_client

        return new_publisher_client()

    return once("pubsub_client", make)


def _publisher_for(name: str, topic: Callable[[Settings], str]) -> Any:
    def make() -> Any:
        from sync.adapters.pubsub import PubSubPublisher

        s = config()
        return PubSubPublisher(s.project, topic(s), timeout=s.publish_timeout_seconds, client=_pubsub_client())

    return once(name, make)


def publisher() -> Any:
    """The live lane: webhooks and parked changes (``$SYNC_TOPIC``)."""
    return _publisher_for("publisher", lambda s: s.sync_topic)


def bulk_publisher() -> Any:
    """The bulk lane (``$SYNC_TOPIC-bulk``): work that must never hold up live changes."""
    return _publisher_for("bulk_publisher", lambda s: s.bulk_topic)


def notifications_publisher() -> Any:
    """Notifications to the platform (``$SYNC_TOPIC-notifications``)."""
    return _publisher_for("notifications_publisher", lambda s: s.notifications_topic)


def firestore_client() -> Any:
    def make() -> Any:
        from google.cloud import firestore

        return firestore.Client(project=config().project)

    return once("firestore", make)


def store() -> Any:
    def make() -> Any:
        from sync.adapters.firestore_store import FirestoreStore

        return FirestoreStore(firestore_client(), notifications_publisher)

    return once("store", make)


def integrations_store() -> Any:
    def make() -> Any:
        from sync.adapters.firestore_integrations import IntegrationsStore

        return IntegrationsStore(firestore_client(), notifications_publisher)

    return once("integrations_store", make)


def _secret_manager() -> Any:
    def make() -> Any:
        from google.cloud import secretmanager

        from sync.adapters.secrets import SecretManagerVault

        s = config()
        endpoint = s.env.get("SECRET_MANAGER_ENDPOINT")
        if endpoint:  # a local Secret Manager stand-in (REST), for tests and local runs
            from google.auth.credentials import AnonymousCredentials

            client = secretmanager.SecretManagerServiceClient(
                transport="rest", credentials=AnonymousCredentials(),
                client_options={"api_endpoint": endpoint},
            )
        else:
            client = secretmanager.SecretManagerServiceClient()
        return SecretManagerVault(s.project, client, s.secret_replica_locations)

    return once("secret_manager", make)


def vault() -> Any:
    def make() -> Any:
        if config().secrets_backend == "env":
            from sync.adapters.secrets import FirestoreTokenVault

            return FirestoreTokenVault(firestore_client())
        return _secret_manager()

    return once("vault", make)


def config_secrets() -> Any:
    def make() -> Any:
        from sync.adapters.secrets import ConfigSecrets

        s = config()
        return ConfigSecrets(s.env, s.secrets_backend, None if s.secrets_backend == "env" else _secret_manager())

    return once("config_secrets", make)


def calendars() -> Any:
    def make() -> Any:
        from sync.adapters.calendar_api import GoogleCalendars

        s, secrets = config(), config_secrets()
        return GoogleCalendars(
            endpoint=s.calendar_endpoint, token_uri=s.oauth_token_uri,
            client_id=secrets.get("OAUTH_CLIENT_ID"), client_secret=secrets.get("OAUTH_CLIENT_SECRET"),
            vault=vault(), send_updates=s.send_updates, timeout=s.calendar_timeout_seconds,
        )

    return once("calendars", make)


def sync_service() -> Any:
    def make() -> Any:
        from sync.apply.service import SyncService
        from sync.kernel.throttle import UserThrottle

        s = config()
        return SyncService(store(), calendars(), lease_seconds=s.lease_seconds,
                           throttle=UserThrottle(s.user_rate_per_minute, s.user_burst),
                           max_wait=s.throttle_max_wait_seconds)

    return once("sync_service", make)
