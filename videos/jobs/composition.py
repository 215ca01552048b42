"""The `composition` job: join two or more of a user's videos, each maybe trimmed, into a new video
(ffmpeg or MoviePy), with their captions carried onto the new timeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from videos.engines.transcription.base import Segment
from videos.media.composition import Rendered, compose, keyframe_times, timeline_captions
from videos.media.plan import Clip, CompositionPlan, keyframes_wanted, parse_size, plan_composition
from videos.media.probe import ProbeResult, probe
from videos.services.compositions import (
    CompositionInputError,
    composition_attach_captions,
    composition_attach_output,
    composition_existing_output,
    composition_inputs,
)
from videos.services.transcripts import transcript_from_json, words_to_json
from videos.taskmanager.context import JobContext
from videos.taskmanager.registry import job

OUTPUT_NAME = "composition.mp4"


@job("composition", steps={"probe": 5, "concatenate": 90, "finalize": 5})
def composition(
    ctx: JobContext,
    *,
    video_ids: list[str],
    title: str = "",
    engine: str = "ffmpeg",
    size: Any = "first",
    trims: list[list[float | None]] | None = None,
    subtitles: str = "none",
    **_: Any,
) -> dict[str, Any]:
    """Plan once (copy, smart or full re-encode), render with the chosen engine, store the output and its captions."""
    inputs = ctx.run_step("probe", _inputs, ctx, video_ids)
    options = {"size": size, "trims": trims, "subtitles": subtitles}
    rendered = ctx.run_step("concatenate", _render, ctx, inputs, engine, options)
    return ctx.run_step("finalize", _finalize, ctx, rendered, title, len(video_ids), engine)


def _inputs(ctx: JobContext, video_ids: list[str]) -> list[dict[str, Any]]:
    """Paths plus the probe stored at upload; ffprobe runs only for a video stored without one."""
    inputs = composition_inputs(owner_id=ctx.owner_id, video_ids=video_ids)
    for i, item in enumerate(inputs):
        if not item["probe"]:
            ctx.checkpoint()
            item["probe"] = probe(item["path"]).to_dict()
        ctx.progress((i + 1) / len(inputs))
    return inputs


def _transcripts(inputs: list[dict[str, Any]]) -> tuple[list[list[Segment]], str | None]:
    """Each clip's cues (a repeated video carries them at its first appearance only) and their language."""
    by_video = {item["video_id"]: item for item in inputs if "segments" in item}
    segments = [transcript_from_json(by_video.get(item["video_id"], {"segments": []})).segments for item in inputs]
    language = next((item.get("language") for item in by_video.values() if item["segments"]), None)
    return segments, language or None


def _render(ctx: JobContext, inputs: list[dict[str, Any]], engine: str, options: dict[str, Any]) -> dict[str, Any]:
    paths = [Path(item["path"]) for item in inputs]
    for item, path in zip(inputs, paths, strict=True):
        if not path.is_file():  # deleted between a first attempt and this one
            raise CompositionInputError(f"The file of input video {item['video_id']} is gone.")
    segments, language = _transcripts(inputs)
    trims = options["trims"] or [[0.0, None]] * len(inputs)
    clips = [
        Clip(ProbeResult.from_dict(item["probe"]), float(start or 0.0), end, has_captions=bool(cues))
        for item, (start, end), cues in zip(inputs, trims, segments, strict=True)
    ]
    size, subtitles, smart = parse_size(options["size"]), options["subtitles"], engine != "moviepy"
    if smart:  # a trimmed clip that matches may still be copied between its first and last keyframe inside the trim
        for i in keyframes_wanted(clips, size=size, subtitles=subtitles):
            ctx.checkpoint()
            clips[i] = replace(clips[i], keyframes=keyframe_times(paths[i]))
    plan = plan_composition(clips, size=size, subtitles=subtitles, smart=smart)
    output = ctx.tmp_dir / OUTPUT_NAME
    rendered: Rendered
    if engine == "moviepy":
        from videos.media.moviepy_render import compose_moviepy  # MoviePy is heavy: load it only when asked

        ctx.label("concatenate:moviepy")
        rendered = compose_moviepy(
            paths, clips, plan, output, clip_segments=segments, on_progress=ctx.progress, cancel=ctx.cancel_event,
            preset=settings.FFMPEG_PRESET,
        )  # fmt: skip
    else:
        rendered = compose(
            paths, clips, plan, output, clip_segments=segments, on_progress=ctx.progress,
            on_plan=lambda p: ctx.label(p.stage), cancel=ctx.cancel_event, preset=settings.FFMPEG_PRESET,
        )  # fmt: skip
    cues = timeline_captions(rendered.plan, segments)
    return {
        "path": str(output),
        "probe": rendered.probe.to_dict(),
        "mode": "moviepy" if engine == "moviepy" else rendered.plan.mode,
        "plan": _summary(rendered.plan, engine),
        "reason": rendered.plan.reason,
        "segments": [
            {"start": c.start, "end": c.end, "text": c.text, "words": words_to_json(c.words, bare=True)} for c in cues
        ],
        "language": language,
    }


def _summary(plan: CompositionPlan, engine: str) -> str:
    if engine == "moviepy":
        return f"moviepy: {plan.encoded} clips rendered ({plan.width}x{plan.height} {plan.fps:g} fps)"
    return plan.summary()


def _finalize(ctx: JobContext, rendered: dict[str, Any], title: str, clip_count: int, engine: str) -> dict[str, Any]:
    plan = rendered.get("plan", "")
    output = composition_existing_output(task_id=ctx.task_id, engine=engine, mode=rendered["mode"], plan=plan)
    if output is None:  # else an earlier attempt stored it, then died before recording the step
        path = Path(rendered["path"])
        if not path.is_file():
            raise CompositionInputError("The composed file is gone from the task's scratch space; retry the task.")
        output = composition_attach_output(
            task_id=ctx.task_id,
            owner_id=ctx.owner_id,
            path=path,
            probe=ProbeResult.from_dict(rendered["probe"]),
            title=title,
            clip_count=clip_count,
            engine=engine,
            mode=rendered["mode"],
            plan=plan,
        )
    if rendered.get("segments"):
        segments = transcript_from_json({"segments": rendered["segments"]}).segments
        composition_attach_captions(video_id=output["video_id"], segments=segments, language=rendered.get("language"))
    return output
