"""Transcripts: speech audio out of a media file, an engine over it, and a video's subtitle segments."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from videos.engines.cues import subtitle_cues
from videos.engines.subtitles import Timed
from videos.engines.transcription import (
    Segment,
    Transcript,
    TranscriptionCancelled,
    TranscriptionEngine,
    Word,
    get_transcription_engine,
)
from videos.media.audio import extract_audio
from videos.models import SubtitleSegment, Video

ProgressCallback = Callable[[float], None]
AUDIO_NAME = "speech.wav"
# transcribe_file's progress: ffmpeg pulls a minute of audio out in about half a second, engines take
# seconds to minutes per minute (docs/BENCHMARKS.md, "Transcription"); the job's extraction share.
EXTRACT_SHARE = 0.10
CANCEL_POLL_SECONDS = 0.05


def extract_speech_audio(
    src: Path,
    *,
    work_dir: Path,
    duration_s: float | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """The 16 kHz mono WAV every engine expects, written into work_dir (MediaError if there is no audio)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    return extract_audio(src, work_dir / AUDIO_NAME, duration_s=duration_s, on_progress=on_progress, cancel=cancel)


def transcribe_audio(
    wav: Path,
    *,
    engine: str | TranscriptionEngine | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    language: str | None = None,
) -> Transcript:
    """Run an engine (a name, an engine, or settings.TRANSCRIPTION_ENGINE) over a 16 kHz mono WAV; the
    segments come back re-cut into subtitle-ready cues (videos/engines/cues.py).

    With a `cancel` Event the engine runs on a helper thread and a cancel returns at once
    (TranscriptionCancelled), even while the engine waits on an HTTP answer or decodes a long chunk:
    engines only look at the Event between units of work. An abandoned engine finishes on its own and
    its answer is dropped. Progress callbacks always run in the calling thread.
    """
    chosen = engine if isinstance(engine, TranscriptionEngine) else get_transcription_engine(engine)
    language = None if language in (None, "", "auto") else language
    if cancel is None:
        transcript = chosen.transcribe(wav, on_progress=on_progress, language=language)
    else:
        transcript = _interruptible(chosen, wav, on_progress, cancel, language)
    return replace(transcript, segments=subtitle_cues(transcript.segments))


def _interruptible(
    engine: TranscriptionEngine,
    wav: Path,
    on_progress: ProgressCallback | None,
    cancel: threading.Event,
    language: str | None,
) -> Transcript:
    done = threading.Event()
    latest: list[float] = []  # the engine's last reported fraction (a list append/read is atomic)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["transcript"] = engine.transcribe(
                wav, on_progress=latest.append, cancel=cancel, language=language
            )
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name=f"transcribe-{engine.name}", daemon=True).start()
    reported = -1.0
    while True:
        finished = done.wait(CANCEL_POLL_SECONDS)
        if latest and on_progress is not None and latest[-1] != reported:
            reported = latest[-1]
            on_progress(reported)
        if finished:
            break
        if cancel.is_set():
            raise TranscriptionCancelled()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["transcript"]


def transcribe_file(
    path: Path,
    *,
    work_dir: Path,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    duration_s: float | None = None,
    engine: str | TranscriptionEngine | None = None,
    language: str | None = None,
) -> Transcript:
    """Extract the speech audio of any media file into work_dir and transcribe it; progress 0..1 over both."""
    report = on_progress or (lambda _fraction: None)
    wav = extract_speech_audio(
        Path(path),
        work_dir=work_dir,
        duration_s=duration_s,
        on_progress=lambda f: report(EXTRACT_SHARE * f),
        cancel=cancel,
    )
    report(EXTRACT_SHARE)
    transcript = transcribe_audio(
        wav,
        engine=engine,
        on_progress=lambda f: report(EXTRACT_SHARE + (1 - EXTRACT_SHARE) * f),
        cancel=cancel,
        language=language,
    )
    report(1.0)
    return transcript


# Step results are JSON (SubTask.result); these keep a transcript's shape across a restart.
def words_to_json(words: Iterable[Word], *, bare: bool = False) -> list[dict[str, Any]]:
    """Words as the API shows them (`bare`: without the engine's spacing) or losslessly."""
    return [
        {"start": w.start, "end": w.end, "word": w.word.strip() if bare else w.word, "probability": w.probability}
        for w in words
    ]


def transcript_to_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "segments": [
            {"start": s.start, "end": s.end, "text": s.text, "words": words_to_json(s.words)}
            for s in transcript.segments
        ],
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "engine": transcript.engine,
        "model": transcript.model,
    }


def transcript_from_json(data: dict[str, Any]) -> Transcript:
    return Transcript(
        segments=[
            Segment(
                start=float(s["start"]),
                end=float(s["end"]),
                text=s["text"],
                words=tuple(
                    Word(start=float(w["start"]), end=float(w["end"]), word=w["word"], probability=w.get("probability"))
                    for w in s.get("words") or ()
                ),
            )
            for s in data["segments"]
        ],
        language=data.get("language"),
        engine=data.get("engine") or "",
        language_probability=data.get("language_probability"),
        model=data.get("model"),
    )


def video_segments_replace(*, video: Video, segments: Iterable[Timed], language: str | None = None) -> int:
    """Replace the video's subtitle segments in one transaction, numbered 1..n in time order; returns n.

    Readers see the old set or the new one, never a mix or a duplicate; empty texts are dropped.
    `language` (when given) is stored on the video in the same transaction.
    """
    ordered = sorted(
        (s for s in segments if s.text and s.text.strip()),
        key=lambda s: (float(s.start), float(s.end)),
    )
    rows = [
        SubtitleSegment(
            video_id=video.pk,
            index=number,
            start=float(s.start),
            end=max(float(s.start), float(s.end)),
            text=s.text.strip(),
            words=words_to_json(getattr(s, "words", ()), bare=True),
        )
        for number, s in enumerate(ordered, start=1)
    ]
    with transaction.atomic():
        SubtitleSegment.objects.filter(video_id=video.pk).delete()
        SubtitleSegment.objects.bulk_create(rows, batch_size=500)
        if language is not None:
            Video.objects.filter(pk=video.pk).update(language=language[:16])
    return len(rows)


def video_segments(*, video: Video) -> QuerySet[SubtitleSegment]:
    """The video's segments in index (= time) order."""
    return SubtitleSegment.objects.filter(video_id=video.pk).order_by("index")
