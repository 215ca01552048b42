"""Runs one claimed task: builds its JobContext, calls the job, maps the outcome to a status."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings

from videos.models import ProcessingTask
from videos.taskmanager import store
from videos.taskmanager.context import CancelSignal, JobContext, TaskCancelled, remove_task_tmp_dir
from videos.taskmanager.hooks import child_processes, describe_failure
from videos.taskmanager.registry import get_job

log = logging.getLogger("montage.tasks")


# Directory parts of absolute paths (ours: media root, scratch dirs) are nobody's business but ours.
_ABSOLUTE_DIRS = re.compile(r"(?<![\w.])(?:/[^/\s'\":,]+)+/(?=[^/\s'\":,]+)")


def error_message(exc: BaseException) -> str:
    """The message users see for a failed task: the error's own words, without server paths."""
    text = str(getattr(exc, "detail", "") or exc).strip()
    return _ABSOLUTE_DIRS.sub("", text) or exc.__class__.__name__


def _strip_dirs(text: str | None) -> str | None:
    return _ABSOLUTE_DIRS.sub("", text) if text else None


def run_task(task: ProcessingTask, *, worker_id: str, cancel: CancelSignal) -> str:
    """Run `task` (already claimed by `worker_id`) to its end; returns the outcome."""
    ctx: JobContext | None = None
    marker = f"{task.pk}:{task.attempts}"
    # An earlier attempt's child on this host (its process died some other way) must not write on.
    if task.attempts > 1:
        child_processes().kill_leftovers(str(task.pk), store.local_child_pids(task), current=marker)
    try:
        spec = get_job(task.kind)
        ctx = JobContext(task, spec, worker_id=worker_id, cancel=cancel)
        ctx.checkpoint()
        with child_processes().attempt_scope(marker, lambda pid: store.record_child(task.pk, worker_id, pid)):
            result: Any = spec.func(ctx, **ctx.args)
        ctx.checkpoint()
        return _finish(task, worker_id, ctx, ProcessingTask.Status.COMPLETED, result=result)
    except TaskCancelled as stop:
        return _stopped(task, worker_id, ctx, stop.reason)
    except Exception as exc:  # the job failed: record why, keep the worker alive
        if cancel.is_set():  # failures caused by a cancel (a killed ffmpeg) are cancellations
            log.info("task.stopped task_id=%s kind=%s reason=%s error=%r", task.pk, task.kind, cancel.reason, exc)
            return _stopped(task, worker_id, ctx, cancel.reason)
        log.exception("task.error task_id=%s kind=%s", task.pk, task.kind)
        detail = getattr(exc, "raw_detail", None)  # e.g. ffmpeg's own words behind a human message
        message = error_message(exc)
        described = describe_failure(exc)
        if described is not None:
            message, detail = described[0], described[1] or detail
        return _finish(task, worker_id, ctx, ProcessingTask.Status.FAILED, error=message, detail=_strip_dirs(detail))
    finally:
        if ctx is not None:
            ctx.close()


def _finish(task: ProcessingTask, worker_id: str, ctx: JobContext | None, status: str, **fields: Any) -> str:
    """Final status in one transaction with the steps' last changes; scratch files removed before it
    commits, so whoever sees `cancelled` finds no partial file."""
    if ctx is not None:
        ctx.close()  # no progress write from the timer from here on: the final one follows

    def before(_: ProcessingTask) -> None:
        if ctx is not None:
            ctx.write_steps()
        remove_task_tmp_dir(task.pk)

    closed = ctx is not None and status == ProcessingTask.Status.COMPLETED and ctx.all_steps_done
    stage = ctx.stage if ctx is not None else None
    if store.finish(task.pk, worker_id, status, before=before, steps_closed=closed, stage=stage, **fields):
        return str(status)
    return _lost(task)


def _lost(task: ProcessingTask) -> str:
    """The task is no longer ours (forced, timed out or recovered elsewhere)."""
    if not ProcessingTask.objects.filter(pk=task.pk, status__in=ProcessingTask.ACTIVE).exists():
        remove_task_tmp_dir(task.pk)  # finished by someone else: nobody will resume it
    return "lost"


def _stopped(task: ProcessingTask, worker_id: str, ctx: JobContext | None, reason: str) -> str:
    if reason == "shutdown":
        if ctx is not None:
            ctx.close()  # no progress write from the timer from here on: the requeue follows

        def before(_: ProcessingTask) -> None:  # a step completed just before the stop keeps its result
            if ctx is not None:
                ctx.write_steps()

        return "requeued" if store.requeue(task.pk, worker_id, before=before) else _lost(task)
    if reason == "timeout":
        limit = settings.TASK_TIMEOUT_SECONDS
        message = f"Timed out: the task ran longer than TASK_TIMEOUT_SECONDS ({limit} s) and was stopped."
        return _finish(task, worker_id, ctx, ProcessingTask.Status.FAILED, error=message, outcome="timed_out")
    if reason == "lost":
        return _lost(task)
    return _finish(task, worker_id, ctx, ProcessingTask.Status.CANCELLED)
