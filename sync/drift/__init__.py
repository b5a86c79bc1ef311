"""Drift repair (CONTRACT §9): hand edits and deletions in Google Calendar are noticed and undone.

    Google ──ping──▶ integrations POST /google/notifications (pings.py: check channel + token,
                     coalesce) ──drift_check job, bulk lane──▶ worker (check.py: events.list with
                     the sync token, our events only, etag recorded at write time) ──▶ restore
                     (one events.update from the last applied change) or report, and the
                     ``event.drift_repaired`` notice inside the recording transaction.
    maintenance job ──▶ channels.py (renew before expiry) · scan.py (the fallback scan)

``compare.py`` is pure (what counts as drift); ``check.py`` imports no google.* (ports and
fakes); ``store.py`` is its Firestore side; ``wiring.py`` builds them lazily.
"""
