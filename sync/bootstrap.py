"""The composition root: one typed container per instance, the only importer of the adapters.

Each attribute of ``Container`` is built on first use and kept for the life of the instance, so
clients (gRPC channels, HTTP pools, the Calendar discovery document) are made once; its type is
the port the rest of the code sees (``sync/kernel/ports.py``), so every seam is checked by mypy.
Heavy libraries are imported inside the factories, so each function's cold start pays only for
what that function uses: the webhook builds its publisher and nothing else, the worker builds a
drift check only when a drift job arrives. Nothing here runs at import time.

Tests put fakes in place with ``container().override(name=instance)`` and start afresh with
``reset()`` (after changing the environment).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from sync.config import Settings, settings

if TYPE_CHECKING:
    from sync.adapters.firestore.outbox import FirestoreOutbox
    from sync.adapters.secrets import SecretManagerVault
    from sync.apply.service import SyncService
    from sync.connections.activate import Activation
    from sync.connections.disconnect import Disconnect
    from sync.connections.flow import ConnectFlow
    from sync.connections.status import StatusReport
    from sync.drift.channels import Channels
    from sync.drift.check import DriftCheck
    from sync.drift.jobs import DriftJobs
    from sync.drift.scan import Scan
    from sync.drift.schedule import Scheduler
    from sync.kernel.jobs import JobHandler, Jobs, Maintenance, Task
    from sync.kernel.ports import (
        Calendars,
        ConnectionStore,
        DeadLetterSubscription,
        DisconnectStore,
        DriftStore,
        FlowSessions,
        MappingStore,
        MoveStore,
        NotificationOutbox,
        OAuthClient,
        OAuthStates,
        Publisher,
        PushAuth,
        Secrets,
        SnapshotStore,
        TokenVault,
        UsageLimitStore,
    )
    from sync.kernel.throttle import UserThrottle
    from sync.limits.retry import UsageRetry
    from sync.meet.followup import ConferenceFollowUp
    from sync.moves.service import Moves
    from sync.notifications.deliver import Deliverer
    from sync.snapshots.service import Snapshots

T = TypeVar("T")


class _Lazy(Generic[T]):
    """A container attribute built by ``make`` on first use, once (under the container's lock)."""

    def __init__(self, make: Callable[[Container], T]) -> None:
        self.make = make
        self.name = make.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Lazy[T]: ...

    @overload
    def __get__(self, obj: Container, owner: type) -> T: ...

    def __get__(self, obj: Container | None, owner: type) -> _Lazy[T] | T:
        if obj is None:
            return self
        try:
            return obj._built[self.name]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with obj._lock:
            if self.name not in obj._built:
                obj._built[self.name] = self.make(obj)
            return obj._built[self.name]  # type: ignore[no-any-return]


def lazy(make: Callable[[Container], T]) -> _Lazy[T]:
    return _Lazy(make)


class Container:
    def __init__(self, config: Settings | None = None) -> None:
        self._config = config
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()

    def override(self, **instances: object) -> None:
        """Put ready-made objects (fakes, in tests) in place of what the container would build."""
        for name, instance in instances.items():
            if not isinstance(getattr(type(self), name, None), _Lazy):
                raise AttributeError(f"the container has no {name!r}")
            with self._lock:
                self._built[name] = instance

    # -- configuration ---------------------------------------------------------------------------
    @lazy
    def settings(self) -> Settings:
        return self._config or settings()

    @lazy
    def secrets(self) -> Secrets:
        from sync.adapters.secrets import ConfigSecrets

        s = self.settings
        return ConfigSecrets(s.env, s.secrets_backend, None if s.secrets_backend == "env" else self._secret_manager)

    # -- clients (kept private: the rest of the code sees ports) -------------------------------------
    @lazy
    def _pubsub(self) -> Any:
        from sync.adapters.pubsub import new_publisher_client

        return new_publisher_client()

    @lazy
    def _firestore(self) -> Any:
        from sync.adapters.firestore.base import new_client

        return new_client(self.settings.project)

    @lazy
    def _outbox(self) -> FirestoreOutbox:
        """The notification outbox every store stages in (on when PLATFORM_WEBHOOK_URL is set)."""
        from sync.adapters.firestore.outbox import FirestoreOutbox

        enabled = bool((self.settings.env.get("PLATFORM_WEBHOOK_URL") or "").strip())
        return FirestoreOutbox(self._firestore, lambda: self.notifications_publisher, enabled=enabled)

    @lazy
    def _secret_manager(self) -> SecretManagerVault:
        from sync.adapters.secrets import secret_manager_vault

        s = self.settings
        return secret_manager_vault(s.project, s.env.get("SECRET_MANAGER_ENDPOINT"), s.secret_replica_locations)

    def _publisher_for(self, topic: str) -> Publisher:
        from sync.adapters.pubsub import PubSubPublisher

        return PubSubPublisher(self.settings.project, topic, timeout=self.settings.publish_timeout_seconds,
                               client=self._pubsub)

    # -- Pub/Sub ---------------------------------------------------------------------------------
    @lazy
    def publisher(self) -> Publisher:
        """The live lane: webhooks and parked changes (``$SYNC_TOPIC``)."""
        return self._publisher_for(self.settings.sync_topic)

    @lazy
    def bulk_publisher(self) -> Publisher:
        """The bulk lane (``$SYNC_TOPIC-bulk``): work that must never hold up live changes."""
        return self._publisher_for(self.settings.bulk_topic)

    @lazy
    def notifications_publisher(self) -> Publisher:
        """Notifications to the platform (``$SYNC_TOPIC-notifications``)."""
        return self._publisher_for(self.settings.notifications_topic)

    # -- stores ----------------------------------------------------------------------------------
    @lazy
    def mappings(self) -> MappingStore:
        from sync.adapters.firestore.mappings import FirestoreMappings

        return FirestoreMappings(self._firestore, self._outbox)

    @lazy
    def outbox(self) -> NotificationOutbox:
        return self._outbox

    @lazy
    def connections(self) -> ConnectionStore:
        from sync.adapters.firestore.connections import FirestoreConnections

        return FirestoreConnections(self._firestore, self._outbox)

    @lazy
    def oauth_states(self) -> OAuthStates:
        from sync.adapters.firestore.connections import FirestoreOAuthStates

        return FirestoreOAuthStates(self._firestore)

    @lazy
    def flow_sessions(self) -> FlowSessions:
        from sync.adapters.firestore.flow_sessions import FirestoreFlowSessions

        return FirestoreFlowSessions(self._firestore)

    @lazy
    def vault(self) -> TokenVault:
        if self.settings.secrets_backend == "env":
            from sync.adapters.secrets import FirestoreTokenVault

            return FirestoreTokenVault(self._firestore)
        return self._secret_manager

    @lazy
    def drift_store(self) -> DriftStore:
        from sync.adapters.firestore.drift import FirestoreDriftStore

        return FirestoreDriftStore(self._firestore, self.settings.drift_scan_minutes)

    @lazy
    def snapshot_store(self) -> SnapshotStore:
        from sync.adapters.firestore.snapshots import FirestoreSnapshots

        return FirestoreSnapshots(self._firestore, self._outbox)

    @lazy
    def move_store(self) -> MoveStore:
        from sync.adapters.firestore.moves import FirestoreMoves

        return FirestoreMoves(self._firestore)

    @lazy
    def usage_limits(self) -> UsageLimitStore:
        from sync.adapters.firestore.limits import FirestoreUsageLimits

        return FirestoreUsageLimits(self._firestore, self._outbox)

    @lazy
    def disconnect_store(self) -> DisconnectStore:
        from sync.adapters.firestore.disconnects import FirestoreDisconnects

        return FirestoreDisconnects(self._firestore, self.drift_store, self.snapshot_store, self.move_store,
                                    self._outbox)

    # -- push-fed functions ----------------------------------------------------------------------
    @lazy
    def push_auth(self) -> PushAuth:
        """The push subscription's OIDC identity, checked when PUSH_AUDIENCE is set."""
        from sync.adapters.push_auth import OidcPushAuth

        s = self.settings
        return OidcPushAuth(s.push_audience, s.push_service_account, s.push_certs_url)

    @lazy
    def deliverer(self) -> Deliverer:
        from sync.notifications import deliver

        url = (self.settings.env.get("PLATFORM_WEBHOOK_URL") or "").strip()
        if not url:
            return deliver.Deliverer(None, self.secrets)
        from sync.adapters.platform import PlatformWebhook

        return deliver.Deliverer(PlatformWebhook(url), self.secrets, timeout=deliver.TIMEOUT_SECONDS)

    # -- Calendar --------------------------------------------------------------------------------
    @lazy
    def calendars(self) -> Calendars:
        from sync.adapters.calendar_api import GoogleCalendars

        s, secrets = self.settings, self.secrets
        return GoogleCalendars(
            endpoint=s.calendar_endpoint, token_uri=s.oauth_token_uri,
            client_id=secrets.get("OAUTH_CLIENT_ID"), client_secret=secrets.get("OAUTH_CLIENT_SECRET"),
            vault=self.vault, timeout=s.calendar_timeout_seconds,
        )

    @lazy
    def throttle(self) -> UserThrottle:
        """This instance's per-user pacing of Calendar calls, shared by every writer."""
        from sync.kernel.throttle import UserThrottle

        return UserThrottle(self.settings.user_rate_per_minute, self.settings.user_burst)

    # -- use cases -------------------------------------------------------------------------------
    @lazy
    def sync_service(self) -> SyncService:
        from sync.apply.service import SyncService

        s = self.settings
        return SyncService(self.mappings, self.calendars, lease_seconds=s.lease_seconds, throttle=self.throttle,
                           max_wait=s.throttle_max_wait_seconds, no_answer_hold=2 * s.calendar_timeout_seconds + 5,
                           usage_first_pause=s.usage_limit_retry_seconds, followups=lambda: self.bulk_publisher,
                           send_updates=s.send_updates)

    @lazy
    def conference_followup(self) -> ConferenceFollowUp:
        """Reads a Meet conference Google is still creating until it is settled (bulk-lane jobs)."""
        from sync.meet.followup import ConferenceFollowUp

        s = self.settings
        return ConferenceFollowUp(self.mappings, self.calendars, throttle=self.throttle,
                                  max_wait=s.throttle_max_wait_seconds)

    @lazy
    def drift_check(self) -> DriftCheck:
        """The worker's drift check: its Calendar calls paced by the same per-user throttle as writes."""
        from sync.drift.check import DriftCheck
        from sync.drift.schedule import DEBOUNCE_SECONDS

        s = self.settings
        return DriftCheck(self.drift_store, self.mappings, self.calendars, policy=s.drift_policy,
                          throttle=self.throttle, max_wait=s.throttle_max_wait_seconds,
                          lease_seconds=s.lease_seconds, debounce=DEBOUNCE_SECONDS, send_updates=s.send_updates)

    @lazy
    def channels(self) -> Channels:
        """Calendar push channels: opened when a connection becomes active, renewed, stopped."""
        from sync.drift.channels import Channels

        s = self.settings
        return Channels(self.drift_store, self.mappings, self.calendars, policy=s.drift_policy,
                        public_base_url=s.public_base_url, ttl_seconds=s.drift_channel_ttl_seconds,
                        scan_minutes=s.drift_scan_minutes)

    @lazy
    def drift_scheduler(self) -> Scheduler:
        from sync.drift.schedule import Scheduler

        return Scheduler(self.drift_store, self.bulk_publisher)

    @lazy
    def drift_scan(self) -> Scan:
        from sync.drift.scan import Scan

        s = self.settings
        return Scan(self.drift_store, self.drift_scheduler, policy=s.drift_policy, scan_minutes=s.drift_scan_minutes)

    @lazy
    def drift_jobs(self) -> DriftJobs:
        from sync.drift.jobs import DriftJobs

        return DriftJobs(self.drift_check)

    @lazy
    def snapshots(self) -> Snapshots:
        from sync.snapshots.service import Snapshots

        return Snapshots(self.snapshot_store, self.bulk_publisher, service=lambda: self.sync_service)

    @lazy
    def moves(self) -> Moves:
        """A calendar switch through the queue: started by the activation, run as bulk-lane jobs."""
        from sync.moves.service import Moves

        return Moves(self.move_store, self.bulk_publisher, self.sync_service)

    @lazy
    def usage_retry(self) -> UsageRetry:
        """The retries of usage_limited calendars (a maintenance task); their parked changes resume
        on the live lane, as after a reconnect."""
        from sync.limits.retry import UsageRetry

        s = self.settings
        return UsageRetry(self.usage_limits, self.mappings, lambda: self.sync_service, self.publisher,
                          first_pause=s.usage_limit_retry_seconds, lease_seconds=s.lease_seconds)

    # -- connections: activate, the browser flow, the status, the disconnect -----------------------------
    @lazy
    def oauth(self) -> OAuthClient:
        from sync.adapters.oauth import HttpOAuth

        return HttpOAuth(self.settings.oauth_token_uri, self.settings.oauth_revoke_uri)

    @lazy
    def activation(self) -> Activation:
        from sync.connections.activate import Activation

        return Activation(self.connections, self.mappings, self.vault, self.publisher, self.channels, self.moves,
                          self.oauth)

    @lazy
    def connect_flow(self) -> ConnectFlow:
        from sync.connections.flow import ConnectFlow

        s = self.settings
        return ConnectFlow(s.public_base_url, s.oauth_auth_uri, self.secrets, self.oauth_states, self.flow_sessions,
                           self.connections, self.vault, self.calendars, self.oauth, self.activation)

    @lazy
    def status(self) -> StatusReport:
        """The status route: the connection, and what each capability adds while connected."""
        from sync.connections.status import StatusReport

        return StatusReport(self.connections, {"snapshot": lambda a, u: self.snapshots.status(a, u),
                                               "moving": lambda a, u: self.moves.status(a, u)},
                            removing=lambda a, u: self.disconnect.removing(a, u))

    @lazy
    def disconnect(self) -> Disconnect:
        from sync.connections.disconnect import Disconnect
        from sync.connections.removal import Removal

        s = self.settings
        # The removal's Calendar calls are paced on the user's bulk budget by the instance's throttle.
        removal = Removal(self.disconnect_store, self.calendars, self.vault, self.oauth, self.channels,
                          throttle=self.throttle, sweep_grace=2 * s.calendar_timeout_seconds + 5)
        return Disconnect(self.disconnect_store, self.connections, self.calendars, removal, self.bulk_publisher)

    # -- operations (python -m sync.ops) ---------------------------------------------------------------
    def dead_letter_subscription(self, notifications: bool) -> DeadLetterSubscription:
        """The inspection subscription of the changes' (or the notifications') dead-letter topic."""
        from sync.adapters.dead_letters import PubSubDeadLetters

        s = self.settings
        name = s.notifications_dead_letter_subscription if notifications else s.dead_letter_subscription
        return PubSubDeadLetters(s.project, name)

    @staticmethod
    def cloud_errors() -> tuple[type[BaseException], ...]:
        """Google's auth and API errors (what the CLI says in one line)."""
        from sync.adapters.dead_letters import cloud_errors

        return cloud_errors()

    # -- the worker's jobs (sync/kernel/jobs.py): kind → its handler, built when the first comes --
    @lazy
    def jobs(self) -> Jobs:
        from sync.kernel.jobs import Jobs

        return Jobs({kind: partial(make, self) for kind, make in JOBS.items()})

    @lazy
    def maintenance(self) -> Maintenance:
        from sync.kernel.jobs import Maintenance

        return Maintenance([(name, partial(make, self)) for name, make in TASKS])


# kind → its handler, from the container (each capability's jobs object, built on first use)
JOBS: dict[str, Callable[[Container], JobHandler]] = {
    "maintenance": lambda c: c.maintenance.run,
    "drift_check": lambda c: c.drift_jobs.check,
    # snapshots: fan-out of a page or a chunk of deletes, one event, a calendar switch
    "snapshot_page": lambda c: c.snapshots.expand,
    "snapshot_deletes": lambda c: c.snapshots.expand,
    "snapshot_change": lambda c: c.snapshots.apply_change,
    "calendar_move": lambda c: c.moves.run,
    # a disconnect removing many events: one step, then the next job of its chain
    "disconnect": lambda c: c.disconnect.job,
    # a Meet conference Google is still creating: read again until settled (sync/meet/)
    "conference_check": lambda c: c.conference_followup.check,
}
# The maintenance job's tasks: (name in the log, the task from the container)
TASKS: tuple[tuple[str, Callable[[Container], Task]], ...] = (
    ("drift_channels", lambda c: c.channels.renew_due),  # Calendar push channels expiring within a day
    ("drift_scan", lambda c: c.drift_scan.scan_due),  # the fallback drift scan
    ("snapshots_expired", lambda c: c.snapshots.expire_abandoned),  # never completed: expired after 24 h
    ("notification_outbox", lambda c: c.outbox.republish_stale),  # what a crash left in the outbox
    ("disconnects_stalled", lambda c: c.disconnect.resume_stalled),  # a disconnect whose job chain was lost
    ("usage_limits", lambda c: c.usage_retry.retry_due),  # usage_limited calendars whose retry is due
)


_lock = threading.Lock()
_container: list[Container] = []


def container() -> Container:
    """This instance's container, made on first use (from the environment)."""
    try:  # every request asks: once made, no lock (a thread switched out inside it stalls the others)
        return _container[0]
    except IndexError:
        pass
    with _lock:
        if not _container:
            _container.append(Container())
        return _container[0]


def reset() -> None:
    """Forget everything built, and the settings (tests that change the environment)."""
    with _lock:
        _container.clear()
        settings.cache_clear()
