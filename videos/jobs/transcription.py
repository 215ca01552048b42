"""The `transcription` job: a video's speech to subtitle segments (its steps are shared with `reprocess`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import transaction

from videos.engines.transcription import Transcript, TranscriptionCancelled
from videos.media.ffmpeg import MediaCancelled
from videos.media.probe import ProbeResult, probe
from videos.models import ProcessingTask
from videos.services.pipeline import pipeline_video, video_source_path
from videos.services.transcripts import (
    extract_speech_audio,
    transcribe_audio,
    transcript_from_json,
    transcript_to_json,
    video_segments_replace,
)
from videos.taskmanager.context import JobContext, TaskCancelled
from videos.taskmanager.registry import job

log = logging.getLogger("montage.pipeline")
# Stage names are API.md's (the running step is the task's stage). Weights as reprocess's: extraction
# 10 like the old system, the engine the bulk, saving a bulk insert (docs/BENCHMARKS.md, "Transcription").
STEPS: dict[str, float] = {"extracting_audio": 10, "transcribing": 88, "saving": 2}


@job("transcription", steps=STEPS, video_group="segments")  # both rewrite the segments
def transcription(
    ctx: JobContext, *, engine: str | None = None, language: str | None = None, **_: Any
) -> dict[str, Any]:
    """Extract 16 kHz mono audio, transcribe it, replace the video's segments atomically."""
    audio = ctx.run_step("extracting_audio", extract_step, ctx)
    transcript = ctx.run_step("transcribing", transcribe_step, ctx, audio, engine, language)
    return ctx.run_step("saving", save_step, ctx, transcript)


@contextmanager
def stop_as_cancelled(ctx: JobContext) -> Iterator[None]:
    """ffmpeg or an engine stopped on the cancel Event: report it as the task's cancel, not a failure."""
    try:
        yield
    except (MediaCancelled, TranscriptionCancelled):
        ctx.checkpoint()
        raise


def extract_step(ctx: JobContext) -> dict[str, Any]:
    """The WAV in the task's scratch dir (kept for a resumed attempt); no WAV for a file without audio."""
    video = pipeline_video(ctx.video_id)
    source = video_source_path(video)
    info = ProbeResult.from_dict(video.probe) if video.probe else probe(source)
    if not info.has_audio:
        ctx.progress(1.0)
        return {"wav": None, "duration_s": info.duration_s, "has_audio": False}
    with stop_as_cancelled(ctx):
        wav = extract_speech_audio(
            source, work_dir=ctx.tmp_dir, duration_s=info.duration_s, on_progress=ctx.progress, cancel=ctx.cancel_event
        )
    return {"wav": str(wav), "duration_s": info.duration_s, "has_audio": True}


def transcribe_step(
    ctx: JobContext, audio: dict[str, Any], engine: str | None, language: str | None = None
) -> dict[str, Any]:
    """The engine's transcript as JSON (so a resumed attempt need not transcribe again)."""
    if not audio["has_audio"]:
        ctx.progress(1.0)
        return {"segments": [], "language": None, "engine": None}
    wav = Path(audio["wav"])
    with stop_as_cancelled(ctx):
        if not wav.is_file():  # scratch lost (another host resumed the task): cut the audio again
            log.info("transcription.reextract task_id=%s", ctx.task_id)
            source = video_source_path(pipeline_video(ctx.video_id))
            wav = extract_speech_audio(
                source, work_dir=ctx.tmp_dir, duration_s=audio["duration_s"], cancel=ctx.cancel_event
            )
        transcript = transcribe_audio(
            wav, engine=engine, on_progress=ctx.progress, cancel=ctx.cancel_event, language=language
        )
    return transcript_to_json(transcript)


def save_step(ctx: JobContext, transcript: dict[str, Any]) -> dict[str, Any]:
    """Replace the video's segments with the transcript's; the result the API shows."""
    parsed = transcript_from_json(transcript)
    count = replace_segments(ctx, parsed)
    ctx.progress(1.0)
    return transcript_summary(parsed, count)


def transcript_summary(transcript: Transcript, count: int) -> dict[str, Any]:
    """The result API.md lists for transcription and reprocess."""
    return {
        "segments": count,
        "words": sum(len(segment.words) for segment in transcript.segments),
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "engine": transcript.engine or None,
        "model": transcript.model,
    }


def replace_segments(ctx: JobContext, transcript: Transcript) -> int:
    """Write the segments only while this attempt still owns the task: a forced successor's must win."""
    video = pipeline_video(ctx.video_id)
    ctx.checkpoint()
    with transaction.atomic():
        row = (
            ProcessingTask.objects.select_for_update()
            .filter(pk=ctx.task_id)
            .values("status", "worker_id", "cancel_requested")
            .first()
        )
        if row is None or row["status"] != ProcessingTask.Status.PROCESSING or row["worker_id"] != ctx.worker_id:
            ctx.cancel.set("lost")
            raise TaskCancelled("lost")
        if row["cancel_requested"]:
            raise TaskCancelled("cancelled")
        return video_segments_replace(video=video, segments=transcript.segments, language=transcript.language)
