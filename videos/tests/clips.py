"""Test media made at test time by ffmpeg's lavfi sources (and espeak-ng), so no binary fixtures live in git."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from videos.media.ffmpeg import ffmpeg_binary

_cache_dir: Path | None = None
_cache: dict[str, Path] = {}
_lock = threading.Lock()


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    audio: bool = True,
    vcodec: str = "libx264",
    tone_hz: int = 440,
    gop: int | None = None,
) -> Path:
    """An mp4 of testsrc2 (+ a sine tone): libx264 veryfast yuv420p + AAC 48 kHz stereo unless told otherwise;
    `gop`: a keyframe every that many frames (libx264's default is 250)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    cmd += ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=48000:duration={seconds}"]
    cmd += ["-c:v", vcodec, "-pix_fmt", "yuv420p"]
    if vcodec == "libx264":
        cmd += ["-preset", "veryfast"]
    if gop:
        cmd += ["-g", str(gop), "-keyint_min", str(gop)]
    if audio:
        cmd += ["-c:a", "aac", "-ar", "48000", "-ac", "2", "-b:a", "96k"]
    cmd += ["-t", str(seconds), "-movflags", "+faststart", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return path


def cached_clip(**kwargs: Any) -> Path:
    """make_clip(**kwargs), generated once per test session into a temp cache dir keyed by the kwargs."""
    global _cache_dir
    key = hashlib.sha1(repr(sorted(kwargs.items())).encode()).hexdigest()[:16]
    with _lock:
        if key not in _cache or not _cache[key].is_file():
            if _cache_dir is None:
                _cache_dir = Path(tempfile.mkdtemp(prefix="montage-clips-"))
                atexit.register(shutil.rmtree, _cache_dir, True)
            _cache[key] = make_clip(_cache_dir / f"clip-{key}.mp4", **kwargs)
        return _cache[key]


def make_speech_wav(path: Path, text: str) -> Path:
    """Spoken English from espeak-ng (a WAV at 22.05 kHz mono), for transcription tests."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True, timeout=120)
    return path
