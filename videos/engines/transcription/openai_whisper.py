"""OpenAI Whisper over HTTP: uploads under the size limit (split at silences), retried, offsets restored.

Segment and word timestamps are both asked for; the API answers words in one list per request,
which are given to the segment they fall in.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import openai
from django.conf import settings

from videos.engines.openai_client import (
    OpenAICallCancelled,
    OpenAICallError,
    RetryPolicy,
    call_with_retries,
    make_client,
)
from videos.engines.transcription.base import (
    ProgressCallback,
    Segment,
    Transcript,
    TranscriptionCancelled,
    TranscriptionEngine,
    TranscriptionError,
    Word,
    check_cancel,
)
from videos.engines.transcription.languages import WHISPER_LANGUAGES, language_code
from videos.engines.transcription.wav import WAV_HEADER_BYTES, plan_chunks, read_wav, wav_bytes

# The API refuses uploads over 25 MB; stay a little under both readings of "MB".
OPENAI_MAX_UPLOAD_BYTES = 25_000_000


class OpenAIWhisperEngine(TranscriptionEngine):
    """Whisper through the official client; one request per chunk, progress per chunk."""

    name = "openai"

    def __init__(
        self,
        *,
        client: openai.OpenAI | None = None,
        model: str | None = None,
        max_upload_bytes: int = OPENAI_MAX_UPLOAD_BYTES,
        retry: RetryPolicy | None = None,
        timeout: float = 600.0,
    ) -> None:
        if not (client or settings.OPENAI_API_KEY):
            raise TranscriptionError("the OpenAI transcription engine needs OPENAI_API_KEY to be set")
        if max_upload_bytes <= WAV_HEADER_BYTES + 2:
            raise ValueError("max_upload_bytes is too small to hold any audio")
        self.client = client or make_client(timeout=timeout)
        self.model = model or settings.OPENAI_TRANSCRIPTION_MODEL
        self.max_upload_bytes = max_upload_bytes
        self.retry = retry or RetryPolicy()

    def transcribe(
        self,
        wav_path: Path,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        language: str | None = None,
    ) -> Transcript:
        """Transcribe; a file over the upload limit goes up in chunks cut at the quietest moments."""
        wav_path = Path(wav_path)
        audio = read_wav(wav_path)
        if audio.frames == 0:
            return Transcript(segments=[], language=language, engine=self.name, model=self.model)
        frame_bytes = 2 * audio.channels
        if wav_path.stat().st_size <= self.max_upload_bytes:
            spans = [(0, audio.frames)]
        else:
            max_frames = (self.max_upload_bytes - WAV_HEADER_BYTES) // frame_bytes
            signal = audio.samples[:, 0] if audio.channels == 1 else audio.mono()  # a view, no copy, for mono
            spans = plan_chunks(signal, audio.sample_rate, max_frames)
        segments: list[Segment] = []
        detected: str | None = None
        for number, (first, last) in enumerate(spans):
            check_cancel(cancel)
            if len(spans) == 1:
                payload = wav_path.read_bytes()
            else:
                payload = wav_bytes(audio.samples[first:last], audio.sample_rate)
            what = f"OpenAI transcription of {wav_path.name}"
            if len(spans) > 1:
                what += f" (chunk {number + 1} of {len(spans)})"
            result = self._request(f"{wav_path.stem}-{number + 1}.wav", payload, what, cancel, language)
            offset = first / audio.sample_rate
            segments.extend(_segments(result, offset, chunk_end=last / audio.sample_rate))
            detected = detected or language_code(getattr(result, "language", None))
            if on_progress is not None:
                on_progress((number + 1) / len(spans))
        return Transcript(segments=segments, language=language or detected, engine=self.name, model=self.model)

    def languages(self) -> list[str]:
        """Whisper's languages (the hosted model is multilingual)."""
        return list(WHISPER_LANGUAGES)

    def _request(
        self, filename: str, payload: bytes, what: str, cancel: threading.Event | None, language: str | None
    ) -> Any:
        extra: dict[str, Any] = {"language": language} if language else {}

        def call() -> Any:
            return self.client.audio.transcriptions.create(
                model=self.model,
                file=(filename, payload, "audio/wav"),
                response_format="verbose_json",
                timestamp_granularities=["segment", "word"],
                **extra,
            )

        try:
            return call_with_retries(call, what=what, policy=self.retry, cancel=cancel)
        except OpenAICallCancelled as exc:
            raise TranscriptionCancelled() from exc
        except OpenAICallError as exc:
            raise TranscriptionError(str(exc)) from exc


def _segments(result: Any, offset: float, *, chunk_end: float) -> list[Segment]:
    """verbose_json segments shifted by the chunk's start, each with the words whose middle falls in it;
    text-only answers become one segment."""
    words = sorted(
        (
            Word(
                start=round(offset + max(0.0, float(_field(w, "start"))), 3),
                end=round(offset + max(0.0, float(_field(w, "end"))), 3),
                word=" " + str(_field(w, "word") or "").strip(),  # the API gives bare words; Word keeps spacing
            )
            for w in getattr(result, "words", None) or ()
            if str(_field(w, "word") or "").strip()
        ),
        key=lambda w: (w.start, w.end),
    )
    raw = getattr(result, "segments", None)
    if not raw:
        text = (getattr(result, "text", "") or "").strip()
        return [Segment(start=offset, end=chunk_end, text=text, words=tuple(words))] if text else []
    out = []
    position = 0
    spans = []
    for item in raw:
        start = offset + max(0.0, float(item.start))
        spans.append((start, max(start, offset + float(item.end)), (item.text or "").strip()))
    for number, (start, end, text) in enumerate(spans):
        # a word belongs to the last segment that starts at or before its middle
        next_start = spans[number + 1][0] if number + 1 < len(spans) else float("inf")
        mine = []
        while position < len(words) and (words[position].start + words[position].end) / 2 < next_start:
            mine.append(words[position])
            position += 1
        if text:
            out.append(Segment(start=round(start, 3), end=round(end, 3), text=text, words=tuple(mine)))
    return out


def _field(item: Any, name: str) -> Any:
    """A field of a word, whether the client gave an object or a dict."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)
