"""The bulk lane's ``disconnect`` job (sync/jobs.py HANDLERS) and the maintenance task that resumes
a stalled one.

Each job goes on with the disconnect for up to JOB_SECONDS (paced on the user's bulk budget), then
hands the chain to the next job: the record's ``job_seq`` names the one job that may continue it,
so a redelivered or resumed job never runs a second chain beside the first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sync.disconnect import wiring
from sync.kernel.errors import Retryable
from sync.kernel.outcome import Outcome

JOB_SECONDS = 20.0
STALLED_AFTER = timedelta(minutes=10)  # no progress for this long: its job was lost


def run(data: dict[str, Any]) -> Outcome:
    account_id, user_id = data.get("account_id"), data.get("user_id")
    disconnect_id, seq = data.get("disconnect_id"), data.get("seq")
    if not all(isinstance(v, str) and v for v in (account_id, user_id, disconnect_id)) \
            or not isinstance(seq, int) or isinstance(seq, bool):
        return Outcome("invalid_job")
    assert isinstance(account_id, str) and isinstance(user_id, str)
    fields: dict[str, Any] = {"account_id": account_id, "user_id": user_id, "lane": "bulk"}
    store = wiring.store()
    record = store.get(account_id, user_id)
    if record is None or record.get("disconnect_id") != disconnect_id:
        return Outcome("disconnect_finished", fields=fields)  # finished already (or another one)
    if int(record.get("job_seq", 0)) != seq:
        return Outcome("disconnect_duplicate", fields=fields)  # the chain went on without this one
    progress = wiring.disconnects().step(record, JOB_SECONDS)
    fields["count"] = int(progress.record.get("removed", 0))
    if progress.finished:
        return Outcome("disconnected", fields=fields)
    if progress.retry_after is not None:
        return Outcome("disconnect_retry", acknowledge=False, retry_after=progress.retry_after, fields=fields)
    if store.advance(account_id, user_id, str(disconnect_id), seq, seq + 1, wiring.now()):
        try:
            wiring.publish_step({**record, "job_seq": seq + 1})
        except Retryable:
            store.advance(account_id, user_id, str(disconnect_id), seq + 1, seq, wiring.now())
            raise  # this job is redelivered and continues the chain itself
    return Outcome("disconnect_continued", fields=fields)


def resume_stalled() -> dict[str, int]:
    """Disconnects that made no progress for STALLED_AFTER (their job dead-lettered or lost): their
    chain is continued by a new job at its current sequence number."""
    store, now = wiring.store(), wiring.now()
    resumed = 0
    for record in store.stalled(now - STALLED_AFTER):
        if record.get("disconnect_id") and store.update(record["account_id"], record["user_id"],
                                                        record["disconnect_id"], {"updated_at": now}):
            wiring.publish_step(record)
            resumed += 1
    return {"disconnects_resumed": resumed}
