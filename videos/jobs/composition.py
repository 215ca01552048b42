"""The `composition` job: join two or more of a user's videos into a new video (ffmpeg or MoviePy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from videos.media.composition import compose, plan_composition
from videos.media.ffmpeg import ProbeResult, probe
from videos.services.compositions import (
    CompositionInputError,
    composition_attach_output,
    composition_existing_output,
    composition_inputs,
)
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
    size: list[int] | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Concatenate the videos (stream copy when they match, else one normalising re-encode) into a new Video."""
    inputs = ctx.run_step("probe", _inputs, ctx, video_ids)
    rendered = ctx.run_step("concatenate", _concatenate, ctx, inputs, engine, tuple(size) if size else None)
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


def _concatenate(
    ctx: JobContext, inputs: list[dict[str, Any]], engine: str, size: tuple[int, int] | None
) -> dict[str, Any]:
    paths = [Path(item["path"]) for item in inputs]
    for item, path in zip(inputs, paths, strict=True):
        if not path.is_file():  # deleted between a first attempt and this one
            raise CompositionInputError(f"The file of input video {item['video_id']} is gone.")
    clips = [ProbeResult.from_dict(item["probe"]) for item in inputs]
    plan = plan_composition(clips, size=size)
    output = ctx.tmp_dir / OUTPUT_NAME
    if engine == "moviepy":
        from videos.media.moviepy_render import compose_moviepy  # MoviePy is heavy: load it only when asked

        result = compose_moviepy(
            paths, output, on_progress=ctx.progress, cancel=ctx.cancel_event, size=size, preset=settings.FFMPEG_PRESET
        )
        mode = "moviepy"
    else:
        result = compose(
            paths,
            clips,
            output,
            on_progress=ctx.progress,
            cancel=ctx.cancel_event,
            size=size,
            preset=settings.FFMPEG_PRESET,
        )
        mode = plan.mode
    return {"path": str(output), "probe": result.to_dict(), "mode": mode, "reason": plan.reason}


def _finalize(ctx: JobContext, rendered: dict[str, Any], title: str, clip_count: int, engine: str) -> dict[str, Any]:
    stored = composition_existing_output(task_id=ctx.task_id, engine=engine, mode=rendered["mode"])
    if stored is not None:  # an earlier attempt stored it, then died before recording the step
        return stored
    path = Path(rendered["path"])
    if not path.is_file():
        raise CompositionInputError("The composed file is gone from the task's scratch space; retry the task.")
    return composition_attach_output(
        task_id=ctx.task_id,
        owner_id=ctx.owner_id,
        path=path,
        probe=ProbeResult.from_dict(rendered["probe"]),
        title=title,
        clip_count=clip_count,
        engine=engine,
        mode=rendered["mode"],
    )
