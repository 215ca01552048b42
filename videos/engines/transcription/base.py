"""The transcription engine interface: a 16 kHz mono WAV in, timestamped segments out."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Segment:
    """One transcribed stretch of speech, in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """An engine's result: segments in time order, the detected language if known, the engine's name."""

    segments: list[Segment]
    language: str | None
    engine: str


class TranscriptionError(Exception):
    """Transcription failed for good; the message says what happened and is shown to users."""


class TranscriptionCancelled(TranscriptionError):
    """The cancel Event was set; raised between chunks, blocks or retries."""

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
    ) -> Transcript:
        """Transcribe the WAV; report 0..1 through on_progress; raise TranscriptionCancelled on cancel."""


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise TranscriptionCancelled if the Event is set (engines call it between units of work)."""
    if cancel is not None and cancel.is_set():
        raise TranscriptionCancelled()
