"""Calendar's usage limits (docs/errors-and-limits.md#usage-limits).

    a write meets 403 quotaExceeded ──▶ sync/apply/service.py parks the change, and the transaction
        that parks it makes the connection ``usage_limited`` with its first retry (``retry_at``) and
        stages ``connection.usage_limited``; every later change of it is parked on arrival
    maintenance job ──▶ retry.py: each connection whose retry is due, under a short lease on it,
        applies its oldest parked change; written → ``active``, ``connection.resumed``, the other
        parked changes sent back through the queue; refused again → the next retry after a pause
        twice as long (never more than 2 hours)

``sync/kernel/usage.py`` holds the pauses (pure); the rest works on the kernel's ports.
"""
