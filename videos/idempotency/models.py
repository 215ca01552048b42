"""The remembered answers to starting POSTs, per user and Idempotency-Key."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotencyKey(models.Model):
    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"  # claimed: the first request with this key is being answered
        DONE = "done"  # answered 2xx: replays get the stored response

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    # SHA-256 over method, path, query and body (multipart: fields and the files' SHA-256).
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    response_location = models.CharField(max_length=500, blank=True)
    # The task the request started, linked inside the transaction that created it: if the process dies
    # before the answer is stored, a later request with the key is answered from this task, never a twin.
    task = models.ForeignKey(
        "videos.ProcessingTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    locked_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "videos"
        constraints = [
            # Concurrent duplicates: the second INSERT fails here, whichever process it runs in.
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_owner_key"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}:{self.key} ({self.state})"
