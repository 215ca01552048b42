"""The `srt_media` job: SRT cues (or a transcript of the media) grouped into paragraphs aligned to the media."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videos.engines.paragraphs import build_paragraphs, engine_used, get_paragraph_engine
from videos.engines.paragraphs.align import align_paragraphs, cue_dicts, cues_from_dicts, order_cues
from videos.engines.subtitles import cues_from_segments
from videos.services.srt_media import (
    SrtMediaInputError,
    srt_media_forget,
    srt_media_load_cues,
    srt_media_release,
    srt_media_video,
)
from videos.taskmanager.context import JobContext
from videos.taskmanager.registry import job

# Weights: with an SRT the first two steps take milliseconds and the OpenAI call dominates; media-only work
# is dominated by transcription (docs/BENCHMARKS.md, "Transcription").
STEPS: dict[str, float] = {"transcribing": 60, "processing_llm": 30, "aligning": 10}


@job("srt_media", steps=STEPS, on_purge=srt_media_forget)
def srt_media(
    ctx: JobContext,
    *,
    srt_text: str | None = None,
    srt_name: str | None = None,
    engine: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Cues from the SRT (else a transcript), paragraphs by the engine, times clamped to the media."""
    source = ctx.run_step("transcribing", _transcribing, ctx, srt_text, srt_name)
    grouping = ctx.run_step("processing_llm", _processing_llm, ctx, source["cues"], engine)
    result = ctx.run_step("aligning", _aligning, ctx, source, grouping)
    srt_media_release(srt_name=srt_name)  # completed: no retry will need it
    return result


def _transcribing(ctx: JobContext, srt_text: str | None, srt_name: str | None) -> dict[str, Any]:
    """Parse the SRT when there is one, else transcribe the media; either way cues numbered 1..n."""
    media = srt_media_video(owner_id=ctx.owner_id, video_id=ctx.video_id) if ctx.video_id else None
    duration = media["duration_s"] if media else None
    if srt_text is not None or srt_name:
        cues, moved = order_cues(srt_media_load_cues(srt_text=srt_text, srt_name=srt_name))
        ctx.progress(1.0)
        return {
            "source": "srt",
            "cues": cue_dicts(cues),
            "reordered": moved,
            "duration_s": duration,
            "language": None,
            "transcriber": None,
        }
    if media is None:
        raise SrtMediaInputError("The task has no SRT and its video no longer exists: nothing to process.")
    if not media["path"]:
        raise SrtMediaInputError("The video is not on local storage; it cannot be transcribed here.")
    if not Path(media["path"]).is_file():
        raise SrtMediaInputError("The video's file is missing from storage; upload it again.")
    from videos.services.transcripts import transcribe_file  # the transcription service (audio + engine)

    try:
        transcript = transcribe_file(
            Path(media["path"]),
            work_dir=ctx.tmp_dir,
            on_progress=ctx.progress,
            cancel=ctx.cancel_event,
            duration_s=duration,
        )
    except Exception:
        ctx.checkpoint()  # stopped by a cancel (ffmpeg killed, engine interrupted): the step is cancelled, not failed
        raise
    ctx.checkpoint()
    cues, moved = order_cues(cues_from_segments(transcript.segments))  # type: ignore[arg-type]
    return {
        "source": "transcript",
        "cues": cue_dicts(cues),
        "reordered": moved,
        "duration_s": duration,
        "language": transcript.language,
        "transcriber": transcript.engine,
    }


def _processing_llm(ctx: JobContext, cue_items: list[dict[str, Any]], engine_name: str | None) -> dict[str, Any]:
    """Group the cues with the paragraph engine (OpenAI with its repair and rules fallback, or rules)."""
    cues = cues_from_dicts(cue_items)
    try:
        engine = get_paragraph_engine(engine_name)
    except ValueError as exc:
        raise SrtMediaInputError(f"Paragraph engine unavailable: {exc}.") from None
    ctx.checkpoint()
    groups = engine.group(cues) if cues else []
    ctx.checkpoint()
    used = engine_used(engine)
    return {
        "groups": groups,
        "engine": used,
        "requested": engine.name,
        "fallback_reason": getattr(engine, "last_error", None) if used != engine.name else None,
    }


def _aligning(ctx: JobContext, source: dict[str, Any], grouping: dict[str, Any]) -> dict[str, Any]:
    """Paragraph times from their cues, clamped to the media; cues past its end become warnings."""
    cues = cues_from_dicts(source["cues"])
    paragraphs, warnings = align_paragraphs(build_paragraphs(cues, grouping["groups"]), cues, source["duration_s"])
    if grouping["fallback_reason"]:
        warnings.append(
            {
                "code": "paragraph_engine_fallback",
                "message": f"The {grouping['requested']} paragraph engine's answer was not used "
                f"({grouping['fallback_reason']}); the {grouping['engine']} engine grouped the lines.",
            }
        )
    if source.get("reordered"):
        warnings.append(
            {
                "code": "cues_reordered",
                "message": f"{source['reordered']} cues are out of time order in the file; "
                "paragraphs follow time order (segment_indexes keep the file's numbers).",
            }
        )
    if not cues:
        warnings.append({"code": "no_speech", "message": "No speech was recognised in the media: no paragraphs."})
    ctx.progress(1.0)
    return {
        "paragraphs": paragraphs,
        "engine": grouping["engine"],
        "warnings": warnings,
        "cues": len(cues),
        "video_id": str(ctx.video_id) if ctx.video_id else None,
        "source": source["source"],
        "duration_s": source["duration_s"],
        "language": source["language"],
        "transcription_engine": source["transcriber"],
    }
