"""Every read the API, pages and admin make."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Prefetch, QuerySet

from videos.models import ProcessingTask, SubTask, Video


def task_list(
    *, owner: User, status: str | None = None, kind: str | None = None
) -> QuerySet[ProcessingTask]:
    """A user's tasks, newest first, with subtasks prefetched for TaskProgress."""
    return _tasks(owner, status, kind, SubTask.objects.order_by("position"))


def task_summaries(
    *, owner: User, status: str | None = None, kind: str | None = None
) -> QuerySet[ProcessingTask]:
    """task_list() for TaskProgress lists: without the tasks' and steps' `args`/`result` JSON.

    TaskProgress shows neither, and they grow with the work (10,000 clip ids, every cue of a file):
    loading them made a page of such tasks cost 100-300 ms.
    """
    steps = SubTask.objects.defer("result").order_by("position")
    return _tasks(owner, status, kind, steps).defer("args", "result")


def _tasks(owner: User, status: str | None, kind: str | None, steps: QuerySet[SubTask]) -> QuerySet[ProcessingTask]:
    qs = ProcessingTask.objects.filter(owner=owner).prefetch_related(Prefetch("subtasks", queryset=steps))
    # Distinct non-empty names only: "?status=,,,..." once became 100,000 SQL parameters (a 500 on SQLite).
    if status:
        qs = qs.filter(status__in={name for name in status.split(",") if name})
    if kind:
        qs = qs.filter(kind__in={name for name in kind.split(",") if name})
    return qs.order_by("-created_at")


def task_get(*, owner: User, task_id: Any, kind: str | None = None) -> ProcessingTask:
    """One of the user's tasks; another user's raises DoesNotExist (a 404, never a 403)."""
    qs = task_list(owner=owner)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.get(pk=task_id)


def video_list(*, owner: User) -> QuerySet[Video]:
    return Video.objects.filter(owner=owner).order_by("-created_at")


def video_latest_task(*, video: Video, kind: str) -> ProcessingTask | None:
    return (
        ProcessingTask.objects.filter(video=video, kind=kind)
        .prefetch_related(Prefetch("subtasks", queryset=SubTask.objects.order_by("position")))
        .order_by("-created_at")
        .first()
    )


def video_active_task(*, video: Video) -> ProcessingTask | None:
    """The newest active task on a video, else the newest of any status."""
    qs = ProcessingTask.objects.filter(video=video).prefetch_related(
        Prefetch("subtasks", queryset=SubTask.objects.order_by("position"))
    )
    return (
        qs.filter(status__in=ProcessingTask.ACTIVE).order_by("-created_at").first()
        or qs.order_by("-created_at").first()
    )


def queue_figures() -> dict[str, int]:
    rows = (
        ProcessingTask.objects.filter(status__in=ProcessingTask.ACTIVE)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {row["status"]: row["n"] for row in rows}
    return {"pending": counts.get("pending", 0), "processing": counts.get("processing", 0)}


def task_counts(*, owner: User) -> dict[str, int]:
    """{status: n} over all five statuses (zeros included), in one query."""
    rows = ProcessingTask.objects.filter(owner=owner).values("status").annotate(n=Count("pk")).order_by()
    counts = {row["status"]: row["n"] for row in rows}
    return {status: counts.get(status, 0) for status in ProcessingTask.Status.values}
