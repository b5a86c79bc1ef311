"""Calendar moves (docs/snapshots.md): a calendar switch's events moved through the queue.

    service.py   Moves: start (record the switch, publish its jobs), status (the status route's
                 ``moving``), run (the ``calendar_move`` job: one chunk, each event under its lease)

On ports only: the move store (sync/adapters/firestore/moves.py), the bulk lane, the worker's apply.
"""
