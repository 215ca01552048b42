"""The MoviePy 2.x engine: the same composition rendered frame by frame in Python (slower, but scriptable)."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from videos.media.ffmpeg import MediaCancelled, MediaError, ProbeResult, default_preset, ffmpeg_binary, probe
from videos.media.verify import DecodeError, check_decodes

# MoviePy reads its ffmpeg from the environment once, at import: point it at the system ffmpeg from settings
# (not the binary imageio-ffmpeg bundles), so both engines run the same ffmpeg.
_FFMPEG = shutil.which(ffmpeg_binary()) or ffmpeg_binary()
os.environ.setdefault("FFMPEG_BINARY", _FFMPEG)
os.environ.setdefault("IMAGEIO_FFMPEG_EXE", _FFMPEG)

import proglog  # noqa: E402
from moviepy import CompositeVideoClip, VideoClip, VideoFileClip, concatenate_videoclips  # noqa: E402
from moviepy.audio.io import ffmpeg_audiowriter, readers  # noqa: E402
from moviepy.video.io import ffmpeg_reader, ffmpeg_writer  # noqa: E402

from videos.media import process  # noqa: E402

# MoviePy's ffmpeg children die with us and carry the task's marker, like every other child.
process.route_library_children(ffmpeg_reader, ffmpeg_writer, readers, ffmpeg_audiowriter)

AUDIO_SHARE = 0.1  # MoviePy writes the whole soundtrack first (fast), then the frames
AUDIO_RATE = 48000
DURATION_TOLERANCE_S = 0.5


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


def compose_moviepy(
    paths: list[Path],
    output: Path,
    *,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    size: tuple[int, int] | None = None,
    preset: str | None = None,
) -> ProbeResult:
    """Concatenate with MoviePy to the first clip's size (or `size`); libx264 + AAC; no partial file left."""
    if not paths:
        raise MediaError("Nothing to compose: no clips.")
    final_output = Path(output)
    final_output.parent.mkdir(parents=True, exist_ok=True)
    output = final_output.with_name(f".{final_output.stem}.{uuid.uuid4().hex[:12]}.part{final_output.suffix}")
    logger = TaskLogger(on_progress, cancel)
    sources: list[VideoFileClip] = []
    final = None
    try:
        for path in paths:
            logger._check_cancel()
            sources.append(VideoFileClip(str(path)))
        first = sources[0]
        width, height = size or (int(first.size[0]), int(first.size[1]))
        width, height = width - width % 2, height - height % 2  # yuv420p
        final = concatenate_videoclips([_fit(clip, width, height) for clip in sources], method="chain")
        if final.audio is not None:
            final = final.with_audio(final.audio.with_duration(final.duration))  # silence after a mute last clip
        final.write_videofile(
            str(output),
            fps=first.fps,
            codec="libx264",
            preset=preset or default_preset(),
            audio_codec="aac",
            audio_fps=AUDIO_RATE,
            temp_audiofile_path=str(output.parent),
            pixel_format="yuv420p",
            ffmpeg_params=["-movflags", "+faststart"],
            logger=logger,
        )
        result = probe(output)
        expected = sum(clip.duration for clip in sources)
        if abs(result.duration_s - expected) > DURATION_TOLERANCE_S:
            raise MediaError(f"The MoviePy render lasts {result.duration_s:.2f} s, expected {expected:.2f} s.")
        try:
            check_decodes(output, result.duration_s, cancel=cancel)
        except DecodeError as exc:
            raise MediaError(f"The MoviePy render does not decode cleanly: {exc}: {exc.lines[0]}") from exc
        os.replace(output, final_output)
    except BaseException as exc:
        output.unlink(missing_ok=True)
        if isinstance(exc, MediaError | KeyboardInterrupt):
            raise
        if cancel is not None and cancel.is_set():
            raise MediaCancelled("Cancelled: the MoviePy render was stopped.") from exc
        raise MediaError(f"MoviePy failed: {exc}") from exc
    finally:
        for clip in [final, *sources]:
            if clip is not None:
                clip.close()
        for leftover in output.parent.glob(f"{output.stem}TEMP_MPY_*"):
            leftover.unlink(missing_ok=True)
    logger.report(1.0)
    return result
