"""Where a repair (or, under ``DRIFT_POLICY=report``, a finding) becomes ``event.drift_repaired``.

``notification`` runs inside the Firestore transaction that records the repair; the store
stages what it returns in the notification outbox (CONTRACT §8) with that transaction, so the
notice is durable exactly when the repair is, and publishes it after the commit.
"""

from __future__ import annotations

from sync.drift.check import DriftNotice
from sync.kernel import notification as notes


def notification(notice: DriftNotice) -> notes.Notification:
    """``event.drift_repaired`` with ``event_id`` and ``kind``; ``restored`` (an extension) is False
    when the policy only reports. The drift's identity (an etag) makes the webhook-id."""
    return notes.drift_repaired(notice.account_id, notice.user_id, notice.event_id, notice.kind,
                                (notice.identity,), restored=notice.restored)
