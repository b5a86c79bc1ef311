"""Drift repair (docs/drift.md): hand edits and deletions in Google Calendar are noticed and undone.

    Google ──ping──▶ integrations POST /google/notifications (sync/web/pings.py: check channel +
                     token) ──schedule.py (coalesce) ──drift_check job, bulk lane──▶ worker
                     (jobs.py → check.py: events.list with the sync token, our events only, etag
                     recorded at write time) ──▶ restore (one events.update from the last applied
                     change, under the event's lease) or report, and ``event.drift_repaired``
                     staged by the recording transaction.
    maintenance job ──▶ channels.py (renew before expiry) · scan.py (the fallback scan)
    a connection's life ──▶ channels.py (opened on activation, stopped on disconnect)

``compare.py`` is pure (what counts as drift); the rest works on the kernel's ports: the drift
store (sync/adapters/firestore/drift.py), the mappings, Calendar. The composition root
(sync/bootstrap.py) builds each.
"""
