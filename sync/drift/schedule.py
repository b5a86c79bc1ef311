"""Schedule one drift check of a connection on the bulk lane, coalescing bursts.

A ``drift_pending`` marker is created by the first ping of a burst and deleted when the check
starts listing, which it does ``DEBOUNCE_SECONDS`` after that first ping: 50 pings in a second
publish one job, and a ping that arrives once the check lists publishes one more (the listing
may have missed its change). A marker older than ``PENDING_WINDOW``
(its job lost) no longer holds anything back.
"""

from __future__ import annotations

from datetime import timedelta

from sync.kernel.errors import Retryable
from sync.kernel.jobs import publish_jobs
from sync.kernel.ports import DriftStore, Publisher

KIND = "drift_check"
PENDING_WINDOW = timedelta(seconds=120)
DEBOUNCE_SECONDS = 2.0


def drift_ordering_key(account_id: str, user_id: str) -> str:
    return f"{account_id}/{user_id}/~drift"


class Scheduler:
    def __init__(self, store: DriftStore, bulk: Publisher) -> None:
        self.store = store
        self.bulk = bulk

    def schedule(self, account_id: str, user_id: str, reason: str) -> bool:
        """Publish a check unless one is already scheduled; True if this call published it."""
        if not self.store.mark_pending(account_id, user_id, PENDING_WINDOW):
            return False
        data = {"schema": 1, "kind": KIND, "account_id": account_id, "user_id": user_id, "reason": reason}
        try:
            publish_jobs(self.bulk, [(data, drift_ordering_key(account_id, user_id))])
        except Retryable:
            self.store.clear_pending(account_id, user_id)
            raise
        return True
