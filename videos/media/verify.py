"""Decode checks: is every frame of a file (or of bounded samples, always including its end) readable?

ffprobe only reads headers: a file whose index is at the front but whose data stops early (a truncated
`+faststart` MP4) or whose packets two writers interleaved probes with its full duration. Decoding
is what tells. ffmpeg exits 0 on such files but writes an error line per damaged packet, so the test
is "no error lines".
"""

from __future__ import annotations

import threading
from pathlib import Path

from videos.media import process
from videos.media.ffmpeg import STDERR_TAIL_LINES, MediaError, ffmpeg_binary

WHOLE_FILE_BELOW_S = 120.0  # shorter files are decoded whole (a 2-minute 640x360 file: about a second)
SAMPLE_S = 4.0  # each sample of a longer file
SAMPLES = 3  # start, middle and end of a longer file
DECODE_TIMEOUT_S = 300.0


class DecodeError(MediaError):
    """The file does not decode cleanly; `lines` holds ffmpeg's first error lines."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def decode_errors(path: Path, *, start: float | None = None, duration: float | None = None) -> list[str]:
    """ffmpeg's error lines when decoding `path` (or `duration` s from `start`) to nothing; [] when clean."""
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error"]
    if start:
        cmd += ["-ss", f"{start:.3f}"]
    cmd += ["-i", str(path)]
    if duration:
        cmd += ["-t", f"{duration:.3f}"]
    cmd += ["-map", "0:v?", "-map", "0:a?", "-f", "null", "-"]
    done = process.run(cmd, timeout=DECODE_TIMEOUT_S)
    lines = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if done.returncode != 0 and not lines:
        lines = [f"ffmpeg exited with code {done.returncode}"]
    return lines


def sample_starts(duration_s: float, *, whole_below: float = WHOLE_FILE_BELOW_S) -> list[float | None]:
    """Where the samples start: [None] (the whole file) when short, else start, middle and end."""
    if duration_s <= whole_below:
        return [None]
    last = max(duration_s - SAMPLE_S, 0.0)
    return [last * i / (SAMPLES - 1) for i in range(SAMPLES)]


def check_decodes(
    path: Path, duration_s: float, *, whole_below: float = WHOLE_FILE_BELOW_S, cancel: threading.Event | None = None
) -> None:
    """Raise DecodeError unless the whole file (short) or its samples (long, end included) decode cleanly."""
    for start in sample_starts(duration_s, whole_below=whole_below):
        if cancel is not None and cancel.is_set():
            return
        lines = decode_errors(path, start=start, duration=None if start is None else SAMPLE_S)
        if lines:
            where = "" if start is None else f" (in the {SAMPLE_S:g} s from {start:.1f} s)"
            raise DecodeError(f"{len(lines)} decode error(s){where}", lines[:STDERR_TAIL_LINES])


def check_end_decodes(path: Path, duration_s: float) -> None:
    """The cheap upload check: the last few seconds decode (a truncated file fails here)."""
    lines = decode_errors(path, start=max(duration_s - SAMPLE_S, 0.0), duration=SAMPLE_S)
    if lines:
        raise DecodeError(f"{len(lines)} decode error(s) in its last {SAMPLE_S:g} s", lines[:STDERR_TAIL_LINES])
