"""The processing pipeline on one video: start reprocess/transcription, and the writes their steps make."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction

from videos.engines.transcription import ENGINE_NAMES, TranscriptionError, get_transcription_engine
from videos.engines.transcription.languages import LANGUAGE_CODE_RE
from videos.exceptions import InvalidInputError, UnsupportedLanguageError, UnsupportedMediaError
from videos.models import ProcessingTask, Video
from videos.services.tasks import task_submit

if TYPE_CHECKING:
    from videos.media.probe import ProbeResult

log = logging.getLogger("montage.pipeline")
REPROCESS = "reprocess"
TRANSCRIPTION = "transcription"


class PipelineInputError(Exception):
    """The task's video or its file is gone (deleted after the task was queued)."""


def reprocess_start(
    *, owner: User, video: Video, force: bool = False, engine: str | None = None, language: str | None = None
) -> ProcessingTask:
    """Queue the full pipeline (probe, audio, transcript, paragraphs, thumbnail) on a video.

    409 task_conflict when a reprocess or transcription is active on it; `force` cancels that one first.
    """
    return _start(owner=owner, video=video, kind=REPROCESS, force=force, engine=engine, language=language)


def transcription_start(
    *, owner: User, video: Video, force: bool = False, engine: str | None = None, language: str | None = None
) -> ProcessingTask:
    """Queue a (new) transcription of the video; its segments are replaced when the new ones are ready.

    400 unsupported_media for a video without audio, 400 unsupported_language for a language the
    engine's model cannot do.
    """
    if not video.has_audio:
        raise UnsupportedMediaError("The video has no audio track to transcribe.", video_id=str(video.pk))
    return _start(owner=owner, video=video, kind=TRANSCRIPTION, force=force, engine=engine, language=language)


def transcription_language(*, engine: str | None, language: str | None) -> str | None:
    """The language to ask the engine for (None: detect), checked against what its model can do.

    Reads the model's vocabulary size at most, never loads it: requests stay quick.
    """
    code = (language or "").strip().lower()
    if code in ("", "auto"):
        return None
    if not LANGUAGE_CODE_RE.match(code):
        raise InvalidInputError(
            f"{language!r} is not a language code; use an ISO 639-1 code such as 'en', or 'auto'.",
            errors={"language": ["Use 'auto' or an ISO 639-1 code such as 'en'."]},
        )
    try:
        supported = get_transcription_engine(engine).languages()
    except TranscriptionError:  # no usable model or key: the task fails and says why
        supported = None
    if supported is not None and code not in supported:
        raise UnsupportedLanguageError(
            f"The transcription model cannot transcribe {code!r}; it supports: {', '.join(supported)}.",
            languages=supported,
        )
    return code


def _start(
    *, owner: User, video: Video, kind: str, force: bool, engine: str | None, language: str | None = None
) -> ProcessingTask:
    if engine is not None and engine not in ENGINE_NAMES:
        raise InvalidInputError(
            f"Unknown transcription engine {engine!r}; use one of {', '.join(ENGINE_NAMES)}.",
            errors={"engine": [f"Choose one of {', '.join(ENGINE_NAMES)}."]},
        )
    args: dict[str, Any] = {"engine": engine} if engine else {}
    chosen = transcription_language(engine=engine, language=language)
    if chosen:
        args["language"] = chosen
    # Both kinds share the "segments" video group: task_submit refuses (or with force replaces) the other.
    return task_submit(owner=owner, kind=kind, args=args, video=video, force=force)


# What the steps read and write ----------------------------------------------------------------
def pipeline_video(video_id: Any) -> Video:
    """The task's video; a clear error when it was deleted after the task was queued."""
    video = Video.objects.filter(pk=video_id).first() if video_id else None
    if video is None:
        raise PipelineInputError("The video of this task no longer exists (deleted after the task was queued).")
    return video


def video_source_path(video: Video) -> Path:
    """The local path ffmpeg reads; a clear error when the file is missing or not on local storage."""
    try:
        path = Path(video.file.path)
    except NotImplementedError:
        raise PipelineInputError(
            f"The file of video {video.pk} is not on local storage; ffmpeg cannot read it."
        ) from None
    if not path.is_file():
        raise PipelineInputError(f"The file of video {video.pk} is missing from storage.")
    return path


def video_probe_refresh(*, video: Video, probe: ProbeResult) -> Video:
    """Store a fresh ffprobe answer on the video (the reprocess job's first step)."""
    fields = {
        "duration_s": probe.duration_s,
        "width": probe.width,
        "height": probe.height,
        "fps": probe.fps,
        "video_codec": (probe.video_codec or "")[:32],
        "audio_codec": (probe.audio_codec or "")[:32],
        "has_audio": bool(probe.has_audio),
        "size_bytes": probe.size_bytes or video.size_bytes,
        "probe": probe.to_dict(),
    }
    Video.objects.filter(pk=video.pk).update(**fields)  # only these fields: the status belongs to the tasks
    for name, value in fields.items():
        setattr(video, name, value)
    return video


def video_thumbnail_replace(*, video: Video, image: Path) -> str:
    """Move a poster frame into storage as the video's thumbnail (the old one is removed); returns its name."""
    field = video.thumbnail
    old = field.name
    with open(image, "rb") as fh:
        field.save(f"{video.pk}.jpg", File(fh), save=False)
    Video.objects.filter(pk=video.pk).update(thumbnail=field.name)
    if old and old != field.name:
        transaction.on_commit(lambda: field.storage.delete(old))
    log.info("video.thumbnail video_id=%s name=%s", video.pk, field.name)
    return str(field.name)  # set by save()
