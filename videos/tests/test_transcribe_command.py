"""`manage.py transcribe`: subtitles on stdout that real parsers read, progress on stderr, clear errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
from datetime import timedelta

import pytest
import srt
from django.core.management import CommandError, call_command

from videos.engines.transcription.quality import normalize_words
from videos.tests.api.test_pipeline import WORDS, parse_vtt
from videos.tests.clips import cached_clip
from videos.tests.conftest import PYTHON, ROOT
from videos.tests.fake_openai import FakeOpenAI, fake_openai  # noqa: F401 - the fixture
from videos.tests.jobs.test_transcription import openai, speech_wav  # noqa: F401 - openai is a fixture

pytestmark = pytest.mark.slow


def transcribe(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("transcribe", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_local_whisper_srt_on_stdout_with_a_progress_bar_on_stderr() -> None:
    out, err = transcribe(str(speech_wav()))
    subtitles = list(srt.parse(out, ignore_errors=False))
    heard = normalize_words(" ".join(s.content for s in subtitles))
    assert sum(word in heard for word in WORDS) >= 0.7 * len(WORDS), heard
    starts = [s.start for s in subtitles]
    assert starts == sorted(starts) and [s.index for s in subtitles] == list(range(1, len(subtitles) + 1))
    assert "extracting audio" in err and "transcribing (whisper): 100.0%" in err  # tqdm's bar, redrawn
    assert err.splitlines()[-1].startswith(f"{len(subtitles)} segments, language en, engine whisper")


def test_txt_and_json_formats_and_a_language_the_model_cannot_do(tmp_path) -> None:  # noqa: ANN001
    text, _ = transcribe(str(speech_wav()), "--format", "txt", "--language", "en")
    assert "\n" not in text.strip() and sum(word in normalize_words(text) for word in WORDS) >= 0.7 * len(WORDS)
    raw, _ = transcribe(str(speech_wav()), "--format", "json")
    data = json.loads(raw)
    assert data["engine"] == "whisper" and data["model"] == "tiny.en" and data["language"] == "en"
    words = [w for segment in data["segments"] for w in segment["words"]]
    assert words and all(segment["start"] <= segment["end"] for segment in data["segments"])
    assert [s["index"] for s in data["segments"]] == list(range(1, len(data["segments"]) + 1))
    assert all(w["word"] == w["word"].strip() and w["start"] <= w["end"] for w in words)
    with pytest.raises(CommandError, match="cannot transcribe 'de'; it supports: en"):
        transcribe(str(speech_wav()), "--language", "de")


def test_openai_vtt_to_a_file(openai, tmp_path) -> None:  # noqa: ANN001, F811
    target = tmp_path / "out.vtt"
    clip = cached_clip(seconds=2, width=160, height=120, fps=10, audio=True)
    out, err = transcribe(str(clip), "--engine", "openai", "--format", "vtt", "-o", str(target))
    assert out == "" and "engine openai" in err
    cues = parse_vtt(target.read_text())
    assert cues[:2] == [(0.0, 1.0, "speech from 0.00 to 1.00"), (1.0, 2.0, "speech from 1.00 to 2.00")]


def test_errors_are_clear(openai, tmp_path) -> None:  # noqa: ANN001, F811
    with pytest.raises(CommandError, match="No such file"):
        transcribe(str(tmp_path / "missing.mp4"))
    silent = cached_clip(seconds=1, width=160, height=120, fps=10, audio=False)
    with pytest.raises(CommandError, match="no audio track"):
        transcribe(str(silent), "--engine", "openai")
    (tmp_path / "notes.txt").write_text("not media")
    with pytest.raises(CommandError):
        transcribe(str(tmp_path / "notes.txt"), "--engine", "openai")
    assert not list(tmp_path.glob("montage-transcribe-*"))


def test_a_real_process_keeps_stdout_a_clean_srt(fake_openai: FakeOpenAI) -> None:  # noqa: F811
    clip = cached_clip(seconds=2, width=160, height=120, fps=10, audio=True)
    env = {**os.environ, "OPENAI_API_KEY": fake_openai.api_key, "OPENAI_BASE_URL": fake_openai.base_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [PYTHON, "manage.py", "transcribe", str(clip)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    subtitles = list(srt.parse(done.stdout, ignore_errors=False))
    assert subtitles[0].start == timedelta(0) and subtitles[0].content == "speech from 0.00 to 1.00"
    assert "%" in done.stderr and "engine openai" in done.stderr
