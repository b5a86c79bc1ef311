"""One error hierarchy for the whole service.

Entry points map these to HTTP statuses; adapters translate library exceptions into them,
so the core never sees a ``google.*`` exception.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error the service raises on purpose.

    Messages are written by us and never contain secrets, tokens or event contents, so
    they are safe to log.
    """


class ConfigError(SyncError):
    """A required setting is missing or malformed."""


class InvalidSignature(SyncError):
    """The webhook's Standard Webhooks signature is missing, wrong or stale."""


class InvalidPayload(SyncError):
    """The webhook body is not JSON or fails validation; ``detail`` lists every problem."""

    def __init__(self, detail: list[dict[str, str]]) -> None:
        super().__init__(f"{len(detail)} validation problem(s)")
        self.detail = detail


class Retryable(SyncError):
    """A transient failure: the message must be redelivered later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class NoAnswer(Retryable):
    """A request went out and no answer came back (a timeout, a reset): Calendar may still apply
    it later, after our next write of the event, and an insert cannot be made conditional."""


class RateLimited(Retryable):
    """Calendar said slow down (429, 403 rate limit): retry later, and call less for a while."""


class UsageLimited(Retryable):
    """Calendar answered 403 ``quotaExceeded`` (domain ``usageLimits``): the user's calendar went
    read-only for hours after too many events or invitations (docs/errors-and-limits.md#usage-limits).
    Not a rate limit: seconds of back-off do not help. The worker's apply parks the change and
    marks the connection ``usage_limited``; the other writers (moves, drift restores, a
    disconnect's removal) retry it later as any Retryable."""


class PublishFailed(Retryable):
    """Pub/Sub did not confirm a publish."""


class Permanent(SyncError):
    """This one change can never succeed as it is (e.g. Calendar answered 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthRevoked(SyncError):
    """The user's grant is gone (``invalid_grant``, or 401 after a refresh)."""


class CalendarUnavailable(SyncError):
    """The chosen calendar no longer exists or is no longer writable."""


class CalendarNotFound(SyncError):
    """Calendar answered 404/410 for one event (not the calendar itself)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"calendar answered {status}")
        self.status = status


class CalendarConflict(SyncError):
    """Calendar answered 409: the event id is already taken (possibly by a cancelled event)."""


class EtagMismatch(Retryable):
    """Calendar answered 412 to a write made with ``If-Match``: the event changed since the etag
    the write was conditioned on (a write abandoned after a timeout that landed anyway, an edit
    by hand, an attendee's answer). Retryable when it reaches the queue."""


class DisconnectInProgress(SyncError):
    """The connection is being disconnected (its events being removed): it cannot be connected
    again until that is done (a few minutes at most)."""


class SyncTokenExpired(SyncError):
    """Calendar answered 410 to an incremental listing: the sync token must be dropped and a
    full listing made (docs/drift.md#how-it-notices)."""


class PushRefused(SyncError):
    """A push request not from the push subscription's identity: answer ``status``, do nothing."""

    status = 401


class PushUnauthenticated(PushRefused):
    """No token, or one that does not verify (forged, expired, wrong issuer or audience)."""

    status = 401


class PushForbidden(PushRefused):
    """A valid Google ID token, but of another service account."""

    status = 403


class PlatformUnreachable(Retryable):
    """The platform's webhook endpoint did not take a notification: no answer (``timed_out``:
    none within the timeout), or not a 2xx (``status``)."""

    def __init__(self, reason: str, timed_out: bool = False, status: int | None = None) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        self.status = status


class OAuthRefused(SyncError):
    """The provider refused the exchange (bad code, wrong verifier, …): the user starts again."""


class PageRefused(SyncError):
    """A snapshot cannot take this page: ``error`` is the API's error code."""

    def __init__(self, error: str, **detail: object) -> None:
        super().__init__(error)
        self.error, self.detail = error, detail


class PagesChanged(SyncError):
    """A snapshot page was stored after ``complete`` read the pages: its plan is stale."""
