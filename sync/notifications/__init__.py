"""Notifications to the platform (CONTRACT §8): the model, the Firestore outbox, the deliverer.

``model`` is pure (the core builds notifications); ``outbox`` stages them inside the Firestore
transaction that makes a transition durable and publishes them after the commit; ``deliver``
is the ``deliver_notification`` function's body (Standard Webhooks v1, POST to the platform).
"""
