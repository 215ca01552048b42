"""Montage's data: videos, their subtitle segments, and the tasks that work on them."""

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class Video(models.Model):
    class Status(models.TextChoices):
        UPLOADED = "uploaded"  # stored and probed, nothing run on it yet
        DOWNLOADING = "downloading"  # an import is fetching its file (no file until it is in)
        PROCESSING = "processing"  # a reprocess or transcription task is active
        READY = "ready"  # the last reprocess/transcription completed
        ERROR = "error"  # the last reprocess/transcription failed

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="videos")
    title = models.CharField(max_length=255, blank=True)
    file = models.FileField(upload_to="videos/%Y/%m/", max_length=500)
    original_name = models.CharField(max_length=255, blank=True)
    # Where an imported video came from (empty for uploads and outputs).
    source_url = models.CharField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    duration_s = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    video_codec = models.CharField(max_length=32, blank=True)
    audio_codec = models.CharField(max_length=32, blank=True)
    has_audio = models.BooleanField(default=False)
    size_bytes = models.BigIntegerField(default=0)
    # ffprobe's answer at upload, reused so later work need not probe again.
    probe = models.JSONField(default=dict, blank=True)
    thumbnail = models.FileField(upload_to="thumbnails/%Y/%m/", max_length=500, blank=True)
    language = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.title or str(self.id)


class SubtitleSegment(models.Model):
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="segments")
    index = models.PositiveIntegerField()
    start = models.FloatField()
    end = models.FloatField()
    text = models.TextField()
    # [{"start", "end", "word", "probability"}] in time order; [] where the engine gave no word times.
    words = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["video", "index"]
        constraints = [models.UniqueConstraint(fields=["video", "index"], name="segment_unique_index")]

    def __str__(self) -> str:
        return f"{self.index}: {self.text[:40]}"


# Kinds that write a video (its file or transcript): at most one of them is active per video.
WRITER_KINDS = ("reprocess", "transcription", "import")


def shown_progress(status: str, progress: float) -> float:
    """The progress users see: 100 exactly when completed, else the stored value capped below it."""
    return 100.0 if status == "completed" else min(round(progress, 2), 99.9)


def resumed(attempts_log: list[dict[str, Any]] | None) -> bool:
    """True once an attempt was interrupted and another one started (or waits to)."""
    return any(entry.get("outcome") == "interrupted" for entry in attempts_log or [])


class ProcessingTask(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for a worker to claim it
        PROCESSING = "processing"  # claimed by a worker holding a live lease
        COMPLETED = "completed"  # finished with a result
        FAILED = "failed"  # finished with an error_message
        CANCELLED = "cancelled"  # stopped on request (or replaced by a forced task)

    ACTIVE = (Status.PENDING, Status.PROCESSING)
    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    WRITER_KINDS = WRITER_KINDS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(max_length=64, default="queued")
    progress = models.FloatField(default=0.0)
    eta_seconds = models.FloatField(null=True, blank=True)
    args = models.JSONField(default=dict, blank=True)
    video = models.ForeignKey(Video, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    worker_id = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    # One entry per start: attempt, started_at, ended_at, stage, outcome (+ host and child pids, ours only).
    attempts_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Not a column: the steps a claim read with the row (taskmanager.store.claim_next), for its JobContext.
    claimed_steps: "list[SubTask]"

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="task_claim_idx"),
            models.Index(fields=["owner", "status"], name="task_owner_status_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="task_lease_idx"),
        ]
        constraints = [
            # The database itself refuses a second active task of one kind on one video.
            models.UniqueConstraint(
                fields=["video", "kind"],
                condition=Q(status__in=["pending", "processing"]) & Q(video__isnull=False),
                name="one_active_task_per_video_kind",
            ),
            # One writer per video: the kinds that write a video's file or transcript exclude each other.
            models.UniqueConstraint(
                fields=["video"],
                condition=Q(status__in=["pending", "processing"])
                & Q(video__isnull=False)
                & Q(kind__in=WRITER_KINDS),
                name="one_writer_per_video",
            ),
            # A task is retried at most once, also under concurrent requests in several processes.
            models.UniqueConstraint(
                fields=["retry_of"], condition=Q(retry_of__isnull=False), name="one_retry_per_task"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def shown_progress(self) -> float:
        return shown_progress(self.status, self.progress)

    @property
    def resumed(self) -> bool:
        return resumed(self.attempts_log)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class SubTask(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # not entered yet
        PROCESSING = "processing"  # the job is inside this step
        COMPLETED = "completed"  # done; a new attempt resumes after it
        FAILED = "failed"  # the task failed inside this step
        CANCELLED = "cancelled"  # the task was cancelled before or inside this step

    task = models.ForeignKey(ProcessingTask, on_delete=models.CASCADE, related_name="subtasks")
    name = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField()
    weight = models.FloatField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)  # 0..1
    # What the step produced (JSON), so a resumed attempt can skip it.
    result = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["task", "position"]
        constraints = [models.UniqueConstraint(fields=["task", "name"], name="subtask_unique_name")]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.name}"


class ActiveTaskCount(models.Model):
    """One row: how many tasks are pending or processing, kept by database triggers (migration 0006).

    The global limit reads it in the creating transaction: the trigger's update of this row after the
    task's insert holds the row until commit, so creators queue only for that moment (not for the whole
    creation, as a global lock did), and any write path (workers, admin, cascades) keeps it true.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    active = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.active} active tasks"


# Integrations live in modules of their own; importing them here registers them with the app.
from videos.idempotency.models import IdempotencyKey  # noqa: E402, F401
from videos.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
