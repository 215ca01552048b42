"""Audio for speech recognition and a poster frame for the video list, both cut by ffmpeg."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from videos.media.ffmpeg import MediaError, run_ffmpeg
from videos.media.probe import ProbeResult, probe

SPEECH_RATE = 16000


def extract_audio(
    src: Path,
    dst: Path,
    *,
    duration_s: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """16 kHz mono s16 WAV of the first audio track, the input speech engines expect."""
    src, dst = Path(src), Path(dst)
    if duration_s is None:
        info = probe(src)
        if not info.has_audio:
            raise MediaError("The video has no audio track to transcribe.")
        duration_s = info.duration_s
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dst)
    args = ["-i", str(src), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SPEECH_RATE)]
    args += ["-c:a", "pcm_s16le", "-f", "wav", str(part)]
    try:
        run_ffmpeg(args, expected_duration=duration_s, output=part, on_progress=on_progress, cancel=cancel)
        os.replace(part, dst)  # a WAV in place is a whole one, whatever happened to earlier attempts
    except MediaError as exc:
        if "matches no streams" in str(exc):
            raise MediaError("The video has no audio track to transcribe.") from exc
        raise
    finally:
        part.unlink(missing_ok=True)
    return dst


def _part_path(dst: Path) -> Path:
    """A sibling path for this run alone; moved onto `dst` only once ffmpeg finished cleanly."""
    return dst.with_name(f".{dst.stem}.{uuid.uuid4().hex[:12]}.part{dst.suffix}")


def thumbnail(
    src: Path, dst: Path, *, at_seconds: float | None = None, width: int = 480, info: ProbeResult | None = None
) -> Path:
    """A JPEG poster frame `width` wide (aspect kept), by default a tenth of the way in (past black intros).

    `info` is the file's probe when the caller has it (an upload just probed): one ffmpeg seek, no ffprobe.
    """
    src, dst = Path(src), Path(dst)
    info = info or probe(src)
    if not info.has_video:
        raise MediaError("The file has no video stream to take a thumbnail from.")
    last = max(info.duration_s - 0.1, 0.0)  # a seek past the last frame gives an empty image
    at = min(max(at_seconds if at_seconds is not None else info.duration_s / 10, 0.0), last)
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dst)
    args = ["-ss", f"{at:.3f}", "-i", str(src), "-map", "0:v:0", "-frames:v", "1"]
    args += ["-vf", f"scale={width}:-2", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", "-update", "1", str(part)]
    try:
        run_ffmpeg(args, expected_duration=None, output=part)
        if not part.is_file() or part.stat().st_size == 0:
            raise MediaError(f"ffmpeg wrote no frame at {at:.2f} s.")
        os.replace(part, dst)
    finally:
        part.unlink(missing_ok=True)
    return dst
