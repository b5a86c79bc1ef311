"""Cloud Functions entry points (docs/README.md#the-functions): each hands the request and this
instance's container (sync/bootstrap.py) to its function's routes in sync/web/."""

import functions_framework

from sync import bootstrap
from sync.web import webhook, worker


@functions_framework.http
def handle_webhook(request):  # type: ignore[no-untyped-def]
    """Platform webhooks → verified, validated, published to Pub/Sub with an ordering key."""
    return webhook.handle(request, bootstrap.container())


@functions_framework.http
def sync_worker(request):  # type: ignore[no-untyped-def]
    """Raw Pub/Sub push envelope → Google Calendar."""
    return worker.handle(request, bootstrap.container())


@functions_framework.http
def integrations(request):  # type: ignore[no-untyped-def]
    """Connect → pick calendar → status → disconnect."""
    from sync.web import integrations  # imported on first use: the other functions never load it

    return integrations.handle(request, bootstrap.container())


@functions_framework.http
def deliver_notification(request):  # type: ignore[no-untyped-def]
    """A notification's push envelope → signed POST to the platform (Standard Webhooks)."""
    from sync.web import notifications  # imported on first use: the other functions never load it

    return notifications.handle(request, bootstrap.container())
