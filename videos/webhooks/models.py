"""Webhook endpoints, their deliveries (the outbox) and every attempt to send one."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

FINAL_EVENTS = ("task.completed", "task.failed", "task.cancelled")
EVENTS = (*FINAL_EVENTS, "task.progress")


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True)
    events = models.JSONField(default=list)  # a subset of EVENTS
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=120)  # whsec_ + base64 of random bytes
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "videos"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "enabled"], name="webhook_owner_enabled_idx")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
        SUCCEEDED = "succeeded"  # a 2xx answer arrived in time
        FAILED = "failed"  # WEBHOOK_MAX_ATTEMPTS used up

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the webhook-id header
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    task = models.ForeignKey(
        "videos.ProcessingTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    # The exact bytes sent (and signed) on every attempt. Task events leave it empty in the transaction
    # that finishes the task (keeping that transaction short) and the sender fills it from the finished
    # task before the first attempt; the body's timestamp is created_at, so a rebuild is identical.
    payload = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A sender's claim: whose it is (worker id/nonce) and until when; expired claims are taken over.
    lock_token = models.CharField(max_length=200, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "videos"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due_idx"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_endpoint_log_idx"),
        ]
        constraints = [
            # One delivery per endpoint, task and final event, whatever emits it twice.
            models.UniqueConstraint(
                fields=["endpoint", "task", "event"],
                condition=Q(event__in=FINAL_EVENTS) & Q(task__isnull=False),
                name="webhook_one_final_event_per_task",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id} ({self.status})"


def unclaimed(now: Any) -> Q:
    """Deliveries no sender holds at `now` (never claimed, released, or their claim's lease ran out)."""
    return Q(locked_until__isnull=True) | Q(locked_until__lt=now)


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)  # the first WEBHOOK_RESPONSE_KEEP_BYTES
    error = models.TextField(null=True, blank=True)

    class Meta:
        app_label = "videos"
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
