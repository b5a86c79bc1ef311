"""Notifications to the platform (docs/notifications.md): the Firestore outbox and the deliverer.

The model is the kernel's (``sync.kernel.notification``: the core builds notifications);
``outbox`` stages them inside the Firestore transaction that makes a transition durable and
publishes them after the commit; ``deliver`` is the ``deliver_notification`` function's body
(Standard Webhooks v1, POST to the platform).
"""
