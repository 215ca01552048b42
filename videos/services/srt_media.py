"""Subtitle + media processing: validate and queue an srt_media task, run it inline for /sync, align its output."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from videos.engines.paragraphs import Paragraph, resolve_paragraph_engine_name
from videos.engines.subtitles import Cue, SubtitleParseError, parse_srt
from videos.exceptions import (
    FileTooLargeError,
    InvalidInputError,
    NotCancellableError,
    ProcessingFailedError,
    SyncTimeoutError,
    TaskCancelledError,
)
from videos.media.probe import ProbeResult
from videos.models import ProcessingTask, Video
from videos.services.tasks import task_cancel, task_submit
from videos.services.videos import video_delete, video_upload

log = logging.getLogger("montage.srt_media")
KIND = "srt_media"
MAX_SRT_BYTES = 10 * 1024 * 1024  # a feature film's SRT is ~100 KB; anything near this is not subtitles
# SRT text up to this size rides in the task's args (no file to keep or leak); larger goes to storage.
INLINE_SRT_BYTES = 64 * 1024
SRT_STORAGE_DIR = "srt_media"
# A cue ending this little past the media end is container rounding, not a wrong file: clamp it quietly.
END_TOLERANCE_SECONDS = 0.05
SYNC_POLL_SECONDS = 0.05
# After a timeout, how long /sync waits for the cancelled work to stop: a cancel reaches ffmpeg and the
# transcription engine at once (tens of ms); this is a ceiling for a loaded machine, not an expected wait.
SYNC_CANCEL_GRACE_SECONDS = 10.0


class SrtMediaInputError(Exception):
    """A stored input (SRT file or video) vanished between the request and the work."""


# Starting work ------------------------------------------------------------------------------------
def srt_media_start(
    *,
    owner: User,
    srt_file: UploadedFile | None = None,
    media_file: UploadedFile | None = None,
    video_id: UUID | str | None = None,
    title: str = "",
    engine: str | None = None,
    force: bool = False,
) -> ProcessingTask:
    """Validate every input, store the SRT and any uploaded media, queue the task; a refusal stores nothing.

    SRT only: paragraphs of its cues (no media to clamp to). Media only: the media is transcribed first.
    Both: the SRT's cues, clamped to the media. `media_file` and `video_id` are two ways to name the media.
    """
    if media_file is not None and video_id is not None:
        raise InvalidInputError(
            "Send either media_file or video_id, not both.", errors={"video_id": ["Not allowed with media_file."]}
        )
    if srt_file is None and media_file is None and video_id is None:
        raise InvalidInputError(
            "Send an srt_file, a media file (media_file or video_id), or both.",
            errors={"srt_file": ["Required when no media is given."]},
        )
    engine = _checked_engine(engine)
    srt_data = _read_srt(srt_file) if srt_file is not None else None
    cue_count = len(srt_media_parse(srt_data)) if srt_data is not None else None
    video = _own_video(owner, video_id) if video_id is not None else None
    if video is not None and srt_data is None:
        _require_audio(video)
    created: Video | None = None
    stored_srt: str | None = None
    try:
        if media_file is not None:
            video = created = video_upload(owner=owner, file=media_file, title=title)
            if srt_data is None:
                _require_audio(video)
        args: dict[str, Any] = {"engine": engine, "srt_filename": (srt_file.name or "")[:255] if srt_file else ""}
        if srt_data is not None and len(srt_data) <= INLINE_SRT_BYTES:
            args["srt_text"] = srt_data.decode("utf-8")
        elif srt_data is not None:
            stored_srt = args["srt_name"] = _store_srt(srt_data)
        task = task_submit(owner=owner, kind=KIND, args=args, video=video, force=force)
    except BaseException:
        if stored_srt is not None:
            default_storage.delete(stored_srt)
        if created is not None:
            video_delete(video=created)
        raise
    log.info(
        "srt_media.queued task_id=%s video_id=%s cues=%s srt_stored=%s",
        task.pk,
        task.video_id,
        cue_count,
        "file" if stored_srt else ("inline" if srt_data is not None else "none"),
    )
    return task


def srt_media_parse(data: bytes | str) -> list[Cue]:
    """The SRT's cues, or 400 invalid naming the bad line (message and errors["srt_file"])."""
    try:
        return parse_srt(data)
    except SubtitleParseError as exc:
        raise InvalidInputError(
            f"The SRT file is malformed at line {exc.line}: {exc.reason}.",
            errors={"srt_file": [f"Line {exc.line}: {exc.reason}."]},
            line=exc.line,
        ) from None


def _checked_engine(engine: str | None) -> str | None:
    if not engine:
        return None
    try:
        resolved = resolve_paragraph_engine_name(engine)
    except ValueError as exc:
        raise InvalidInputError(str(exc), errors={"engine": [str(exc)]}) from None
    if resolved == "openai" and not settings.OPENAI_API_KEY:
        message = "The openai paragraph engine is not available here (no OPENAI_API_KEY); use rules or auto."
        raise InvalidInputError(message, errors={"engine": [message]})
    return engine


def _read_srt(srt_file: UploadedFile) -> bytes:
    if srt_file.size is not None and srt_file.size > MAX_SRT_BYTES:
        raise FileTooLargeError(
            f"The SRT file ({srt_file.size / 1024 / 1024:.1f} MB) is larger than the limit of "
            f"{MAX_SRT_BYTES // 1024 // 1024} MB.",
        )
    srt_file.seek(0)
    data = srt_file.read(MAX_SRT_BYTES + 1)
    if len(data) > MAX_SRT_BYTES:
        raise FileTooLargeError(f"The SRT file is larger than the limit of {MAX_SRT_BYTES // 1024 // 1024} MB.")
    return data


def _own_video(owner: User, video_id: UUID | str) -> Video:
    video = Video.objects.filter(owner=owner, pk=video_id).first()
    if video is None:  # another user's video is as unknown as a missing one
        raise InvalidInputError(
            f"No video {video_id} among your videos.", errors={"video_id": [f"Unknown video id {video_id}."]}
        )
    return video


def _require_audio(video: Video) -> None:
    if not video.has_audio:
        raise InvalidInputError(
            "The media has no audio track to transcribe; send an srt_file with it.",
            errors={"srt_file": ["Required: the media has no audio track to transcribe."]},
        )


def _store_srt(data: bytes) -> str:
    """Save under a generated name (never the client's) and return the storage name.

    A write that fails half-way (a full disk: the API answers 507) leaves no partial file behind.
    """
    name = f"{SRT_STORAGE_DIR}/{uuid.uuid4().hex}.srt"
    try:
        return default_storage.save(name, ContentFile(data))
    except OSError:
        with contextlib.suppress(OSError):
            default_storage.delete(name)
        raise


# Inputs as the job sees them ----------------------------------------------------------------------
def srt_media_load_cues(*, srt_text: str | None = None, srt_name: str | None = None) -> list[Cue]:
    """The task's SRT cues, from its args (inline text) or from storage."""
    if srt_text is not None:
        return parse_srt(srt_text)
    assert srt_name is not None
    try:
        with default_storage.open(srt_name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise SrtMediaInputError(
            "The task's stored SRT file is gone (it is removed once a task using it completes); "
            "start a new task with the SRT file."
        ) from None
    return parse_srt(data)


def srt_media_release(*, srt_name: str | None) -> None:
    """Remove a stored SRT once its task completed (failed or cancelled tasks keep it for a retry)."""
    if srt_name:
        default_storage.delete(srt_name)


def srt_media_forget(args: dict[str, Any]) -> None:
    """A purged task's stored SRT goes too, unless another task (a retry) still refers to it."""
    name = args.get("srt_name")
    if name and not ProcessingTask.objects.filter(kind="srt_media", args__srt_name=name).exists():
        default_storage.delete(name)


def srt_media_video(*, owner_id: Any, video_id: Any) -> dict[str, Any]:
    """The media's local path, duration and audio flag from the upload-time probe (no ffprobe here)."""
    video = Video.objects.filter(owner_id=owner_id, pk=video_id).first()
    if video is None:
        raise SrtMediaInputError(f"The video {video_id} no longer exists.")
    duration = ProbeResult.from_dict(video.probe).duration_s if video.probe else video.duration_s
    try:
        path = Path(video.file.path)
    except NotImplementedError:  # remote storage: ffmpeg needs a local file
        path = None
    return {"path": str(path) if path else None, "duration_s": duration, "has_audio": video.has_audio}


# Alignment (pure) ---------------------------------------------------------------------------------
def align_paragraphs(
    paragraphs: Sequence[Paragraph], cues: Sequence[Cue], duration_s: float | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Paragraph dicts with times clamped to [0, duration], and warnings for cues past the media end."""
    limit = duration_s if duration_s and duration_s > 0 else None
    aligned = []
    for paragraph in paragraphs:
        start, end = max(0.0, paragraph.start), max(0.0, paragraph.end)
        if limit is not None:
            start, end = min(start, limit), min(end, limit)
        aligned.append(
            {
                "index": paragraph.index,
                "start": round(start, 3),
                "end": round(max(start, end), 3),
                "text": paragraph.text,
                "segment_indexes": list(paragraph.segment_indexes),
            }
        )
    return aligned, _cue_warnings(cues, limit)


def _cue_warnings(cues: Sequence[Cue], limit: float | None) -> list[dict[str, Any]]:
    if limit is None:
        return []
    after = [cue.index for cue in cues if cue.start >= limit]
    overrun = [cue.index for cue in cues if cue.start < limit and cue.end > limit + END_TOLERANCE_SECONDS]
    warnings = []
    if after:
        warnings.append(
            {
                "code": "cues_after_media_end",
                "cues": after,
                "message": f"{_count(after)} {_span(after)} start at or after the media ends ({limit:.3f} s); "
                "their paragraph times are clamped to the end.",
            }
        )
    if overrun:
        warnings.append(
            {
                "code": "cues_overrun_media_end",
                "cues": overrun,
                "message": f"{_count(overrun)} {_span(overrun)} end after the media ends ({limit:.3f} s); "
                "their paragraph times are clamped to the end.",
            }
        )
    return warnings


def _count(indexes: list[int]) -> str:
    return "1 cue" if len(indexes) == 1 else f"{len(indexes)} cues"


def _span(indexes: list[int]) -> str:
    if len(indexes) == 1:
        return f"(number {indexes[0]})"
    shown = ", ".join(str(i) for i in indexes[:10])
    return f"(numbers {shown}{', ...' if len(indexes) > 10 else ''})"


def order_cues(cues: Sequence[Cue]) -> tuple[list[Cue], int]:
    """Cues in time order (stable, keeping their file-order numbers) and how many were out of place."""
    ordered = sorted(cues, key=lambda cue: (cue.start, cue.end))
    return ordered, sum(1 for a, b in zip(cues, ordered, strict=True) if a.index != b.index)


def cue_dicts(cues: Sequence[Cue]) -> list[dict[str, Any]]:
    return [asdict(cue) for cue in cues]


def cues_from_dicts(items: Sequence[dict[str, Any]]) -> list[Cue]:
    return [Cue(index=item["index"], start=item["start"], end=item["end"], text=item["text"]) for item in items]


# /sync: the same task, waited for ----------------------------------------------------------------
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
