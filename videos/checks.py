"""System checks (`manage.py check`, run before runserver and migrate): a transcription setup that cannot work."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

from videos.engines.transcription import resolve_transcription_engine_name


@register()
def transcription_engine_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn when transcriptions would fail: an unknown engine, or a local model directory that is not one.

    Looks at the files only (no model is loaded here: checks run in every management command).
    """
    try:
        engine = resolve_transcription_engine_name()
    except ValueError as exc:
        return [Warning(str(exc), hint="Set TRANSCRIPTION_ENGINE to auto, whisper or openai.", id="videos.W001")]
    if engine != "whisper":
        return []
    from videos.engines.transcription.whisper_local import (
        WhisperModelError,
        check_model_directory,
        model_directory,
        whisper_config,
    )

    try:
        path, _ = model_directory()
        check_model_directory(path)
        whisper_config()
    except WhisperModelError as exc:
        return [
            Warning(
                f"Transcriptions will fail: {exc}",
                hint="Unset WHISPER_MODEL for the bundled tiny.en, or point it at a CTranslate2 Whisper model "
                "directory (README, 'Transcription').",
                id="videos.W002",
            )
        ]
    if settings.WHISPER_DEVICE not in ("cpu", "cuda", "auto"):
        return [Warning(f"WHISPER_DEVICE={settings.WHISPER_DEVICE!r} is not cpu, cuda or auto.", id="videos.W003")]
    return []
