"""Every write to webhook endpoints and deliveries: register, change, remove, ping, resend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from videos.exceptions import InvalidInputError
from videos.net.url_guard import UnsafeURLError, check_url
from videos.webhooks.events import event_body, wake_senders
from videos.webhooks.models import EVENTS, FINAL_EVENTS, WebhookDelivery, WebhookEndpoint, unclaimed
from videos.webhooks.signing import new_secret


def webhook_url_check(url: str) -> str:
    """400 invalid unless the URL is http(s) and reaches only public addresses (or private ones are allowed)."""
    try:
        check_url(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    except UnsafeURLError as exc:
        raise InvalidInputError(str(exc), errors={"url": [str(exc)]}) from None
    return url


def webhook_events_check(events: list[str] | None) -> list[str]:
    if events is None:
        return list(FINAL_EVENTS)
    unknown = [event for event in events if event not in EVENTS]
    if unknown or not events:
        message = (
            f"Unknown event {unknown[0]!r}; use any of {', '.join(EVENTS)}." if unknown else "Give one event or more."
        )
        raise InvalidInputError(message, errors={"events": [message]})
    return list(dict.fromkeys(events))


def webhook_endpoint_create(
    *, owner: User, url: str, events: list[str] | None = None, description: str = ""
) -> WebhookEndpoint:
    """Register an endpoint with a fresh secret (events default to the three final ones)."""
    return WebhookEndpoint.objects.create(
        owner=owner,
        url=webhook_url_check(url),
        events=webhook_events_check(events),
        description=description,
        secret=new_secret(),
    )


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    """Change url, events, description or enabled (the URL is checked again)."""
    if "url" in changes:
        endpoint.url = webhook_url_check(changes["url"])
    if "events" in changes:
        endpoint.events = webhook_events_check(changes["events"])
    for field in ("description", "enabled"):
        if field in changes:
            setattr(endpoint, field, changes[field])
    endpoint.save()
    if endpoint.enabled:
        transaction.on_commit(wake_senders)  # deliveries held while it was disabled go now
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint and its delivery log; nothing more is sent to it."""
    endpoint.delete()


def webhook_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a signed `ping` event to the endpoint (its data: {"endpoint_id": id})."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event="ping",
            payload=event_body("ping", {"endpoint_id": str(endpoint.pk)}),
            next_attempt_at=timezone.now(),
        )
        transaction.on_commit(wake_senders)
    return delivery


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (same webhook-id and body); one more attempt if it had failed. A delivery
    being sent at this moment is left to that send (taking it back would send it twice)."""
    now = timezone.now()
    WebhookDelivery.objects.filter(unclaimed(now), pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=now, lock_token="", locked_until=None
    )
    transaction.on_commit(wake_senders)
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_purge(*, older_than_days: int) -> int:
    """Delete delivered or failed deliveries (with their attempts) older than the given age; never a pending one."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    old = WebhookDelivery.objects.filter(
        status__in=[WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.FAILED], created_at__lt=cutoff
    )
    return old.delete()[1].get("videos.WebhookDelivery", 0)
