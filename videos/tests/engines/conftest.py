"""Engine test fixtures: the fake OpenAI server and small WAV files made once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from videos.tests.fake_openai import FakeOpenAI, fake_openai  # noqa: F401 - the fixture
from videos.tests.speech import HARVARD_SENTENCES, spoken_wav

# Known words, spoken by espeak-ng's en-us+f2 voice at 140 wpm.
SPOKEN_SENTENCE = "Glue the sheet to the dark blue background. Rice is often served in round bowls. The juice of lemons makes fine punch. The boy was there when the sun rose."  # noqa: E501 - one sentence as spoken


def ffmpeg(*args: str) -> None:
    subprocess.run([django_settings.FFMPEG_BINARY, "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def lavfi_wav(path: Path, source: str, seconds: float) -> Path:
    """A 16 kHz mono 16-bit WAV from an ffmpeg lavfi audio source."""
    ffmpeg("-f", "lavfi", "-i", source, "-t", str(seconds), "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(path))
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-media")


@pytest.fixture(scope="session")
def tone_wav(media_dir: Path) -> Path:
    """2 s of a 440 Hz tone."""
    return lavfi_wav(media_dir / "tone.wav", "sine=frequency=440:sample_rate=16000", 2)


@pytest.fixture(scope="session")
def gapped_wav(media_dir: Path) -> Path:
    """10 s: every 2 s, 1.5 s of tone then 0.5 s of silence (silences at [1.5, 2), [3.5, 4), ...)."""
    source = "aevalsrc=0.5*sin(2*PI*440*t)*lt(mod(t\\,2)\\,1.5):s=16000"
    return lavfi_wav(media_dir / "gapped.wav", source, 10)


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    """espeak-ng saying SPOKEN_SENTENCE, converted to 16 kHz mono."""
    raw = media_dir / "speech-22k.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+f2", "-s", "140", "-w", str(raw), SPOKEN_SENTENCE], check=True)
    out = media_dir / "speech.wav"
    ffmpeg("-i", str(raw), "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(out))
    return out


@pytest.fixture(scope="session")
def harvard_wav(media_dir: Path) -> Path:
    """espeak-ng (en-us, 150 wpm) reading the 20 Harvard sentences: about a minute of clear speech."""
    return spoken_wav(media_dir / "harvard.wav", " ".join(HARVARD_SENTENCES))


@pytest.fixture(scope="session")
def run_on_wav(media_dir: Path) -> Path:
    """The same sentences joined by "and" at 170 wpm: long segments (up to ~100 characters) from Whisper."""
    text = " and ".join(sentence.rstrip(".").replace("It's", "it is") for sentence in HARVARD_SENTENCES)
    return spoken_wav(media_dir / "run-on.wav", text, wpm=170)


@pytest.fixture
def openai_settings(settings, fake_openai: FakeOpenAI) -> FakeOpenAI:  # noqa: ANN001, F811
    """Point settings at the fake server (key and base URL) and hand the server back for scripting."""
    settings.OPENAI_API_KEY = fake_openai.api_key
    settings.OPENAI_BASE_URL = fake_openai.base_url
    return fake_openai
