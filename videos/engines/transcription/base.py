"""The transcription engine interface: a 16 kHz mono WAV in, timestamped segments (with word times) out."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Word:
    """One recognised word in seconds from the start of the audio.

    `word` keeps the engine's spacing (Whisper's " Hello"), so words joined with "" rebuild the text
    in languages written with spaces and in those written without; the API shows it stripped.
    """

    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    """One transcribed stretch of speech, in seconds from the start of the audio; words in time order."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    """An engine's result: segments in time order, the language (and how sure), the engine and model."""

    segments: list[Segment]
    language: str | None
    engine: str
    language_probability: float | None = None
    model: str | None = None


class TranscriptionError(Exception):
    """Transcription failed for good; the message says what happened and is shown to users."""


class TranscriptionCancelled(TranscriptionError):
    """The cancel Event was set; raised between segments, chunks or retries."""

    def __init__(self, message: str = "transcription cancelled") -> None:
        super().__init__(message)


ProgressCallback = Callable[[float], None]


class TranscriptionEngine(ABC):
    """Turns a 16 kHz mono 16-bit WAV into a Transcript; checks `cancel` between units of work."""

    name: str

    @abstractmethod
    def transcribe(
        self,
        wav_path: Path,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        language: str | None = None,
    ) -> Transcript:
        """Transcribe the WAV (in `language`, an ISO 639-1 code, or detected when None); report 0..1
        through on_progress; raise TranscriptionCancelled on cancel."""

    @abstractmethod
    def languages(self) -> list[str] | None:
        """The ISO 639-1 codes this engine can transcribe (None when it cannot tell without loading a model)."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise TranscriptionCancelled if the Event is set (engines call it between units of work)."""
    if cancel is not None and cancel.is_set():
        raise TranscriptionCancelled()
