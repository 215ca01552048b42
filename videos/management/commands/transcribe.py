"""`manage.py transcribe FILE [--language] [--format srt|vtt|txt|json]`: a transcript of any media file on stdout.

It calls transcribe_file directly, not the task system: a file on the command line belongs to no user
and no video, and importing it into storage and the task table only to print its subtitles would leave
rows and a copy behind. The work (ffmpeg extraction, then the engine, then the cue re-cutting) is the
very code the transcription job runs; the progress bar (tqdm) goes to stderr so stdout stays clean.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from videos.engines.paragraphs.text import to_txt
from videos.engines.subtitles import to_srt, to_vtt
from videos.engines.transcription import (
    ENGINE_NAMES,
    Transcript,
    TranscriptionError,
    get_transcription_engine,
    resolve_transcription_engine_name,
)
from videos.exceptions import MontageError
from videos.media.ffmpeg import MediaError
from videos.services.pipeline import transcription_language
from videos.services.transcripts import EXTRACT_SHARE, transcribe_file, words_to_json


def _json(transcript: Transcript) -> str:
    """The transcript with segments shaped as the API serves them (index, bare words)."""
    data = {
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "engine": transcript.engine,
        "model": transcript.model,
        "segments": [
            {"index": n, "start": s.start, "end": s.end, "text": s.text, "words": words_to_json(s.words, bare=True)}
            for n, s in enumerate(transcript.segments, start=1)
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


WRITERS: dict[str, Callable[[Transcript], str]] = {
    "srt": lambda t: to_srt(t.segments),
    "vtt": lambda t: to_vtt(t.segments),
    "txt": lambda t: to_txt(t.segments),
    "json": _json,
}


class Command(BaseCommand):
    help = "Transcribe a video or audio file and print its subtitles (SRT, VTT), text or JSON; progress on stderr."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Any media file ffmpeg can read.")
        parser.add_argument("--engine", choices=ENGINE_NAMES, help="Default: TRANSCRIPTION_ENGINE (auto).")
        parser.add_argument("--language", help="'auto' (default) or an ISO 639-1 code such as 'en'.")
        parser.add_argument("--format", choices=sorted(WRITERS), default="srt", dest="subtitle_format")
        parser.add_argument("-o", "--output", help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["file"]).expanduser()
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            engine_name = resolve_transcription_engine_name(opts["engine"])
            engine = get_transcription_engine(engine_name)
        except (ValueError, TranscriptionError) as exc:
            raise CommandError(str(exc)) from None
        try:
            language = transcription_language(engine=engine_name, language=opts["language"])
        except MontageError as exc:
            raise CommandError(exc.detail) from None
        cancel = threading.Event()
        started = time.monotonic()
        bar = tqdm(total=100, unit="%", file=self.stderr._out, desc="extracting audio", bar_format=BAR_FORMAT)
        try:
            with tempfile.TemporaryDirectory(prefix="montage-transcribe-") as work:
                transcript = transcribe_file(
                    path,
                    work_dir=Path(work),
                    on_progress=lambda f: _advance(bar, f, engine_name),
                    cancel=cancel,
                    engine=engine,
                    language=language,
                )
        except KeyboardInterrupt:
            cancel.set()  # an engine thread still running sees it and stops
            raise CommandError("Interrupted.", returncode=130) from None
        except (MediaError, TranscriptionError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        text = WRITERS[opts["subtitle_format"]](transcript)
        if opts["output"]:
            Path(opts["output"]).expanduser().write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
        self.stderr.write(
            f"{len(transcript.segments)} segments, language {transcript.language or 'unknown'}, "
            f"engine {transcript.engine}, {time.monotonic() - started:.1f} s."
        )


BAR_FORMAT = "{desc}: {percentage:5.1f}% |{bar}| {elapsed}<{remaining}"


def _advance(bar: tqdm, fraction: float, engine: str) -> None:
    """Move the bar to `fraction` (it never goes back) and name the stage."""
    target = round(max(0.0, min(fraction, 1.0)) * 100, 1)
    if fraction >= EXTRACT_SHARE:
        bar.set_description_str(f"transcribing ({engine})", refresh=False)
    if target > bar.n:
        bar.update(target - bar.n)
