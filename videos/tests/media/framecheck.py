"""Looking inside composed files for tests: plan-and-render in one call, frames as small grey images,
flash and beep times, packet hashes, subtitle tracks."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from videos.engines.transcription.base import Segment
from videos.media.composition import Rendered, compose, keyframe_times
from videos.media.ffmpeg import ffmpeg_binary
from videos.media.plan import Clip, keyframes_wanted, plan_composition
from videos.media.probe import probe

GREY_W, GREY_H = 64, 48


def clips_of(paths: Sequence[Path], trims: Sequence[tuple[float, float | None]] | None = None, **kw: Any) -> list[Clip]:
    trims = trims or [(0.0, None)] * len(paths)
    return [Clip(probe(p), start, end, **kw) for p, (start, end) in zip(paths, trims, strict=True)]


def render(
    paths: Sequence[Path],
    output: Path,
    *,
    trims: Sequence[tuple[float, float | None]] | None = None,
    size: Any = "first",
    subtitles: str = "none",
    segments: Sequence[Sequence[Segment]] = (),
    **kw: Any,
) -> Rendered:
    """Plan (as the job does) and render with the ffmpeg engine."""
    clips = clips_of(paths, trims)
    clips = [
        Clip(c.probe, c.start, c.end, has_captions=bool(i < len(segments) and segments[i])) for i, c in enumerate(clips)
    ]
    for i in keyframes_wanted(clips, size=size, subtitles=subtitles):  # as the job does
        clips[i] = replace(clips[i], keyframes=keyframe_times(paths[i]))
    plan = plan_composition(clips, size=size, subtitles=subtitles)
    return compose(list(paths), clips, plan, output, clip_segments=segments, **{"preset": "ultrafast", **kw})


def _ffmpeg(*args: str) -> bytes:
    done = subprocess.run([ffmpeg_binary(), "-v", "error", "-nostdin", *args], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def grey_frames(path: Path, crop: str | None = None) -> list[bytes]:
    """Every frame as a 64x48 grey image (optionally of a crop first, e.g. 'iw:ih/4:0:ih*3/4')."""
    chain = (f"crop={crop}," if crop else "") + f"scale={GREY_W}:{GREY_H},format=gray"
    raw = _ffmpeg("-i", str(path), "-map", "0:v:0", "-vf", chain, "-fps_mode", "passthrough", "-f", "rawvideo", "-")
    size = GREY_W * GREY_H
    return [raw[i : i + size] for i in range(0, len(raw) - size + 1, size)]


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two grey images (0 identical, 255 opposite)."""
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def mean(frame: bytes) -> float:
    return sum(frame) / len(frame)


def audio_samples(path: Path, rate: int = 48000) -> list[int]:
    """The first audio track, mono 16-bit, as sample values."""
    raw = _ffmpeg("-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-")
    return [int.from_bytes(raw[i : i + 2], "little", signed=True) for i in range(0, len(raw) - 1, 2)]


def onsets(values: Sequence[float], threshold: float, rate: float, gap_s: float = 0.2) -> list[float]:
    """Times (s) where `values` first rise above `threshold` after at least `gap_s` below it."""
    found: list[float] = []
    last_on = -1e9
    for i, value in enumerate(values):
        if abs(value) > threshold:
            if i / rate - last_on > gap_s:
                found.append(i / rate)
            last_on = i / rate
    return found


def packets(path: Path, *, start: float | None = None, end: float | None = None) -> list[tuple[str, str]]:
    """(flags, MD5) of the video packets whose pts lies in [start, end), in decode order."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags,data_hash",
         "-show_data_hash", "MD5", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found = []
    for line in done.stdout.splitlines():
        pts, flags, digest = line.split(",")[:3]
        t = float(pts)
        if (start is None or t >= start - 1e-6) and (end is None or t < end - 1e-6):
            found.append((flags, digest))
    return found


def subtitle_track(path: Path) -> str:
    """The file's first subtitle track as SRT text."""
    return _ffmpeg("-i", str(path), "-map", "0:s:0", "-f", "srt", "-").decode()


def decode_clean(path: Path) -> bool:
    done = subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True)
    return done.returncode == 0 and not done.stderr.strip()


def make_flash_clip(path: Path, *, seconds: float, flash_at: float, width: int = 320, height: int = 240,
                    fps: int = 25) -> Path:  # fmt: skip
    """Black picture with one white frame at `flash_at` and a 1 kHz beep starting at the same instant."""
    frame = 1.0 / fps
    on = f"between(t,{flash_at - frame / 4},{flash_at + frame / 2})"
    video = f"color=c=black:s={width}x{height}:r={fps}:d={seconds},drawbox=w=iw:h=ih:color=white:t=fill:enable='{on}'"
    beep = f"between(t,{flash_at},{flash_at + 0.06})"
    audio = f"sine=f=1000:sample_rate=48000:d={seconds},volume=volume=0:enable='not({beep})'"
    subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "48000", "-ac", "2",
         "-t", str(seconds), str(path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return path


def _ffprobe(path: Path, stream: str, entries: str) -> list[str]:
    """One ffprobe query: `entries` (e.g. stream=duration) of `stream` (e.g. v:0), one value a line."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", entries, "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def video_stream_duration(path: Path) -> float:
    """ffprobe's duration of the first video stream (the picture alone, not the container)."""
    return float(_ffprobe(path, "v:0", "stream=duration")[0])


def frame_times(path: Path) -> list[float]:
    """Presentation times of the video frames, in order (a join may start the picture a hair after 0)."""
    return sorted(float(v) for v in _ffprobe(path, "v:0", "packet=pts_time"))


def audio_start(path: Path) -> float:
    """When the sound starts (an encoder's priming is cut by the file's edit list)."""
    return float(_ffprobe(path, "a:0", "stream=start_time")[0])
