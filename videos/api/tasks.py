"""Task endpoints (every kind): status, result, cancel, retry, lists."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos import selectors
from videos.api.auth import is_staff_caller
from videos.api.filters import TaskFilter
from videos.api.pagination import StrictPageNumberPagination
from videos.api.serializers import (
    AsyncTaskResponseSerializer,
    TaskProgressSerializer,
    accepted,
    shown_result,
    task_progress_polled,
)
from videos.exceptions import InvalidInputError, NotCompletedError
from videos.models import ProcessingTask
from videos.services.tasks import task_cancel, task_retry
from videos.taskmanager.manager import get_task_manager

Status = ProcessingTask.Status


class TaskListApi(APIView):
    pagination_class = StrictPageNumberPagination  # named on the view so that the schema documents the page shape

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="Comma-separated statuses"),
            OpenApiParameter("kind", str, description="Comma-separated kinds"),
        ],
        responses=TaskProgressSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        """Your tasks, newest first, paginated."""
        filters = TaskFilter(request.query_params, queryset=selectors.task_summaries(owner=request.user))
        if not filters.is_valid():
            raise InvalidInputError(next(iter(filters.errors.values()))[0], errors=filters.errors)
        qs = filters.qs
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(TaskProgressSerializer(page, many=True).data)


def _strict_bool(request: Request, name: str) -> bool:
    """A boolean query parameter as OpenAPI writes one: `true` or `false` (absent is false); else 400."""
    value = request.query_params.get(name)
    if value is None or value in ("true", "false"):
        return value == "true"
    message = f"{name} must be true or false, not {value[:40]!r}."
    raise InvalidInputError(message, errors={name: [message]})


def cancel_and_report(request: Request, pk: str) -> Response:
    """202 with the task's progress after the cancel (cancelled, or still stopping)."""
    task = task_cancel(task=selectors.task_row(owner=request.user, task_id=pk))
    return Response(task_progress_polled(owner=request.user, task_id=task.pk), status=status.HTTP_202_ACCEPTED)


def progress_poll(request: Request, pk: str) -> Response:
    """TaskProgress in one query and no serializer: status polls are the hottest request."""
    return Response(task_progress_polled(owner=request.user, task_id=pk))


class TaskDetailApi(APIView):
    @extend_schema(responses=TaskProgressSerializer)
    def get(self, request: Request, pk: str) -> Response:
        """A task's progress."""
        return progress_poll(request, pk)

    @extend_schema(request=None, responses={202: TaskProgressSerializer})
    def delete(self, request: Request, pk: str) -> Response:
        """Cancel the task (same as POST .../cancel)."""
        return cancel_and_report(request, pk)


class TaskStatusApi(APIView):
    @extend_schema(responses=TaskProgressSerializer)
    def get(self, request: Request, pk: str) -> Response:
        """A task's progress (alias of the task detail)."""
        return progress_poll(request, pk)


class TaskCancelApi(APIView):
    @extend_schema(request=None, responses={202: TaskProgressSerializer})
    def post(self, request: Request, pk: str) -> Response:
        """Cancel a pending or processing task; answers within about a second."""
        return cancel_and_report(request, pk)


class TaskRetryApi(APIView):
    @extend_schema(request=None, responses={202: AsyncTaskResponseSerializer})
    def post(self, request: Request, pk: str) -> Response:
        """Start a new task with the same kind and arguments as a failed or cancelled one."""
        new = task_retry(task=selectors.task_row(owner=request.user, task_id=pk))
        return accepted(new, message=f"Retry of task {pk} queued.")


class TaskResultApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "TaskResult",
            {"task_id": serializers.UUIDField(), "status": serializers.CharField(), "result": serializers.JSONField()},
        )
    )
    def get(self, request: Request, pk: str) -> Response:
        """The result of a completed task (409 not_completed before that)."""
        task = selectors.task_row(owner=request.user, task_id=pk)
        if task.status != ProcessingTask.Status.COMPLETED:
            raise NotCompletedError(
                f"The task is {task.status}; its result exists once it has completed.", status=task.status
            )
        return Response(
            {"task_id": str(task.pk), "kind": task.kind, "status": task.status, "result": shown_result(task)}
        )


class UserTasksApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("include_completed", bool)],
        responses=inline_serializer(
            "UserTasks",
            {
                "user_id": serializers.IntegerField(),
                "active_tasks": TaskProgressSerializer(many=True),
                "completed_tasks": TaskProgressSerializer(many=True, required=False),
                "total_active": serializers.IntegerField(),
                "total_completed": serializers.IntegerField(),
                "counts": inline_serializer("TaskCounts", {s: serializers.IntegerField() for s in Status.values}),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        """Your active tasks, and your finished ones with ?include_completed=true."""
        tasks = selectors.task_summaries(owner=request.user)
        active = tasks.filter(status__in=ProcessingTask.ACTIVE)
        finished = tasks.filter(status__in=ProcessingTask.FINISHED)
        body = {
            "user_id": request.user.pk,
            "active_tasks": TaskProgressSerializer(active, many=True).data,
            "total_active": active.count(),
            "total_completed": finished.count(),
            "counts": selectors.task_counts(owner=request.user),
        }
        if _strict_bool(request, "include_completed"):
            body["completed_tasks"] = TaskProgressSerializer(finished[:200], many=True).data
        return Response(body)


def disk_figures() -> dict[str, Any]:
    """Free space on the media disk against MIN_FREE_DISK_MB (uploads and outputs need room)."""
    folder = Path(settings.MEDIA_ROOT)
    while not folder.exists() and folder != folder.parent:  # not created yet: its disk is the parent's
        folder = folder.parent
    try:
        free_mb = shutil.disk_usage(folder).free // (1024 * 1024)
    except OSError:
        free_mb = 0
    return {"free_mb": free_mb, "min_free_mb": settings.MIN_FREE_DISK_MB, "low": free_mb < settings.MIN_FREE_DISK_MB}


def _manager_figures(staff: bool) -> dict:
    """Counts for anyone; the worker id and running task ids only for staff (API.md "Other")."""
    stats = get_task_manager().stats()
    return stats if staff else {key: stats[key] for key in ("running", "workers", "busy")}


def healthz(request):  # noqa: ANN001, ANN201 - plain Django view, no auth
    """Liveness plus the task manager's queue figures."""
    try:
        figures = selectors.queue_figures()
        database = "ok"
    except Exception as exc:  # report, don't crash: this is what monitoring reads
        figures, database = {}, f"error: {exc.__class__.__name__}"
    disk = disk_figures()
    reasons = ([] if database == "ok" else ["database"]) + (["low_disk"] if disk["low"] else [])
    body = {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "disk": disk,
        "database": database,
        "database_vendor": connection.vendor,
        "queue": figures,
        "task_backend": settings.TASK_BACKEND,
        "task_manager": _manager_figures(is_staff_caller(request)),
    }
    return JsonResponse(body, status=200 if database == "ok" else 503)
