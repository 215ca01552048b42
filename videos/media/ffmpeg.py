"""ffmpeg: run it with real progress and stop it at once on cancel; the binaries and the errors of the media layer.

Probing a file with ffprobe is `videos.media.probe`.

A stopped ffmpeg is SIGKILLed at once, never asked with SIGTERM: its output is deleted anyway, and a
SIGTERMed libx264 first flushes its lookahead and writes the trailer (measured here, 2 shared cores,
640x480: ~5 ms at ultrafast, ~0.4 s at slow, past 2 s at placebo under load), and an ffmpeg blocked
opening an input (a FIFO with no writer) does not act on SIGTERM at all.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from videos.exceptions import STORAGE_FULL_MESSAGE
from videos.media import process

STDERR_TAIL_LINES = 15
PROGRESS_CAP = 0.999  # a fraction below 1.0 until ffmpeg says progress=end and exits 0
POLL_SECONDS = 0.05  # how often the waiting loop looks at the cancel Event between progress lines


class MediaError(Exception):
    """ffmpeg or ffprobe failed; the message carries the last lines ffmpeg wrote to stderr."""


class StorageFullError(MediaError):
    """ffmpeg could not write its output: the disk is full, read-only or over quota.

    The message is for people; `raw_detail` keeps ffmpeg's own last lines apart.
    """

    def __init__(self, raw_detail: str) -> None:
        super().__init__(STORAGE_FULL_MESSAGE)
        self.raw_detail = raw_detail


STORAGE_FULL_MARKERS = ("No space left on device", "Read-only file system", "Disk quota exceeded")


class MediaCancelled(MediaError):
    """The cancel Event stopped ffmpeg; the partial output is gone."""


def ffmpeg_binary() -> str:
    """settings.FFMPEG_BINARY when Django is configured, so the media layer also works without Django."""
    return _setting("FFMPEG_BINARY", "ffmpeg")


def ffprobe_binary() -> str:
    """settings.FFPROBE_BINARY when Django is configured."""
    return _setting("FFPROBE_BINARY", "ffprobe")


def default_preset() -> str:
    """settings.FFMPEG_PRESET (libx264 preset) when Django is configured."""
    return _setting("FFMPEG_PRESET", "veryfast")


def _setting(name: str, default: str) -> str:
    try:
        from django.conf import settings

        return str(getattr(settings, name, default)) if settings.configured else default
    except ImportError:  # pragma: no cover - Django is always installed in this project
        return default


def tail_text(data: bytes | str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last non-blank lines a tool wrote, for error messages."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept) or "(no error output)"


_SPEED = re.compile(r"^\s*([0-9.]+)x\s*$")


class ProgressReader:
    """Turns ffmpeg `-progress` key=value lines into a monotonic fraction in [0, PROGRESS_CAP]."""

    def __init__(self, expected_duration: float | None) -> None:
        self.expected = expected_duration if expected_duration and expected_duration > 0 else None
        self.fraction = 0.0
        self.speed: float | None = None
        self.ended = False

    def feed(self, line: str) -> float | None:
        """Feed one line; returns the new fraction when it moved forward, else None."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        if key == "progress" and value.strip() == "end":
            self.ended = True
        elif key == "speed":
            match = _SPEED.match(value)
            self.speed = float(match.group(1)) if match else self.speed
        elif key in ("out_time_us", "out_time_ms") and self.expected:  # out_time_ms is microseconds too
            try:
                micros = int(value)
            except ValueError:  # "N/A" before the first frame
                return None
            fraction = min(max(micros / 1_000_000 / self.expected, 0.0), PROGRESS_CAP)
            if fraction > self.fraction:
                self.fraction = fraction
                return fraction
        return None


def run_ffmpeg(
    cmd_args: list[str],
    *,
    expected_duration: float | None,
    output: Path | None,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    on_speed: Callable[[float], None] | None = None,
) -> None:
    """Run ffmpeg with progress and cancel; MediaError/MediaCancelled leave no partial `output` behind.

    `cmd_args` are ffmpeg's arguments without the binary (a leading "ffmpeg", as ffmpeg.compile() gives,
    is dropped). Callbacks run in the calling thread, so they may touch the database.
    """
    args = list(cmd_args)
    if args and not args[0].startswith("-") and os.path.basename(args[0]) in ("ffmpeg", ffmpeg_binary()):
        args = args[1:]
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-progress", "pipe:1", "-nostats", "-y", *args]
    reader = ProgressReader(expected_duration)
    lines: queue.Queue[str | None] = queue.Queue()
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    write_errors: list[str] = []  # encoders print statistics after a failed write: keep those lines apart

    def on_stderr(line: str) -> None:
        tail.append(line)
        if len(write_errors) < STDERR_TAIL_LINES and any(marker in line for marker in STORAGE_FULL_MARKERS):
            write_errors.append(line)

    try:
        proc = process.spawn(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
        )
    except OSError as exc:
        raise MediaError(f"Cannot start ffmpeg ({cmd[0]}): {exc}") from exc
    threads = [
        threading.Thread(target=_pump, args=(proc.stdout, lines.put, True), daemon=True, name="ffmpeg-progress"),
        threading.Thread(target=_pump, args=(proc.stderr, on_stderr, False), daemon=True, name="ffmpeg-stderr"),
    ]
    for thread in threads:
        thread.start()
    cancelled = eof = False
    try:
        while not eof:
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            try:
                line = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:  # stdout closed: ffmpeg is exiting
                eof = True
                break
            last_speed = reader.speed
            moved = reader.feed(line)
            if moved is not None and on_progress is not None:
                on_progress(moved)
            if on_speed is not None and reader.speed and reader.speed != last_speed:  # 0x before the first frame
                on_speed(reader.speed)
    finally:
        if eof:
            proc.wait()
        else:  # cancelled, or a callback raised: never leave ffmpeg running
            stop_process(proc)
        for thread in threads:
            thread.join(timeout=5)
        if not eof or proc.returncode != 0:
            _remove(output)
    if cancelled:
        raise MediaCancelled("Cancelled: ffmpeg was stopped.")
    text = tail_text(chr(10).join(tail))
    if write_errors:  # ffmpeg exits 0 even when it could not write its trailer
        _remove(output)
        raise StorageFullError(f"ffmpeg could not write (exit code {proc.returncode}): {chr(10).join(write_errors)}")
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg failed (exit code {proc.returncode}): {text}")
    if reader.ended and on_progress is not None:
        on_progress(1.0)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL and reap the child, so no zombie is left and the caller returns at once."""
    proc.kill()
    proc.wait()


def _pump(stream: Any, sink: Callable[[Any], None], mark_end: bool) -> None:
    """Drain a pipe line by line so ffmpeg never blocks on a full pipe; None marks the end if asked."""
    try:
        for line in stream:
            sink(line.rstrip("\n"))
    finally:
        if mark_end:
            sink(None)
        stream.close()


def _remove(path: Path | None) -> None:
    if path is not None:
        Path(path).unlink(missing_ok=True)
