"""`manage.py transcribe FILE [--engine ...] [--format srt|vtt]`: subtitles for any media file on stdout.

It calls transcribe_file directly, not the task system: a file on the command line belongs to no user
and no video, and importing it into storage and the task table only to print its subtitles would leave
rows and a copy behind. The work (ffmpeg extraction, then the engine) is the very code the
transcription job runs; progress goes to stderr so stdout stays a clean subtitle file.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from videos.engines.subtitles import to_srt, to_vtt
from videos.engines.transcription import ENGINE_NAMES, TranscriptionError, resolve_transcription_engine_name
from videos.media.ffmpeg import MediaError
from videos.services.transcripts import EXTRACT_SHARE, transcribe_file

BAR_WIDTH = 30
WRITERS = {"srt": to_srt, "vtt": to_vtt}


class Command(BaseCommand):
    help = "Transcribe a video or audio file and print its subtitles (SRT or VTT); progress on stderr."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Any media file ffmpeg can read.")
        parser.add_argument("--engine", choices=ENGINE_NAMES, help="Default: TRANSCRIPTION_ENGINE (auto).")
        parser.add_argument("--format", choices=sorted(WRITERS), default="srt", dest="subtitle_format")
        parser.add_argument("-o", "--output", help="Write the subtitles to this file instead of stdout.")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["file"]).expanduser()
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            engine = resolve_transcription_engine_name(opts["engine"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        bar = ProgressBar(self.stderr, label=engine)
        cancel = threading.Event()
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="montage-transcribe-") as work:
                transcript = transcribe_file(
                    path, work_dir=Path(work), on_progress=bar.draw, cancel=cancel, engine=opts["engine"]
                )
        except KeyboardInterrupt:
            cancel.set()  # an engine thread still running sees it and stops
            bar.close()
            raise CommandError("Interrupted.", returncode=130) from None
        except (MediaError, TranscriptionError) as exc:
            bar.close()
            raise CommandError(str(exc)) from None
        bar.close()
        text = WRITERS[opts["subtitle_format"]](transcript.segments)
        if opts["output"]:
            Path(opts["output"]).expanduser().write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
        self.stderr.write(
            f"{len(transcript.segments)} segments, language {transcript.language or 'unknown'}, "
            f"engine {transcript.engine}, {time.monotonic() - started:.1f} s."
        )


class ProgressBar:
    """One redrawn line on a terminal; a line per 10% otherwise (logs, pipes)."""

    def __init__(self, out: OutputWrapper, *, label: str) -> None:
        self.out = out
        self.label = label
        self.tty = out.isatty()
        self._last = -1
        self._drawn = False

    def draw(self, fraction: float) -> None:
        percent = max(0.0, min(fraction, 1.0)) * 100
        filled = int(BAR_WIDTH * percent / 100)
        stage = "extracting audio" if fraction < EXTRACT_SHARE else f"transcribing ({self.label})"
        line = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:5.1f}% {stage}"
        if self.tty:
            self.out.write(f"\r{line:<79}", ending="")
            self.out.flush()
            self._drawn = True
        elif int(percent // 10) != self._last:
            self._last = int(percent // 10)
            self.out.write(line)
            self.out.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.out.write("")
            self.out.flush()
