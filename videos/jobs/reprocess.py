"""The `reprocess` job: the whole pipeline on one video, each step resumable on a new attempt."""

from __future__ import annotations

from typing import Any

from videos.engines.paragraphs import build_paragraphs, engine_used, get_paragraph_engine
from videos.engines.subtitles import cues_from_segments
from videos.jobs.transcription import extract_step, replace_segments, transcribe_step, transcript_summary
from videos.media.audio import thumbnail
from videos.media.probe import probe
from videos.services.pipeline import (
    pipeline_video,
    video_probe_refresh,
    video_source_path,
    video_thumbnail_replace,
)
from videos.services.transcripts import transcript_from_json, video_segments
from videos.taskmanager.context import JobContext
from videos.taskmanager.registry import job

# Stage names are API.md's. Weights follow where the time goes (docs/BENCHMARKS.md, "Transcription":
# the engine takes 90% and more), keeping the old system's 10 for audio extraction (README).
STEPS: dict[str, float] = {"probing": 2, "extracting_audio": 10, "transcribing": 80, "paragraphs": 5, "thumbnail": 3}
THUMBNAIL_NAME = "poster.jpg"
SUMMARY_KEYS = ("segments", "words", "language", "language_probability", "engine", "model")


@job("reprocess", steps=STEPS, video_group="segments")  # both rewrite the segments
def reprocess(ctx: JobContext, *, engine: str | None = None, language: str | None = None, **_: Any) -> dict[str, Any]:
    """Probe again, transcribe into fresh segments, group them into paragraphs, store a poster frame."""
    probed = ctx.run_step("probing", probe_step, ctx)
    audio = ctx.run_step("extracting_audio", extract_step, ctx)
    transcript = ctx.run_step("transcribing", transcribe_and_save_step, ctx, audio, engine, language)
    paragraphs = ctx.run_step("paragraphs", paragraphs_step, ctx)
    poster = ctx.run_step("thumbnail", thumbnail_step, ctx, probed)
    return {
        **{key: transcript.get(key) for key in SUMMARY_KEYS},
        "paragraphs": paragraphs["paragraphs"],
        "paragraph_engine": paragraphs["engine"],
        **poster,  # {"has_thumbnail": bool}
        "duration_s": probed["duration_s"],
    }


def probe_step(ctx: JobContext) -> dict[str, Any]:
    """ffprobe the stored file again and keep the answer on the video."""
    video = pipeline_video(ctx.video_id)
    info = probe(video_source_path(video))
    video_probe_refresh(video=video, probe=info)
    ctx.progress(1.0)
    return {"duration_s": info.duration_s, "has_video": info.has_video, "has_audio": info.has_audio}


def transcribe_and_save_step(
    ctx: JobContext, audio: dict[str, Any], engine: str | None, language: str | None = None
) -> dict[str, Any]:
    """Transcribe and replace the segments in one step (its result holds the counts, not the text)."""
    transcript = transcript_from_json(transcribe_step(ctx, audio, engine, language))
    count = replace_segments(ctx, transcript)
    return transcript_summary(transcript, count)


def paragraphs_step(ctx: JobContext) -> dict[str, Any]:
    """Group the video's new segments with the paragraph engine (PARAGRAPH_ENGINE)."""
    video = pipeline_video(ctx.video_id)
    cues = cues_from_segments(video_segments(video=video))
    if not cues:
        ctx.progress(1.0)
        return {"paragraphs": [], "engine": None}
    ctx.checkpoint()
    grouper = get_paragraph_engine()
    paragraphs = build_paragraphs(cues, grouper.group(cues))
    ctx.progress(1.0)
    return {
        "paragraphs": [
            {"index": p.index, "start": p.start, "end": p.end, "text": p.text, "segment_indexes": p.segment_indexes}
            for p in paragraphs
        ],
        "engine": engine_used(grouper),
    }


def thumbnail_step(ctx: JobContext, probed: dict[str, Any]) -> dict[str, Any]:
    """A poster frame stored as the video's thumbnail (none for audio-only files)."""
    video = pipeline_video(ctx.video_id)
    if not probed["has_video"]:
        ctx.progress(1.0)
        return {"has_thumbnail": False}
    ctx.checkpoint()
    image = thumbnail(video_source_path(video), ctx.tmp_dir / THUMBNAIL_NAME)
    ctx.progress(0.8)
    video_thumbnail_replace(video=video, image=image)
    return {"has_thumbnail": True}
