"""Every read the API, pages and admin make."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Prefetch, Q, QuerySet

from videos.engines.paragraphs.base import build_paragraphs
from videos.engines.paragraphs.rules import RulesParagraphEngine
from videos.engines.subtitles import cues_from_segments
from videos.models import ProcessingTask, SubTask, Video
from videos.taskmanager.rows import fetch, first, prepared, qualified, table


def task_progress_rows(
    *, owner: User, task_id: Any, fields: Sequence[str], step_fields: Sequence[str]
) -> list[dict[str, Any]]:
    """One of the user's tasks with its steps in ONE query (a row per step): what a status poll reads.

    `fields` are the task's columns, `step_fields` each step's (as `subtasks__<name>`); TaskProgress names
    them (api.serializers.progress_columns). Raises DoesNotExist (a 404) for another user's or an unknown
    task. Polls are the hottest read: the join is written by hand (taskmanager.rows), since compiling it
    cost the ORM more than running it.
    """
    task_fields = [ProcessingTask._meta.get_field(name) for name in fields]
    steps = [SubTask._meta.get_field(name) for name in step_fields]
    task, step = ProcessingTask._meta, SubTask._meta
    columns = ", ".join(qualified(field) for field in [*task_fields, *steps])
    sql = (
        f"SELECT {columns} FROM {table(ProcessingTask)} LEFT OUTER JOIN {table(SubTask)}"
        f" ON {qualified(step.get_field('task'))} = {qualified(task.pk)}"
        f" WHERE {qualified(task.get_field('owner'))} = %s AND {qualified(task.pk)} = %s"
        f" ORDER BY {qualified(step.get_field('position'))}"
    )
    params = [prepared(task.get_field("owner"), owner.pk), prepared(task.pk, task_id)]
    names = [*fields, *(f"subtasks__{name}" for name in step_fields)]
    found = [dict(zip(names, row, strict=True)) for row in fetch(sql, params, [*task_fields, *steps])]
    if not found:
        raise ProcessingTask.DoesNotExist("No such task.")
    return found


def task_list(*, owner: User) -> QuerySet[ProcessingTask]:
    """A user's tasks, newest first, with subtasks prefetched for TaskProgress."""
    return _tasks(owner, SubTask.objects.order_by("position"))


def task_summaries(*, owner: User) -> QuerySet[ProcessingTask]:
    """task_list() for TaskProgress lists: without the tasks' and steps' `args`/`result` JSON.

    TaskProgress shows neither, and they grow with the work (10,000 clip ids, every cue of a file):
    loading them made a page of such tasks cost 100-300 ms.
    """
    steps = SubTask.objects.defer("result").order_by("position")
    return _tasks(owner, steps).defer("args", "result")


def _tasks(owner: User, steps: QuerySet[SubTask]) -> QuerySet[ProcessingTask]:
    """Filters by status and kind: api/filters.py."""
    return (
        ProcessingTask.objects.filter(owner=owner)
        .prefetch_related(Prefetch("subtasks", queryset=steps))
        .order_by("-created_at")
    )


def task_row(*, owner: User, task_id: Any) -> ProcessingTask:
    """One of the user's tasks without its steps, for a write (cancel, retry); another user's is a 404.

    A starting request's read: written without the ORM's compiler (taskmanager.rows); the owner is the
    user already loaded, the video is read if used.
    """
    task = first(ProcessingTask, {"pk": task_id, "owner": owner.pk})
    if task is None:
        raise ProcessingTask.DoesNotExist("No such task.")
    task.owner = owner
    return task


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


def video_search(*, owner: User, q: str = "", status: str = "") -> QuerySet[Video]:
    """The library page's list: my videos, newest first, narrowed by a title search and a status."""
    qs = video_list(owner=owner)
    if q.strip():
        qs = qs.filter(title__icontains=q.strip())
    if status in Video.Status.values:
        qs = qs.filter(status=status)
    return qs


def task_search(*, owner: User, q: str = "", status: str = "", kind: str = "") -> QuerySet[ProcessingTask]:
    """The tasks page's list: task_list() narrowed by the video's or composition's title (a page shows 20)."""
    qs = task_list(owner=owner).select_related("video")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if q.strip():
        qs = qs.filter(Q(video__title__icontains=q.strip()) | Q(args__title__icontains=q.strip()))
    return qs


def composition_input_ids(args: dict[str, Any] | None) -> list[str]:
    """The input video ids a composition task stores, in order (plain ids, or items with a `video` key)."""
    args = args or {}
    items = args.get("video_ids") or args.get("clips") or args.get("videos") or []
    ids = [item.get("video") if isinstance(item, dict) else item for item in items]
    return [str(vid) for vid in ids if vid]


def composition_sources(*, owner: User, video_ids: list[Any]) -> dict[str, dict[str, Any]]:
    """For those of `video_ids` that a composition produced: its task and its inputs ({id, title, exists}).

    Read from the completed composition tasks whose result names the video, one query for the tasks and
    one for the inputs' titles, so a library page of 20 cards costs two queries.
    """
    wanted = [str(vid) for vid in video_ids]
    if not wanted:
        return {}
    tasks = (
        ProcessingTask.objects.filter(
            owner=owner, kind="composition", status=ProcessingTask.Status.COMPLETED, result__video_id__in=wanted
        )
        .only("id", "args", "result")
        .order_by("created_at")
    )
    found = {str((task.result or {}).get("video_id")): task for task in tasks}
    input_ids = {vid for task in found.values() for vid in composition_input_ids(task.args)}
    titles = {str(row["pk"]): str(row["title"] or row["pk"]) for row in
              Video.objects.filter(owner=owner, pk__in=valid_uuids(input_ids)).values("pk", "title")}  # fmt: skip
    return {
        vid: {
            "task": task,
            "inputs": [
                {"id": inp, "title": titles.get(inp, "a deleted video"), "exists": inp in titles}
                for inp in composition_input_ids(task.args)
            ],
        }
        for vid, task in found.items()
    }


def valid_uuids(values: Any) -> list[uuid.UUID]:
    """The values that are UUIDs (JSON args may hold anything), ready for a `pk__in`."""
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


VIDEO_KINDS = ("transcription", "reprocess", "srt_media")  # kinds whose work is one video


def task_retry_blocker(*, task: ProcessingTask) -> str | None:
    """Why a retry of this failed task is certain to fail again (its input is gone or unfit); None if worth it.

    Judged from the inputs as they are now, not from the error text: a retry runs on them again. Time-outs,
    interruptions, a full disk or an engine's hiccup are transient, so the page offers Retry for those.
    """
    if task.status != ProcessingTask.Status.FAILED:
        return None
    if task.kind == "composition":
        ids = composition_input_ids(task.args)
        found = Video.objects.filter(owner_id=task.owner_id, pk__in=valid_uuids(ids)).values("pk", "title", "width")
        rows = {str(row["pk"]): row for row in found}
        for number, vid in enumerate(ids, 1):
            row = rows.get(vid)
            if row is None:
                return f"Input {number} was deleted, so the same composition cannot be made again."
            if not row["width"]:
                return f"Input {number} (“{row['title'] or vid}”) has no picture, and only videos can be composed."
        return None
    if task.kind in VIDEO_KINDS and task.video_id is None:
        return "Its video was deleted, so there is nothing to run it on again."
    if task.kind == "transcription" and task.video is not None and not task.video.has_audio:
        return "The video has no audio track, so there is nothing to transcribe."
    return None


def video_paragraphs(*, video: Video, segments: list[Any]) -> tuple[list[dict[str, Any]], ProcessingTask | None]:
    """The video's paragraphs: the latest completed paragraphs task's result, else its transcript grouped offline.

    The offline grouping is the rules engine's, the one the `?format=txt` download uses, so the page and the
    text file read the same. Returns the paragraphs and the task they came from (None when grouped here).
    """
    task = (
        ProcessingTask.objects.filter(video=video, kind="srt_media", status=ProcessingTask.Status.COMPLETED)
        .only("id", "result", "finished_at")
        .order_by("-finished_at")
        .first()
    )
    stored = (task.result or {}).get("paragraphs") if task is not None and isinstance(task.result, dict) else None
    if stored:
        return list(stored), task
    cues = cues_from_segments(segments)
    if not cues:
        return [], None
    grouped = build_paragraphs(cues, RulesParagraphEngine().group(cues))
    return [{"index": p.index, "start": p.start, "end": p.end, "text": p.text} for p in grouped], None
