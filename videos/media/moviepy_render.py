"""The MoviePy 2.x engine: the same composition rendered frame by frame in Python (slower, but scriptable)."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from videos.engines.subtitles import to_srt
from videos.engines.transcription.base import Segment
from videos.media.captions import caption_font, cut
from videos.media.composition import Rendered, mux_subtitles_args, timeline_captions, verify_output
from videos.media.ffmpeg import MediaCancelled, MediaError, default_preset, ffmpeg_binary, run_ffmpeg
from videos.media.plan import Clip, CompositionPlan

# MoviePy reads its ffmpeg from the environment once, at import: point it at the system ffmpeg from settings
# (not the binary imageio-ffmpeg bundles), so both engines run the same ffmpeg.
_FFMPEG = shutil.which(ffmpeg_binary()) or ffmpeg_binary()
os.environ.setdefault("FFMPEG_BINARY", _FFMPEG)
os.environ.setdefault("IMAGEIO_FFMPEG_EXE", _FFMPEG)

import proglog  # noqa: E402
from moviepy import CompositeVideoClip, TextClip, VideoClip, VideoFileClip, concatenate_videoclips  # noqa: E402
from moviepy.audio.io import ffmpeg_audiowriter, readers  # noqa: E402
from moviepy.video.io import ffmpeg_reader, ffmpeg_writer  # noqa: E402

from videos.media import process  # noqa: E402

# MoviePy's ffmpeg children die with us and carry the task's marker, like every other child.
process.route_library_children(ffmpeg_reader, ffmpeg_writer, readers, ffmpeg_audiowriter)

AUDIO_SHARE = 0.1  # MoviePy writes the whole soundtrack first (fast), then the frames
AUDIO_RATE = 48000
CAPTION_HEIGHT_SHARE = 0.055  # burned captions' font size as a share of the frame height (as libass draws them)


class TaskLogger(proglog.ProgressBarLogger):
    """Feeds MoviePy's progress bars to `on_progress` and stops the render when `cancel` is set."""

    def __init__(
        self, on_progress: Callable[[float], None] | None = None, cancel: threading.Event | None = None
    ) -> None:
        super().__init__()
        self.on_progress = on_progress
        self.cancel = cancel
        self.fraction = 0.0

    def callback(self, **changes: Any) -> None:
        self._check_cancel()

    def bars_callback(self, bar: str, attr: str, value: Any, old_value: Any = None) -> None:
        self._check_cancel()
        total = self.bars[bar].get("total")
        if attr != "index" or not total:
            return
        done = min(max((value + 1) / total, 0.0), 1.0)
        if bar == "chunk":  # the audio pass
            fraction = AUDIO_SHARE * done
        else:  # the frames ("t")
            fraction = AUDIO_SHARE + (1 - AUDIO_SHARE) * done
        self.report(min(fraction, 0.999))

    def report(self, fraction: float) -> None:
        """Forward a fraction only when it moves forward, so progress never goes back between passes."""
        if fraction > self.fraction:
            self.fraction = fraction
            if self.on_progress is not None:
                self.on_progress(fraction)

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise MediaCancelled("Cancelled: the MoviePy render was stopped.")


def _fit(clip: VideoClip, width: int, height: int) -> VideoClip:
    """Scale to fit inside width x height keeping the aspect ratio, then centre on black."""
    if tuple(clip.size) == (width, height):
        return clip
    scale = min(width / clip.size[0], height / clip.size[1])
    resized = clip.resized(new_size=(max(2, round(clip.size[0] * scale)), max(2, round(clip.size[1] * scale))))
    framed = CompositeVideoClip([resized.with_position("center")], size=(width, height), bg_color=(0, 0, 0))
    return framed.with_audio(clip.audio)


def _burn(clip: VideoClip, cues: list[Segment], width: int, height: int) -> VideoClip:
    """The cues drawn at the bottom centre, white with a black outline, in the font the ffmpeg engine uses."""
    if not cues:
        return clip
    size = max(12, round(height * CAPTION_HEIGHT_SHARE))
    texts = []
    for cue in cues:
        text = TextClip(
            font=caption_font(), text=cue.text, font_size=size, color="white", stroke_color="black",
            stroke_width=max(1, size // 12), method="label", text_align="center", margin=(size // 2, size // 4),
        )  # fmt: skip
        bottom = height - text.h - round(height * 0.03)  # a small margin above the frame's edge, as libass leaves
        texts.append(
            text.with_start(cue.start).with_duration(max(cue.end - cue.start, 0.04)).with_position(("center", bottom))
        )
    return CompositeVideoClip([clip, *texts], size=(width, height)).with_audio(clip.audio).with_duration(clip.duration)


def _span(source: VideoFileClip, clip: Clip) -> VideoClip:
    return source.subclipped(clip.start, clip.stop) if clip.trimmed else source


def compose_moviepy(
    paths: list[Path],
    clips: list[Clip],
    plan: CompositionPlan,
    output: Path,
    *,
    clip_segments: Sequence[Sequence[Segment]] = (),
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    preset: str | None = None,
) -> Rendered:
    """Render `plan` (trims, size, captions) with MoviePy; libx264 + AAC; verified; no partial file left."""
    if not paths:
        raise MediaError("Nothing to compose: no clips.")
    final_output = Path(output)
    final_output.parent.mkdir(parents=True, exist_ok=True)
    stem = f".{final_output.stem}.{uuid.uuid4().hex[:12]}"
    output = final_output.with_name(f"{stem}.part{final_output.suffix}")
    muxed = final_output.with_name(f"{stem}.subs{final_output.suffix}")
    srt = final_output.with_name(f"{stem}.srt")
    logger = TaskLogger(on_progress, cancel)
    sources: list[VideoFileClip] = []
    final = None
    width, height = plan.width, plan.height
    try:
        for path in paths:
            logger._check_cancel()
            sources.append(VideoFileClip(str(path)))
        pieces = []
        for number, (source, clip) in enumerate(zip(sources, clips, strict=True)):
            piece = _fit(_span(source, clip), width, height)
            if plan.subtitles == "burn" and number < len(clip_segments):
                piece = _burn(piece, cut(clip_segments[number], clip.start, clip.stop), width, height)
            pieces.append(piece)
        final = concatenate_videoclips(pieces, method="chain")
        if final.audio is not None:
            final = final.with_audio(final.audio.with_duration(final.duration))  # silence after a mute last clip
        final.write_videofile(
            str(output),
            fps=plan.fps,
            codec="libx264",
            preset=preset or default_preset(),
            audio_codec="aac",
            audio_fps=AUDIO_RATE,
            temp_audiofile_path=str(output.parent),
            pixel_format="yuv420p",
            ffmpeg_params=["-movflags", "+faststart"],
            logger=logger,
        )
        cues = timeline_captions(plan, clip_segments) if plan.subtitles == "soft" else []
        if cues:
            srt.write_text(to_srt(cues), encoding="utf-8")
            run_ffmpeg(mux_subtitles_args(output, srt, muxed), expected_duration=None, output=muxed, cancel=cancel)
            os.replace(muxed, output)
        expected = replace(plan, has_audio=any(c.probe.has_audio for c in clips))
        result = verify_output(output, expected, cancel=cancel, subtitles=bool(cues))
        os.replace(output, final_output)
    except BaseException as exc:
        output.unlink(missing_ok=True)
        if isinstance(exc, MediaError | KeyboardInterrupt):
            raise
        if cancel is not None and cancel.is_set():
            raise MediaCancelled("Cancelled: the MoviePy render was stopped.") from exc
        raise MediaError(f"MoviePy failed: {exc}") from exc
    finally:
        muxed.unlink(missing_ok=True)
        srt.unlink(missing_ok=True)
        for item in [final, *sources]:
            if item is not None:
                item.close()
        for leftover in output.parent.glob(f"{output.stem}TEMP_MPY_*"):
            leftover.unlink(missing_ok=True)
    logger.report(1.0)
    return Rendered(result, plan)
