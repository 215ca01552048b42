"""Azure OpenAI (OPENAI_API_TYPE=azure): the official AzureOpenAI client against the local protocol server
answering Azure's URL shape (`/openai/deployments/<name>/...?api-version=`, `api-key` header)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from videos.engines.openai_client import RetryPolicy, make_client
from videos.engines.paragraphs.openai_chat import OpenAIChatParagraphEngine
from videos.engines.subtitles import Cue
from videos.engines.transcription import get_transcription_engine
from videos.engines.transcription.openai_whisper import OpenAIWhisperEngine
from videos.tests.conftest import PYTHON, ROOT
from videos.tests.fake_openai import FakeOpenAI, chat_reply, segment_text

FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)


@pytest.fixture
def azure(settings) -> Iterator[FakeOpenAI]:  # noqa: ANN001
    server = FakeOpenAI(api_key="azure-key", azure=True).start()
    settings.OPENAI_API_TYPE = "azure"
    settings.AZURE_OPENAI_ENDPOINT = server.azure_endpoint
    settings.AZURE_OPENAI_API_KEY = "azure-key"
    settings.AZURE_OPENAI_API_VERSION = "2024-06-01"
    settings.OPENAI_API_KEY = "azure-key"  # what settings.py derives from the Azure key
    settings.OPENAI_TRANSCRIPTION_MODEL = "our-whisper"  # ... and from the deployment names
    settings.OPENAI_CHAT_MODEL = "our-chat"
    yield server
    server.stop()


def test_the_client_is_the_official_azure_class(azure: FakeOpenAI) -> None:
    assert isinstance(make_client(), openai.AzureOpenAI)


def test_whisper_goes_to_the_deployment_url_with_the_api_version(azure: FakeOpenAI, tone_wav: Path) -> None:
    engine = get_transcription_engine("auto")  # the Azure key turns the hosted engine on
    assert isinstance(engine, OpenAIWhisperEngine)
    transcript = OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav)
    assert [s.text for s in transcript.segments] == [segment_text(0, 1), segment_text(1, 2)]
    (request,) = azure.transcription_requests
    assert request.path == "/openai/deployments/our-whisper/audio/transcriptions"
    assert request.query["api-version"] == ["2024-06-01"]
    assert request.headers["api-key"] == "azure-key" and "authorization" not in request.headers
    assert request.file_bytes == tone_wav.read_bytes()


def test_chat_goes_to_its_deployment(azure: FakeOpenAI) -> None:
    azure.script_chat(chat_reply(json.dumps({"paragraphs": [[1, 2]]})))
    cues = [Cue(1, 0.0, 1.0, "Hello there."), Cue(2, 1.0, 2.0, "Good morning.")]
    chat = OpenAIChatParagraphEngine(retry=FAST)
    assert chat.group(cues) == [[1, 2]] and chat.last_engine_used == "openai"
    (request,) = azure.chat_requests
    assert request.path == "/openai/deployments/our-chat/chat/completions"
    assert request.query["api-version"] == ["2024-06-01"]


def test_a_wrong_key_is_a_clear_failure(azure: FakeOpenAI, settings, tone_wav: Path) -> None:  # noqa: ANN001
    settings.AZURE_OPENAI_API_KEY = "wrong"
    with pytest.raises(Exception, match="HTTP 401: Access denied"):
        OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav)


def test_settings_derive_the_key_and_models_from_the_azure_variables() -> None:
    env = {
        "OPENAI_API_TYPE": "azure",
        "AZURE_OPENAI_API_KEY": "k",
        "AZURE_OPENAI_ENDPOINT": "https://example.invalid",
        "AZURE_OPENAI_WHISPER_DEPLOYMENT": "w-dep",
        "AZURE_OPENAI_CHAT_DEPLOYMENT": "c-dep",
        "OPENAI_API_KEY": "",
        "PATH": "/usr/bin:/bin",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.OPENAI_API_KEY, s.OPENAI_TRANSCRIPTION_MODEL, s.OPENAI_CHAT_MODEL, s.AZURE_OPENAI_API_VERSION)"
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.splitlines()[-1].split() == ["k", "w-dep", "c-dep", "2024-06-01"], out.stderr
