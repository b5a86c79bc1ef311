"""Where a repair (or, under ``DRIFT_POLICY=report``, a finding) becomes ``event.drift_repaired``.

``stage`` runs inside the Firestore transaction that records the repair, with that transaction,
so the notice is durable exactly when the repair is. Wire it to the notification outbox of
CONTRACT §8 (one call)::

    outbox.stage(transaction, "event.drift_repaired", notice.account_id, notice.user_id,
                 {"event_id": notice.event_id, "kind": notice.kind})

Until then it stages nothing; the repair is logged (``drift_kind``) once it is committed.
"""

from __future__ import annotations

from typing import Any

from sync.drift.check import DriftNotice


def stage(transaction: Any, notice: DriftNotice) -> None:
    return None
