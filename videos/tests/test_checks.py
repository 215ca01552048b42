"""`manage.py check` warns about a transcription setup that would fail every task."""

from __future__ import annotations

import io
from pathlib import Path

from django.core.management import call_command

from videos.checks import transcription_engine_check


def ids(settings) -> list[str]:  # noqa: ANN001
    return [warning.id for warning in transcription_engine_check()]


def test_the_bundled_model_passes(settings) -> None:  # noqa: ANN001
    settings.OPENAI_API_KEY, settings.TRANSCRIPTION_ENGINE, settings.WHISPER_MODEL = "", "auto", ""
    assert ids(settings) == []


def test_a_bad_whisper_model_is_a_warning_naming_the_setting(settings, tmp_path: Path) -> None:  # noqa: ANN001
    settings.OPENAI_API_KEY, settings.TRANSCRIPTION_ENGINE = "", "auto"
    settings.WHISPER_MODEL = str(tmp_path / "missing")
    (warning,) = transcription_engine_check()
    assert warning.id == "videos.W002" and "WHISPER_MODEL=" in warning.msg and "missing" in warning.msg
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)  # a warning, not an error: the command still succeeds
    assert "videos.W002" in out.getvalue()
    settings.OPENAI_API_KEY = "sk-test"  # auto is OpenAI now: the local model does not matter
    assert ids(settings) == []


def test_an_unknown_engine_is_a_warning(settings) -> None:  # noqa: ANN001
    settings.TRANSCRIPTION_ENGINE = "pocketsphinx"
    assert ids(settings) == ["videos.W001"]
