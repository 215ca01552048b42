"""ffprobe: what a media file holds (streams, duration, codecs), in the shape Montage stores and compares."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from videos.media import process
from videos.media.ffmpeg import MediaError, ffprobe_binary, tail_text

PROBE_TIMEOUT_SECONDS = 60.0


class UnsupportedMediaError(MediaError):
    """The file is not a decodable video or audio file."""


@dataclass(frozen=True)
class ProbeResult:
    """What ffprobe says about a media file, in the shape the rest of Montage stores and compares."""

    duration_s: float
    size_bytes: int
    format_name: str
    has_video: bool
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    pix_fmt: str | None
    time_base: str | None
    has_audio: bool
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    channel_layout: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, stored in Video.probe at upload."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        """Rebuild from to_dict() output without probing again; unknown keys are ignored."""
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        return cls(**values)


def probe(path: str | Path) -> ProbeResult:
    """Probe with ffprobe; UnsupportedMediaError for anything without a decodable audio or video stream."""
    path = Path(path)
    if not path.is_file():
        raise UnsupportedMediaError(f"No such file: {path.name}")
    cmd = [ffprobe_binary(), "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]
    try:
        done = process.run(cmd, timeout=PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise UnsupportedMediaError(f"ffprobe took longer than {PROBE_TIMEOUT_SECONDS:.0f} s on {path.name}") from None
    if done.returncode != 0:
        # No server paths or ffmpeg's "[mov,mp4 @ 0x55d0...]" memory addresses in what users read.
        reason = re.sub(r" @ 0x[0-9a-f]+", "", tail_text(done.stderr).replace(str(path), path.name))
        raise UnsupportedMediaError(f"Not a media file ffprobe can read: {reason}")
    try:
        info = json.loads(done.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        raise UnsupportedMediaError("ffprobe returned unreadable output") from None
    return _probe_result(info, path)


def _probe_result(info: dict[str, Any], path: Path) -> ProbeResult:
    streams = info.get("streams") or []
    fmt = info.get("format") or {}
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise UnsupportedMediaError("The file has no audio or video stream.")
    duration = _float(fmt.get("duration")) or max(
        (_float(s.get("duration")) or 0.0 for s in (video, audio) if s), default=0.0
    )
    if not duration or duration <= 0:
        raise UnsupportedMediaError("The file has no duration (a still image or an empty stream?).")
    size = _int(fmt.get("size")) or path.stat().st_size
    return ProbeResult(
        duration_s=round(duration, 6),
        size_bytes=size,
        format_name=str(fmt.get("format_name") or ""),
        has_video=video is not None,
        width=_int(video.get("width")) if video else None,
        height=_int(video.get("height")) if video else None,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")) if video else None,
        video_codec=video.get("codec_name") if video else None,
        pix_fmt=video.get("pix_fmt") if video else None,
        time_base=video.get("time_base") if video else None,
        has_audio=audio is not None,
        audio_codec=audio.get("codec_name") if audio else None,
        sample_rate=_int(audio.get("sample_rate")) if audio else None,
        channels=_int(audio.get("channels")) if audio else None,
        channel_layout=audio.get("channel_layout") if audio else None,
    )


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rate(value: Any) -> float | None:
    """'30000/1001' -> 29.97; '0/0' and garbage -> None."""
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return round(float(rate), 3) if rate > 0 else None
