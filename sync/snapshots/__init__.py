"""Snapshots: backfill and reconcile (docs/snapshots.md), and the calendar switch through the queue.

    model.py    the snapshot document, request validation, result categories
    store.py    Firestore: snapshots/{id} and its snapshot_pages / snapshot_events /
                snapshot_results / snapshot_shards subcollections; calendar moves
    api.py      the platform's routes on ``integrations``
    apply.py    complete (plan, mass-delete guard, fan-out) and the bulk-lane jobs
    move.py     a calendar switch as jobs on the bulk lane
"""
