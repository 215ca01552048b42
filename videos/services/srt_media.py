"""Subtitle + media processing: validate and queue an srt_media task, and the inputs its job reads.

Waiting for the task (/sync) is `srt_media_sync`; aligning its paragraphs is `engines.paragraphs.align`.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from videos.engines.paragraphs import resolve_paragraph_engine_name
from videos.engines.subtitles import Cue, SubtitleParseError, parse_srt
from videos.exceptions import FileTooLargeError, InvalidInputError
from videos.media.probe import ProbeResult
from videos.models import ProcessingTask, Video
from videos.services.tasks import task_submit
from videos.services.videos import video_delete, video_upload

log = logging.getLogger("montage.srt_media")
KIND = "srt_media"
MAX_SRT_BYTES = 10 * 1024 * 1024  # a feature film's SRT is ~100 KB; anything near this is not subtitles
# SRT text up to this size rides in the task's args (no file to keep or leak); larger goes to storage.
INLINE_SRT_BYTES = 64 * 1024
SRT_STORAGE_DIR = "srt_media"


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
