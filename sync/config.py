"""Settings read once from the environment (docs/configuration.md#environment)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property, lru_cache

from sync.kernel.errors import ConfigError

SEND_UPDATES_CHOICES = ("all", "externalOnly", "none")
SECRETS_BACKENDS = ("secret-manager", "env")
DRIFT_POLICIES = ("restore", "report", "off")


@dataclass(frozen=True)
class Settings:
    project: str
    sync_topic: str = "calendar-sync"
    calendar_api_root: str = "https://www.googleapis.com/"
    oauth_auth_uri: str = "https://accounts.google.com/o/oauth2/v2/auth"
    oauth_token_uri: str = "https://oauth2.googleapis.com/token"
    oauth_revoke_uri: str = "https://oauth2.googleapis.com/revoke"
    public_base_url: str = ""
    allowed_return_origins: tuple[str, ...] = ()
    secrets_backend: str = "secret-manager"
    send_updates: str = "none"
    # Replica locations of the per-user token secrets (Terraform sets it from secret_locations).
    secret_replica_locations: tuple[str, ...] = ()
    # Extensions (all optional, documented in the README's configuration table).
    publish_timeout_seconds: float = 10.0
    lease_seconds: float = 120.0
    calendar_timeout_seconds: float = 20.0
    log_level: str = "INFO"
    user_rate_per_minute: float = 500.0
    user_burst: float = 10.0
    throttle_max_wait_seconds: float = 5.0
    max_version_skew_hours: float = 24.0
    push_audience: str = ""
    push_service_account: str = ""
    push_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    # Drift repair (docs/drift.md).
    drift_policy: str = "restore"
    drift_scan_minutes: float = 360.0
    drift_channel_ttl_seconds: float = 7 * 24 * 3600.0
    # How long Pub/Sub keeps changes and notifications (Terraform's message_retention): /privacy says so.
    queue_retention_seconds: float = 7 * 24 * 3600.0
    # Calendar's usage limits (docs/errors-and-limits.md#usage-limits): the first pause before a
    # usage_limited calendar is tried again (each next one twice as long, at most 2 hours).
    usage_limit_retry_seconds: float = 900.0
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def dead_letter_subscription(self) -> str:
        return f"{self.sync_topic}-dead-letter-inspect"

    @property
    def bulk_topic(self) -> str:
        """The bulk lane (docs/snapshots.md#what-is-applied): snapshots, reconcile deletes, calendar moves, jobs."""
        return f"{self.sync_topic}-bulk"

    @property
    def notifications_topic(self) -> str:
        """Notifications to the platform (docs/notifications.md)."""
        return f"{self.sync_topic}-notifications"

    @property
    def notifications_dead_letter_subscription(self) -> str:
        return f"{self.sync_topic}-notifications-dead-letter-inspect"

    @cached_property  # read on every webhook
    def max_version_skew(self) -> timedelta:
        """How far ahead of our clock an event's ``updated_at`` may be (docs/errors-and-limits.md#validation-rules)."""
        return timedelta(hours=self.max_version_skew_hours)

    @property
    def calendar_endpoint(self) -> str:
        """What googleapiclient's ``api_endpoint`` needs: root *and* service path."""
        return self.calendar_api_root + "calendar/v3/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        project = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCP_PROJECT") or ""
        if not project:
            raise ConfigError("GOOGLE_CLOUD_PROJECT is not set")
        root = env.get("CALENDAR_API_ROOT") or cls.calendar_api_root
        if not root.endswith("/"):
            root += "/"
        backend = env.get("SECRETS_BACKEND") or cls.secrets_backend
        if backend not in SECRETS_BACKENDS:
            raise ConfigError(f"SECRETS_BACKEND must be one of {', '.join(SECRETS_BACKENDS)}")
        send_updates = env.get("SEND_UPDATES") or cls.send_updates
        if send_updates not in SEND_UPDATES_CHOICES:
            raise ConfigError(f"SEND_UPDATES must be one of {', '.join(SEND_UPDATES_CHOICES)}")
        push_audience = (env.get("PUSH_AUDIENCE") or "").strip()
        push_service_account = (env.get("PUSH_SERVICE_ACCOUNT") or "").strip()
        if bool(push_audience) != bool(push_service_account):
            raise ConfigError("PUSH_AUDIENCE and PUSH_SERVICE_ACCOUNT go together: set both, or neither")
        drift_policy = env.get("DRIFT_POLICY") or cls.drift_policy
        if drift_policy not in DRIFT_POLICIES:
            raise ConfigError(f"DRIFT_POLICY must be one of {', '.join(DRIFT_POLICIES)}")
        usage_retry = _positive(env, "USAGE_LIMIT_RETRY_SECONDS", cls.usage_limit_retry_seconds)
        if usage_retry > 2 * 3600:
            raise ConfigError("USAGE_LIMIT_RETRY_SECONDS must be at most 7200 (tries are never more than "
                              "2 hours apart)")
        origins = tuple(
            o.strip().rstrip("/") for o in env.get("ALLOWED_RETURN_ORIGINS", "").split(",") if o.strip()
        )
        return cls(
            project=project,
            sync_topic=env.get("SYNC_TOPIC") or cls.sync_topic,
            calendar_api_root=root,
            oauth_auth_uri=env.get("OAUTH_AUTH_URI") or cls.oauth_auth_uri,
            oauth_token_uri=env.get("OAUTH_TOKEN_URI") or cls.oauth_token_uri,
            oauth_revoke_uri=env.get("OAUTH_REVOKE_URI") or cls.oauth_revoke_uri,
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/"),
            allowed_return_origins=origins,
            secrets_backend=backend,
            send_updates=send_updates,
            secret_replica_locations=tuple(
                loc.strip() for loc in env.get("SECRET_REPLICA_LOCATIONS", "").split(",") if loc.strip()
            ),
            publish_timeout_seconds=_positive(env, "PUBLISH_TIMEOUT_SECONDS", cls.publish_timeout_seconds),
            lease_seconds=_positive(env, "LEASE_SECONDS", cls.lease_seconds),
            calendar_timeout_seconds=_positive(env, "CALENDAR_TIMEOUT_SECONDS", cls.calendar_timeout_seconds),
            log_level=(env.get("LOG_LEVEL") or cls.log_level).upper(),
            user_rate_per_minute=_positive(env, "CALENDAR_USER_RATE_PER_MINUTE", cls.user_rate_per_minute),
            user_burst=_positive(env, "CALENDAR_USER_BURST", cls.user_burst),
            throttle_max_wait_seconds=_positive(env, "THROTTLE_MAX_WAIT_SECONDS", cls.throttle_max_wait_seconds),
            max_version_skew_hours=_positive(env, "MAX_VERSION_SKEW_HOURS", cls.max_version_skew_hours),
            push_audience=push_audience,
            push_service_account=push_service_account,
            push_certs_url=env.get("PUSH_CERTS_URL") or cls.push_certs_url,
            drift_policy=drift_policy,
            drift_scan_minutes=_positive(env, "DRIFT_SCAN_MINUTES", cls.drift_scan_minutes),
            drift_channel_ttl_seconds=_positive(env, "DRIFT_CHANNEL_TTL_SECONDS", cls.drift_channel_ttl_seconds),
            queue_retention_seconds=_positive(env, "QUEUE_RETENTION_SECONDS", cls.queue_retention_seconds),
            usage_limit_retry_seconds=usage_retry,
            env=env,
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read on first use (never at import time)."""
    return Settings.from_env()
