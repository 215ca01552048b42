"""Writes to videos."""

from __future__ import annotations

from videos.models import ProcessingTask, Video

# Kinds whose tasks decide a video's own status (uploaded -> processing -> ready | error).
STATUS_KINDS = ("reprocess", "transcription")


def video_sync_status(task: ProcessingTask) -> None:
    """Put the video's status right after one of its tasks changed state (called in that transaction).

    A video is `processing` exactly while a reprocess/transcription task is active on it, so a failed,
    cancelled or interrupted task never leaves it stuck.
    """
    if task.video_id is None or task.kind not in STATUS_KINDS:
        return
    tasks = ProcessingTask.objects.filter(video_id=task.video_id, kind__in=STATUS_KINDS)
    if tasks.filter(status__in=ProcessingTask.ACTIVE).exists():
        status = Video.Status.PROCESSING
    else:
        last = tasks.exclude(status=ProcessingTask.Status.CANCELLED).order_by("-finished_at", "-created_at").first()
        has_segments = Video.objects.filter(pk=task.video_id, segments__isnull=False).exists()
        if last is not None and last.status == ProcessingTask.Status.FAILED:
            status = Video.Status.ERROR
        elif last is not None or has_segments:
            status = Video.Status.READY
        else:
            status = Video.Status.UPLOADED
    Video.objects.filter(pk=task.video_id).exclude(status=status).update(status=status)
