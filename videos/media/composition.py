"""Concatenate clips with ffmpeg: stream copy when they all match, else one normalising re-encode."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from videos.media.ffmpeg import MediaError, ProbeResult, default_preset, probe, run_ffmpeg
from videos.media.verify import DecodeError, check_decodes

# Codecs the mp4 muxer takes as they are; anything else is re-encoded even when all clips agree.
MP4_VIDEO_CODECS = frozenset({"h264", "hevc", "mpeg4", "av1"})
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "opus"})
AUDIO_RATE = 48000
DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class CompositionPlan:
    """How compose() will join the clips and why."""

    mode: str  # "copy" | "reencode"
    width: int
    height: int
    fps: float
    reason: str
    expected_duration: float


def _video_key(clip: ProbeResult) -> tuple[object, ...]:
    return (clip.video_codec, clip.width, clip.height, clip.fps, clip.time_base, clip.pix_fmt)


def _audio_key(clip: ProbeResult) -> tuple[object, ...]:
    if not clip.has_audio:
        return ("no audio",)
    return (clip.audio_codec, clip.sample_rate, clip.channel_layout or clip.channels)


def _describe(clip: ProbeResult) -> str:
    audio = f"{clip.audio_codec} {clip.sample_rate} Hz {clip.channel_layout}" if clip.has_audio else "no audio"
    return f"{clip.video_codec} {clip.width}x{clip.height} {clip.fps:g} fps {clip.pix_fmt} tb {clip.time_base}, {audio}"


def _even(value: int) -> int:
    """libx264 with yuv420p needs even dimensions."""
    return max(2, value - value % 2)


def plan_composition(clips: list[ProbeResult], *, size: tuple[int, int] | None = None) -> CompositionPlan:
    """Copy when every clip matches the first (video and audio parameters), else re-encode to its size or `size`."""
    if not clips:
        raise MediaError("Nothing to compose: no clips.")
    for number, clip in enumerate(clips, 1):
        if not clip.has_video or not clip.width or not clip.height:
            raise MediaError(f"Clip {number} has no video stream.")
    first = clips[0]
    expected = round(sum(clip.duration_s for clip in clips), 6)
    fps = first.fps or DEFAULT_FPS
    reason = _mismatch(clips, size)
    if reason is None:
        return CompositionPlan(
            "copy", first.width or 0, first.height or 0, fps, f"all clips match: {_describe(first)}", expected
        )
    width, height = size or (first.width or 0, first.height or 0)
    return CompositionPlan("reencode", _even(width), _even(height), fps, reason, expected)


def _mismatch(clips: list[ProbeResult], size: tuple[int, int] | None) -> str | None:
    """Why the clips cannot be stream-copied together, or None when they can."""
    first = clips[0]
    if size is not None and tuple(size) != (first.width, first.height):
        return f"a size of {size[0]}x{size[1]} was requested (clips are {first.width}x{first.height})"
    if first.video_codec not in MP4_VIDEO_CODECS:
        return f"video codec {first.video_codec} cannot be copied into mp4"
    if first.has_audio and first.audio_codec not in MP4_AUDIO_CODECS:
        return f"audio codec {first.audio_codec} cannot be copied into mp4"
    for number, clip in enumerate(clips[1:], 2):
        if _video_key(clip) != _video_key(first) or _audio_key(clip) != _audio_key(first):
            return f"clip {number} ({_describe(clip)}) differs from clip 1 ({_describe(first)})"
    return None


def compose(
    paths: list[Path],
    clips: list[ProbeResult],
    output: Path,
    *,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    size: tuple[int, int] | None = None,
    preset: str | None = None,
) -> ProbeResult:
    """Join `paths` (described by `clips`) into `output` as the plan says; verified by probe, no partial file left."""
    if len(paths) != len(clips):
        raise MediaError(f"{len(paths)} paths but {len(clips)} probe results.")
    plan = plan_composition(clips, size=size)
    for path in paths:  # the concat demuxer would skip a missing file and still exit 0
        if not Path(path).is_file():
            raise MediaError(f"Input file missing: {Path(path).name}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # This run's own path: a leftover writer of an earlier attempt can never touch what we verify and keep.
    part = output.with_name(f".{output.stem}.{uuid.uuid4().hex[:12]}.part{output.suffix}")
    list_file = part.with_suffix(".concat.txt")
    graph_file = part.with_suffix(".filter.txt")
    try:
        if plan.mode == "copy":
            list_file.write_text(concat_list(paths), encoding="utf-8")
            args = copy_args(list_file, part, has_audio=clips[0].has_audio)
        else:
            # By file: the graph grows with the clips, and argv has a hard size limit ("Argument list too long").
            graph_file.write_text(filter_graph(clips, plan), encoding="utf-8")
            args = reencode_args(paths, graph_file, part, preset=preset or default_preset())
        run_ffmpeg(args, expected_duration=plan.expected_duration, output=part, on_progress=on_progress, cancel=cancel)
        result = verify_output(part, plan, has_audio=clips[0].has_audio or plan.mode == "reencode", cancel=cancel)
        os.replace(part, output)  # atomic: `output` is either absent or a verified file
        return result
    finally:
        part.unlink(missing_ok=True)
        list_file.unlink(missing_ok=True)
        graph_file.unlink(missing_ok=True)


def concat_list(paths: list[Path]) -> str:
    """A concat demuxer list; quotes escaped the way the demuxer reads them."""
    lines = []
    for path in paths:
        quoted = str(Path(path).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'\n")
    return "".join(lines)


def copy_args(list_file: Path, output: Path, *, has_audio: bool) -> list[str]:
    """Concat demuxer, streams copied as they are (AAC priming gives harmless non-monotonous DTS warnings)."""
    args = ["-f", "concat", "-safe", "0", "-i", str(list_file), "-map", "0:v:0"]
    if has_audio:
        args += ["-map", "0:a:0"]
    return [*args, "-c", "copy", "-movflags", "+faststart", str(output)]


def filter_graph(clips: list[ProbeResult], plan: CompositionPlan) -> str:
    """One concat filter graph: every input scaled, padded, resampled to the plan; silence where audio is missing."""
    w, h = plan.width, plan.height
    rate = Fraction(plan.fps).limit_denominator(1001)
    parts, pads = [], []
    for i, clip in enumerate(clips):
        parts.append(
            f"[{i}:v:0]scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={rate.numerator}/{rate.denominator},format=yuv420p[v{i}]"
        )
        if clip.has_audio:
            source = f"[{i}:a:0]aresample={AUDIO_RATE}"
        else:
            source = f"anullsrc=r={AUDIO_RATE}:cl=stereo,atrim=duration={clip.duration_s:.6f}"
        parts.append(f"{source},aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo[a{i}]")
        pads.append(f"[v{i}][a{i}]")
    parts.append(f"{''.join(pads)}concat=n={len(clips)}:v=1:a=1[v][a]")
    return ";".join(parts)


def reencode_args(paths: list[Path], graph_file: Path, output: Path, *, preset: str) -> list[str]:
    """One ffmpeg run: all inputs through the filter_graph() in `graph_file`, libx264 + AAC, moov atom first."""
    args: list[str] = []
    for path in paths:
        args += ["-i", str(path)]
    args += ["-filter_complex_script", str(graph_file), "-map", "[v]", "-map", "[a]"]
    args += ["-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE), "-ac", "2"]
    return [*args, "-movflags", "+faststart", str(output)]


def duration_tolerance(plan: CompositionPlan) -> float:
    """Copy is exact to a frame or two; re-encoding at a new frame rate may round each clip by a frame."""
    per_clip = 1.0 / (plan.fps or DEFAULT_FPS)
    return 0.25 + per_clip * 4 + 0.01 * plan.expected_duration


def verify_output(
    output: Path, plan: CompositionPlan, *, has_audio: bool | None = None, cancel: threading.Event | None = None
) -> ProbeResult:
    """The result has the planned streams and length and decodes cleanly; anything else is an error, not a success."""
    result = probe(output)
    if not result.has_video or (has_audio is not None and result.has_audio != has_audio):
        wanted = "video and audio" if has_audio else "video"
        got = " and ".join(k for k, v in (("video", result.has_video), ("audio", result.has_audio)) if v) or "nothing"
        raise MediaError(f"The composed file has {got}, expected {wanted} ({plan.mode}).")
    if abs(result.duration_s - plan.expected_duration) > duration_tolerance(plan):
        raise MediaError(
            f"The composed file lasts {result.duration_s:.2f} s, expected {plan.expected_duration:.2f} s ({plan.mode})."
        )
    try:
        check_decodes(output, result.duration_s, cancel=cancel)
    except DecodeError as exc:
        raise MediaError(f"The composed file does not decode cleanly: {exc}: {exc.lines[0]}") from exc
    return result
