"""Cloud Functions entry points (contract §1). Nothing but thin wrappers: see sync/."""

import functions_framework

from sync import entrypoints


@functions_framework.http
def handle_webhook(request):  # type: ignore[no-untyped-def]
    """Platform webhooks → verified, validated, published to Pub/Sub with an ordering key."""
    return entrypoints.handle_webhook(request)


@functions_framework.http
def sync_worker(request):  # type: ignore[no-untyped-def]
    """Raw Pub/Sub push envelope → Google Calendar."""
    return entrypoints.sync_worker(request)


@functions_framework.http
def integrations(request):  # type: ignore[no-untyped-def]
    """Connect → pick calendar → status → disconnect."""
    from sync.integrations import app  # imported on first use: the other functions never load it

    return app.handle(request)


@functions_framework.http
def deliver_notification(request):  # type: ignore[no-untyped-def]
    """A notification's push envelope → signed POST to the platform (Standard Webhooks)."""
    from sync.notifications import deliver  # imported on first use: the other functions never load it

    return deliver.deliver_notification(request)
