"""POST /process/srt_media/sync: the srt_media task queued like any other and waited for, cancelled at the deadline."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from videos.exceptions import NotCancellableError, ProcessingFailedError, SyncTimeoutError, TaskCancelledError
from videos.models import ProcessingTask
from videos.services.srt_media import srt_media_start
from videos.services.tasks import task_cancel

log = logging.getLogger("montage.srt_media")
SYNC_POLL_SECONDS = 0.05
# After a timeout, how long /sync waits for the cancelled work to stop: a cancel reaches ffmpeg and the
# transcription engine at once (tens of ms); this is a ceiling for a loaded machine, not an expected wait.
SYNC_CANCEL_GRACE_SECONDS = 10.0


def srt_media_run_sync(*, owner: User, timeout: float | None = None, **inputs: Any) -> ProcessingTask:
    """Queue the task like srt_media_start and wait for it; past the timeout cancel it and raise 504.

    The work is a normal task (visible in the user's task list, counted by the limits, run by the
    TaskManager's workers), so a web thread only waits and never does media work itself.
    """
    limit = float(settings.SYNC_PROCESS_TIMEOUT_SECONDS if timeout is None else timeout)
    deadline = time.monotonic() + limit
    task = srt_media_start(owner=owner, **inputs)
    status = _wait_finished(task.pk, deadline)
    if status is None:
        _stop(task, limit)
    task.refresh_from_db()
    if task.status == ProcessingTask.Status.COMPLETED:
        return task
    if task.status == ProcessingTask.Status.FAILED:
        raise ProcessingFailedError(
            f"The processing failed: {task.error_message}", task_id=str(task.pk), video_id=_str(task.video_id)
        )
    raise TaskCancelledError(
        "The task was cancelled before it finished.", task_id=str(task.pk), video_id=_str(task.video_id)
    )


def _wait_finished(task_id: Any, deadline: float) -> str | None:
    """The task's final status, or None if it is still active at the deadline."""
    while True:
        status = ProcessingTask.objects.filter(pk=task_id).values_list("status", flat=True).first()
        if status in ProcessingTask.FINISHED:
            return status
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(min(SYNC_POLL_SECONDS, remaining))


def _stop(task: ProcessingTask, limit: float) -> None:
    """Cancel the timed-out task and wait (briefly) until it has really stopped, then raise 504."""
    try:
        task_cancel(task=task)
    except NotCancellableError:  # it finished between the last look and the cancel: report what it did
        return
    stopped = _wait_finished(task.pk, time.monotonic() + SYNC_CANCEL_GRACE_SECONDS)
    if stopped in (ProcessingTask.Status.COMPLETED, ProcessingTask.Status.FAILED):
        return  # it ended on its own right at the deadline: report that instead
    log.info("srt_media.sync_timeout task_id=%s limit=%s stopped=%s", task.pk, limit, stopped is not None)
    raise SyncTimeoutError(
        f"The processing did not finish within {limit:g} s (SYNC_PROCESS_TIMEOUT_SECONDS) and was cancelled; "
        "use POST /api/v1/process/srt_media/ for long media, or retry this task.",
        task_id=str(task.pk),
        video_id=_str(task.video_id),
        cancelled=stopped is not None,
    )


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None
