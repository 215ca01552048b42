"""Decode checks: is every frame of a file (or of bounded samples, always including its end) readable?

ffprobe only reads headers: a file whose index is at the front but whose data stops early (a truncated
`+faststart` MP4) or whose packets two writers interleaved probes with its full duration. Decoding
is what tells. ffmpeg exits 0 on such files but writes an error line per damaged packet, so the test
is "no error lines".
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from videos.media import process
from videos.media.ffmpeg import STDERR_TAIL_LINES, MediaError, ffmpeg_binary

WHOLE_FILE_BELOW_S = 20.0  # shorter files are decoded whole (20 s of 720p: about a second here)
SAMPLE_S = 4.0  # each sample of a longer file, decoded from the keyframe before its start
SAMPLES = 3  # start, middle and end of a longer file, decoded at once
DECODE_TIMEOUT_S = 300.0
REACH_TOLERANCE_S = 1.0  # a run to the end may stop a frame or an audio packet short of the container's length


class DecodeError(MediaError):
    """The file does not decode cleanly; `lines` holds ffmpeg's first error lines."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def _decode_cmd(path: Path, start: float | None, duration: float | None) -> list[str]:
    """A decode to nothing; a sample with a length starts at the keyframe before `start` (it costs its
    own length, not the GOP before it), a run to the end seeks exactly so its reach can be measured."""
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-progress", "pipe:1", "-nostats"]
    if start and duration:
        cmd += ["-noaccurate_seek"]
    if start:
        cmd += ["-ss", f"{start:.3f}"]
    cmd += ["-i", str(path)]
    if duration:
        cmd += ["-t", f"{duration:.3f}"]
    return [*cmd, "-map", "0:v?", "-map", "0:a?", "-f", "null", "-"]


def _errors(code: int, stdout: bytes, stderr: bytes, *, reach_s: float | None) -> list[str]:
    """ffmpeg's error lines, plus one when a run to the end decoded less than `reach_s` seconds.

    Seeking or reading past the end of a truncated file's data is no error to ffmpeg: it just stops.
    """
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if code != 0 and not lines:
        lines = [f"ffmpeg exited with code {code}"]
    if reach_s is not None and not lines:
        decoded = _last_out_time(stdout)
        if decoded < reach_s - REACH_TOLERANCE_S:
            lines = [f"the data stops after {decoded:.1f} s of the {reach_s:.1f} s expected (truncated?)"]
    return lines


def _last_out_time(progress: bytes) -> float:
    seconds = 0.0
    for line in progress.decode("ascii", "replace").splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            seconds = max(seconds, int(value) / 1_000_000)
    return seconds


def decode_errors(path: Path, *, start: float | None = None, duration: float | None = None) -> list[str]:
    """ffmpeg's error lines when decoding `path` (or `duration` s from `start`) to nothing; [] when clean."""
    done = process.run(_decode_cmd(path, start, duration), timeout=DECODE_TIMEOUT_S)
    return _errors(done.returncode, done.stdout, done.stderr, reach_s=None)


def sample_starts(duration_s: float, *, whole_below: float = WHOLE_FILE_BELOW_S) -> list[float | None]:
    """Where the samples start: [None] (the whole file) when short, else start, middle and end."""
    if duration_s <= whole_below:
        return [None]
    last = max(duration_s - SAMPLE_S, 0.0)
    return [last * i / (SAMPLES - 1) for i in range(SAMPLES)]


def check_decodes(
    path: Path, duration_s: float, *, whole_below: float = WHOLE_FILE_BELOW_S, cancel: threading.Event | None = None
) -> None:
    """Raise DecodeError unless the whole file (short) or its samples (long, end included) decode cleanly.

    The samples' decoders run side by side (started and waited for by this thread).
    """
    if cancel is not None and cancel.is_set():
        return
    starts = sample_starts(duration_s, whole_below=whole_below)
    runs = []
    try:
        for i, start in enumerate(starts):
            last = i == len(starts) - 1  # the last sample runs to the end of the file, wherever its data stops
            cmd = _decode_cmd(path, start, None if start is None or last else SAMPLE_S)
            runs.append(process.spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        results = [(*proc.communicate(timeout=DECODE_TIMEOUT_S), proc.returncode) for proc in runs]
    finally:
        for proc in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for i, (start, (stdout, stderr, code)) in enumerate(zip(starts, results, strict=True)):
        reach = duration_s - (start or 0.0) if i == len(starts) - 1 else None
        lines = _errors(code, stdout, stderr, reach_s=reach)
        if lines:
            where = "" if start is None else f" (in the {SAMPLE_S:g} s from {start:.1f} s)"
            raise DecodeError(f"{len(lines)} decode error(s){where}", lines[:STDERR_TAIL_LINES])


def check_end_decodes(path: Path, duration_s: float) -> None:
    """The cheap upload check: the last few seconds, to the end of the data, decode (a truncated file fails here)."""
    start = max(duration_s - SAMPLE_S, 0.0)
    done = process.run(_decode_cmd(path, start, None), timeout=DECODE_TIMEOUT_S)
    lines = _errors(done.returncode, done.stdout, done.stderr, reach_s=duration_s - start)
    if lines:
        raise DecodeError(f"{len(lines)} decode error(s) in its last {SAMPLE_S:g} s", lines[:STDERR_TAIL_LINES])
