"""Admin for webhook endpoints and deliveries (with every attempt); resend goes through the service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from videos.idempotency.models import IdempotencyKey
from videos.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from videos.webhooks.services import webhook_delivery_resend

ATTEMPT_FIELDS = ("number", "started_at", "duration_ms", "response_status", "error", "response_body")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ATTEMPT_FIELDS
    readonly_fields = ATTEMPT_FIELDS


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "owner", "enabled", "events", "description", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description", "owner__username"]
    readonly_fields = ["id", "secret", "created_at", "updated_at"]
    fields = ["id", "owner", "url", "description", "events", "enabled", "secret", "created_at", "updated_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "endpoint", "status", "attempts", "response_status", "next_attempt_at", "created_at"]
    list_filter = ["status", "event"]
    search_fields = ["id", "endpoint__url", "task__id"]
    list_select_related = ["endpoint"]
    inlines = [WebhookAttemptInline]
    actions = ["resend"]
    readonly_fields = [
        "id",
        "endpoint",
        "event",
        "task",
        "status",
        "attempts",
        "next_attempt_at",
        "lock_token",
        "locked_until",
        "response_status",
        "error",
        "created_at",
        "delivered_at",
        "payload",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Resend now (same webhook-id and body)")
    def resend(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            webhook_delivery_resend(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.", messages.SUCCESS)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "owner", "state", "response_status", "created_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["key", "owner__username"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
