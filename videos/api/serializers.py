"""Shared output shapes: TaskProgress, task results and AsyncTaskResponse (API.md "Task objects")."""

from __future__ import annotations

import functools
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from videos import selectors
from videos.models import ProcessingTask, SubTask, resumed, shown_progress
from videos.taskmanager.registry import get_job


class SubTaskSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = SubTask
        fields = ["name", "weight", "status", "progress", "started_at", "finished_at"]

    def get_progress(self, sub: SubTask) -> float:
        return round(sub.progress * 100, 2)


class AttemptSerializer(serializers.Serializer):
    """One start of a task: when, in which step it ended, and why (hosts and child pids stay inside)."""

    attempt = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    stage = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["running", "completed", "failed", "cancelled", "interrupted", "timed_out"],
        help_text="`running` while the attempt is the live one.",
    )
    detail = serializers.CharField(required=False, help_text="The tool's own error output, when it said more.")


class TaskProgressSerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField(source="id", allow_null=True)
    video_id = serializers.UUIDField(allow_null=True)
    progress = serializers.SerializerMethodField()
    subtasks = SubTaskSerializer(many=True)
    result_url = serializers.SerializerMethodField()
    retry_of = serializers.UUIDField(source="retry_of_id", allow_null=True)
    attempts_log = AttemptSerializer(many=True)
    resumed = serializers.SerializerMethodField()
    # Null in the placeholder of work never started (API.md: `time|null`).
    created_at = serializers.DateTimeField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ProcessingTask
        fields = [
            "task_id",
            "kind",
            "status",
            "stage",
            "progress",
            "eta_seconds",
            "subtasks",
            "video_id",
            "attempts",
            "error_message",
            "cancel_requested",
            "created_at",
            "started_at",
            "updated_at",
            "finished_at",
            "result_url",
            "retry_of",
            "attempts_log",
            "resumed",
        ]

    def get_resumed(self, task: ProcessingTask) -> bool:
        """True once an attempt of this task was interrupted and another one started (or waits to)."""
        return task.resumed

    def get_progress(self, task: ProcessingTask) -> float:
        return task.shown_progress

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_result_url(self, task: ProcessingTask) -> str | None:
        if task.status != ProcessingTask.Status.COMPLETED:
            return None
        return reverse("api-task-result", kwargs={"pk": task.pk})


def task_progress(task: ProcessingTask) -> dict[str, Any]:
    return TaskProgressSerializer(task).data


def video_file_url(video_id: Any) -> str:
    """Root-relative URL of the owner-only download of a video's file."""
    return reverse("api-video-file", kwargs={"pk": video_id})


def video_thumbnail_url(video_id: Any) -> str:
    """Root-relative URL of the owner-only download of a video's thumbnail."""
    return reverse("api-video-thumbnail", kwargs={"pk": video_id})


# Kinds whose result names (`video_id`) the video the task made: clients get its download URL with it.
RESULT_FILE_KINDS = ("composition", "import")


def shown_result(task: ProcessingTask) -> Any:
    """The task's result as the API, the pages and webhooks show it: the stored data plus URLs.

    Jobs store data, not URLs: `file_url` follows the made video's `video_id`, and a stored
    `has_thumbnail` is shown as `thumbnail_url` in its place. Results stored with the URLs in them
    (before this) pass through as they are.
    """
    if not isinstance(task.result, dict):
        return task.result
    shown: dict[str, Any] = {}
    for key, value in task.result.items():
        if key == "has_thumbnail":
            shown["thumbnail_url"] = video_thumbnail_url(task.video_id) if value else None
            continue
        shown[key] = value
        if key == "video_id" and value and task.kind in RESULT_FILE_KINDS:
            shown["file_url"] = video_file_url(value)
    return shown


_TIME = serializers.DateTimeField()
_ATTEMPT_KEYS = tuple(AttemptSerializer().fields)


def _time(value: Any) -> str | None:
    return None if value is None else _TIME.to_representation(value)


@functools.cache
def progress_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The task's and each step's columns TaskProgress is made of, read by the one-query status poll.

    A field's source, or for a method field the column of its own name (progress); result_url and
    resumed are computed from columns listed anyway (id, status, attempts_log).
    """
    task = tuple(
        name if field.source == "*" else field.source
        for name, field in TaskProgressSerializer().fields.items()
        if name not in ("subtasks", "result_url", "resumed")
    )
    return task, tuple(SubTaskSerializer.Meta.fields)


def task_progress_polled(*, owner: Any, task_id: Any) -> dict[str, Any]:
    """TaskProgress of one of the user's tasks in one query and no serializer: polls are the hottest request."""
    fields, step_fields = progress_columns()
    rows = selectors.task_progress_rows(owner=owner, task_id=task_id, fields=fields, step_fields=step_fields)
    return task_progress_from_rows(rows)


def task_progress_of(task: ProcessingTask, steps: list[SubTask] | None = None) -> dict[str, Any]:
    """TaskProgress of a loaded task (its `steps` in order, else prefetched), as task_progress_from_rows
    builds it: webhook bodies are made by the hundred, and the serializer cost more than sending them."""
    fields, step_fields = progress_columns()
    row = {name: getattr(task, name) for name in fields}
    ordered = task.subtasks.all() if steps is None else steps
    step_rows = [{f"subtasks__{name}": getattr(step, name) for name in step_fields} for step in ordered]
    no_step = {f"subtasks__{name}": None for name in step_fields}  # as the outer join reads a task without steps
    return task_progress_from_rows([row | step for step in step_rows] or [row | no_step])


def task_progress_from_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """TaskProgress from selectors.task_progress_rows(), without a serializer: the same document, built
    in plain Python because status polls are the hottest request (a test holds it equal to the serializer's).
    """
    task = rows[0]
    status = task["status"]
    steps = [
        {
            "name": row["subtasks__name"],
            "weight": row["subtasks__weight"],
            "status": row["subtasks__status"],
            "progress": round(row["subtasks__progress"] * 100, 2),
            "started_at": _time(row["subtasks__started_at"]),
            "finished_at": _time(row["subtasks__finished_at"]),
        }
        for row in rows
        if row["subtasks__name"] is not None
    ]
    log = task["attempts_log"] or []
    return {
        "task_id": str(task["id"]),
        "kind": task["kind"],
        "status": status,
        "stage": task["stage"],
        "progress": shown_progress(status, task["progress"]),
        "eta_seconds": task["eta_seconds"],
        "subtasks": steps,
        "video_id": str(task["video_id"]) if task["video_id"] else None,
        "attempts": task["attempts"],
        "error_message": task["error_message"],
        "cancel_requested": task["cancel_requested"],
        "created_at": _time(task["created_at"]),
        "started_at": _time(task["started_at"]),
        "updated_at": _time(task["updated_at"]),
        "finished_at": _time(task["finished_at"]),
        "result_url": (
            reverse("api-task-result", kwargs={"pk": task["id"]}) if status == ProcessingTask.Status.COMPLETED else None
        ),
        "retry_of": str(task["retry_of_id"]) if task["retry_of_id"] else None,
        "attempts_log": [{key: entry[key] for key in _ATTEMPT_KEYS if key in entry} for entry in log],
        "resumed": resumed(log),
    }


def task_progress_placeholder(*, kind: str, video_id: Any) -> dict[str, Any]:
    """TaskProgress for work never started on a video: pending, 0, every step pending (not a 404)."""
    spec = get_job(kind)
    return {
        "task_id": None,
        "kind": kind,
        "status": "pending",
        "stage": "queued",
        "progress": 0.0,
        "eta_seconds": None,
        "subtasks": [
            {
                "name": name,
                "weight": weight,
                "status": "pending",
                "progress": 0.0,
                "started_at": None,
                "finished_at": None,
            }
            for name, weight in spec.steps.items()
        ],
        "video_id": str(video_id) if video_id else None,
        "attempts": 0,
        "error_message": None,
        "cancel_requested": False,
        "created_at": None,
        "started_at": None,
        "updated_at": None,
        "finished_at": None,
        "result_url": None,
        "retry_of": None,
        "attempts_log": [],
        "resumed": False,
    }


class AsyncTaskResponseSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    kind = serializers.CharField()
    status = serializers.CharField()
    video_id = serializers.UUIDField(allow_null=True)
    message = serializers.CharField()
    status_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    retry_of = serializers.UUIDField(allow_null=True)


def accepted(task: ProcessingTask, message: str | None = None) -> Response:
    """202 Accepted with a Location header at the task's status URL (every call that starts work)."""
    status_url = reverse("api-task-detail", kwargs={"pk": task.pk})
    body = AsyncTaskResponseSerializer(
        {
            "task_id": task.pk,
            "kind": task.kind,
            "status": task.status,
            "video_id": task.video_id,
            "message": message or f"{task.kind} task queued; poll status_url for progress.",
            "status_url": status_url,
            "created_at": task.created_at,
            "retry_of": task.retry_of_id,
        }
    ).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": status_url})
