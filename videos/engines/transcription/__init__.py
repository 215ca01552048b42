"""Transcription engines behind one interface, chosen by name or settings.TRANSCRIPTION_ENGINE."""

from __future__ import annotations

from django.conf import settings

from videos.engines.choice import resolve_engine_name
from videos.engines.transcription.base import (
    Segment,
    Transcript,
    TranscriptionCancelled,
    TranscriptionEngine,
    TranscriptionError,
    Word,
)

__all__ = [
    "ENGINE_NAMES",
    "Segment",
    "Transcript",
    "TranscriptionCancelled",
    "TranscriptionEngine",
    "TranscriptionError",
    "Word",
    "get_transcription_engine",
    "resolve_transcription_engine_name",
]

ENGINE_NAMES = ("auto", "whisper", "openai")


def resolve_transcription_engine_name(name: str | None = None) -> str:
    """'whisper' or 'openai' for a name or the setting; auto is OpenAI when a key is set, else local Whisper."""
    return resolve_engine_name(
        "transcription", name, settings.TRANSCRIPTION_ENGINE, names=ENGINE_NAMES, local="whisper"
    )


def get_transcription_engine(name: str | None = None) -> TranscriptionEngine:
    """A new engine for a name or settings.TRANSCRIPTION_ENGINE (auto | whisper | openai); loads no model.

    Raises ValueError for an unknown name and TranscriptionError for openai without OPENAI_API_KEY or
    when the local model's settings are unusable (no bundled model, WHISPER_MODEL unset).
    """
    if resolve_transcription_engine_name(name) == "openai":
        from videos.engines.transcription.openai_whisper import OpenAIWhisperEngine

        return OpenAIWhisperEngine()
    from videos.engines.transcription.whisper_local import LocalWhisperEngine

    return LocalWhisperEngine()
