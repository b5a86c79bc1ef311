"""The kernel: what every capability shares, pure and free of infrastructure.

The domain model, payload validation, recurrence rules, time zones, the planner, an event's span,
the notification model, Standard Webhooks signing, per-user pacing, the one error hierarchy, and
the ports (Protocols) every adapter implements. Standard library (and dateutil) only: the kernel
imports no other part of ``sync`` and no client library (``pyproject.toml``'s import contracts).
"""
