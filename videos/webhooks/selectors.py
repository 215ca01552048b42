"""Reads of webhook endpoints and deliveries, always scoped to their owner."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from videos.webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoint_list(*, owner: User) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(owner=owner).order_by("-created_at")


def endpoint_get(*, owner: User, endpoint_id: Any) -> WebhookEndpoint:
    """One of the user's endpoints; another user's raises DoesNotExist (a 404)."""
    return endpoint_list(owner=owner).get(pk=endpoint_id)


def delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at")


def delivery_get(*, owner: User, delivery_id: Any) -> WebhookDelivery:
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id, endpoint__owner=owner)


def recent_deliveries(*, owner: User, limit: int = 50) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(endpoint__owner=owner).select_related("endpoint").order_by("-created_at")[:limit]
    )
