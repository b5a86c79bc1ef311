"""``sync_worker`` (docs/webhooks.md#after-the-202): the raw push envelope of either lane; a change
goes to the worker's apply (sync/apply/), a job (a ``kind``) to its handler in the container's
registry (sync/kernel/jobs.py, wired in sync/bootstrap.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Response

from sync.kernel.errors import InvalidPayload, Retryable
from sync.kernel.jobs import UnknownJob
from sync.kernel.payload import parse_change, too_far_ahead
from sync.web.http import answer, retry_after
from sync.web.push import BadEnvelope, decode_envelope, handle_push, retry

if TYPE_CHECKING:
    from sync.bootstrap import Container


def handle(request: Any, c: Container) -> Response:
    return handle_push(request, lambda: c.settings, lambda: c.push_auth, "sync_worker",
                       lambda raw, fields: _work(raw, fields, c), "change processed")


def _work(raw: bytes, fields: dict[str, Any], c: Container) -> tuple[int, Response, int]:
    try:
        data = decode_envelope(raw, fields)
    except BadEnvelope as exc:
        fields.update(outcome="bad_envelope", reason=str(exc))
        return 400, answer({"outcome": "bad_envelope"}, 400), logging.ERROR
    if "kind" in data:
        return _job(data, fields, c)
    try:
        change = parse_change(data, data["webhook_id"])
    except InvalidPayload as exc:
        fields.update(outcome="invalid_message", reason=",".join(d["loc"] for d in exc.detail)[:500])
        return 400, answer({"outcome": "invalid_message"}, 400), logging.ERROR
    fields.update(change.log_fields())
    if too_far_ahead(change.version, datetime.now(UTC), c.settings.max_version_skew):
        # Queued before the webhook refused such versions, or published by another producer:
        # applying it would freeze the event against every genuine change. Acknowledged, not retried.
        fields.update(outcome="rejected_future_version", reason="event.updated_at too far ahead")
        return 200, answer({"outcome": "rejected_future_version"}, 200), logging.WARNING
    try:
        outcome = c.sync_service.apply(change)
    except Retryable as exc:
        return retry(exc, fields)
    fields.update(outcome=outcome.name, calendar_calls=outcome.calendar_calls)
    if not outcome.acknowledge:
        return 503, answer({"outcome": outcome.name}, 503), logging.INFO
    level = logging.WARNING if outcome.name.startswith(("parked", "failed")) else logging.INFO
    return 200, answer({"outcome": outcome.name}, 200), level


def _job(data: dict[str, Any], fields: dict[str, Any], c: Container) -> tuple[int, Response, int]:
    """A message with a ``kind``: snapshot fan-out, calendar moves, drift checks, a disconnect's
    removal, maintenance."""
    fields["job"] = str(data["kind"])[:64]
    try:
        outcome = c.jobs.run(data)
    except UnknownJob as exc:
        fields.update(outcome="unknown_job", reason=str(exc))
        return 400, answer({"outcome": "unknown_job"}, 400), logging.ERROR
    except Retryable as exc:
        return retry(exc, fields)
    fields.update(outcome.fields, outcome=outcome.name)
    if not outcome.acknowledge:
        return 503, answer({"outcome": outcome.name}, 503, retry_after(outcome.retry_after)), logging.INFO
    return 200, answer({"outcome": outcome.name}, 200), logging.INFO
