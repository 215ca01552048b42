"""POST /videos/<id>/transcribe (and retranscribe) with the default engine, local Whisper, on real speech:
language, word times, subtitle-ready segments, txt, refusals, progress per segment, cancel within 1 s."""

from __future__ import annotations

import re
import time

import pytest

from videos.engines.transcription.quality import normalize_words, word_error_rate
from videos.models import ProcessingTask, Video
from videos.tests.api.test_pipeline import assert_error, url
from videos.tests.fake_openai import FakeOpenAI, fake_openai  # noqa: F401 - the fixture
from videos.tests.jobs.test_transcription import clip_video, openai, speech_clip  # noqa: F401 - openai is a fixture
from videos.tests.speech import HARVARD_SENTENCES
from videos.tests.taskmanager.helpers import wait_for, wait_status

pytestmark = pytest.mark.slow
HARVARD = " ".join(HARVARD_SENTENCES)


@pytest.fixture
def local_whisper(settings) -> None:  # noqa: ANN001
    """No OpenAI key: `auto` is the local engine, as on a fresh install."""
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_ENGINE = "auto"
    settings.PARAGRAPH_ENGINE = "auto"


def test_transcribe_gives_words_language_and_subtitle_ready_segments(
    transactional_db,
    api,
    user,
    local_whisper,
    immediate_backend,  # noqa: ANN001
):
    video = clip_video(user, speech_clip(HARVARD))  # ~60 s of speech
    assert api.get(f"/api/v1/videos/{video.pk}/").json()["language"] is None
    response = api.post(url(video.pk, "transcribe", slash=False), {"language": "auto"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "transcription" and response["Location"].endswith(f"/api/v1/tasks/{body['task_id']}/")
    result = api.get(f"/api/v1/tasks/{body['task_id']}/result").json()["result"]
    rows = api.get(url(video.pk, "segments")).json()
    assert result == {
        "segments": len(rows),
        "words": sum(len(row["words"]) for row in rows),
        "language": "en",
        "language_probability": 1.0,
        "engine": "whisper",
        "model": "tiny.en",
    }
    heard = " ".join(row["text"] for row in rows)
    assert word_error_rate(HARVARD, heard) <= 0.25, heard
    for row in rows:
        lines = row["text"].split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines) and row["end"] - row["start"] <= 7
        assert row["words"] and all(set(w) == {"start", "end", "word", "probability"} for w in row["words"])
        assert " ".join(w["word"] for w in row["words"]) == row["text"].replace("\n", " ")  # bare words
        assert all(row["start"] <= w["start"] <= w["end"] <= row["end"] for w in row["words"])
    assert [row["index"] for row in rows] == list(range(1, len(rows) + 1))
    assert api.get(f"/api/v1/videos/{video.pk}/").json()["language"] == "en"
    text = api.get(url(video.pk, "segments") + "?format=txt")
    assert text.status_code == 200 and text["Content-Type"] == "text/plain; charset=utf-8"
    assert re.fullmatch(r"inline; filename=\"[\w.-]+\.txt\"", text["Content-Disposition"]), text["Content-Disposition"]
    plain = text.content.decode()
    assert normalize_words(plain) == normalize_words(heard) and "-->" not in plain and "\n\n" in plain


def test_a_language_the_model_cannot_do_is_400_naming_the_ones_it_can(db, api, user, local_whisper):  # noqa: ANN001
    video = clip_video(user)
    for action in ("transcribe", "retranscribe"):
        body = assert_error(
            api.post(url(video.pk, action), {"language": "de"}, format="json"), 400, "unsupported_language"
        )
        assert body["detail"] == "The transcription model cannot transcribe 'de'; it supports: en."
        assert body["languages"] == ["en"]
    body = assert_error(api.post(url(video.pk, "transcribe"), {"language": "English"}, format="json"), 400, "invalid")
    assert "language" in body["errors"]
    assert not ProcessingTask.objects.exists()


def test_a_multilingual_engine_takes_the_language(transactional_db, api, user, openai, immediate_backend):  # noqa: ANN001, F811
    video = clip_video(user)
    response = api.post(url(video.pk, "transcribe") + "?language=de")
    assert response.status_code == 202, response.content
    (request,) = openai.transcription_requests
    assert request.fields["language"] == ["de"]
    task = ProcessingTask.objects.get(pk=response.json()["task_id"])
    assert task.status == "completed" and task.result["language"] == "de" and task.args["language"] == "de"
    assert Video.objects.get(pk=video.pk).language == "de"


def test_a_video_without_audio_is_400_unsupported_media(db, api, user, local_whisper):  # noqa: ANN001
    video = clip_video(user, audio=False)
    for action in ("transcribe", "retranscribe"):
        body = assert_error(api.post(url(video.pk, action)), 400, "unsupported_media")
        assert "no audio" in body["detail"]
    assert not ProcessingTask.objects.exists()


def test_a_broken_whisper_model_fails_the_task_naming_the_setting(
    transactional_db,
    api,
    user,
    local_whisper,
    immediate_backend,
    settings,
    tmp_path,  # noqa: ANN001
):
    settings.WHISPER_MODEL = str(tmp_path / "no-such-model")
    video = clip_video(user, speech_clip())
    response = api.post(url(video.pk, "transcribe"))
    assert response.status_code == 202, response.content  # the request never loads (or checks) the model's weights
    task = ProcessingTask.objects.get(pk=response.json()["task_id"])
    assert task.status == "failed"
    assert (
        task.error_message.startswith("WHISPER_MODEL='") and "no-such-model' is not a directory" in task.error_message
    )
    assert Video.objects.get(pk=video.pk).status == "error"


def test_progress_follows_the_segments_and_cancel_stops_within_a_second(task_manager, api, user, local_whisper):  # noqa: ANN001
    video = clip_video(user, speech_clip(HARVARD, repeat=2))  # ~2 min of speech: seconds of decoding
    task_id = api.post(url(video.pk, "transcribe")).json()["task_id"]
    readings: list[float] = []

    def decoding() -> bool:
        row = ProcessingTask.objects.get(pk=task_id)
        if row.stage == "transcribing":
            readings.append(row.progress)
        return len({p for p in readings if 10 < p < 98}) >= 3  # three segments' worth of progress

    assert wait_for(decoding, timeout=120, interval=0.02), readings
    started = time.monotonic()
    assert api.post(f"/api/v1/tasks/{task_id}/cancel").status_code in (200, 202)
    wait_status(task_id, "cancelled", timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert readings == sorted(readings)
    stopped_at = ProcessingTask.objects.get(pk=task_id).progress
    time.sleep(1.0)
    assert ProcessingTask.objects.get(pk=task_id).progress == stopped_at < 98
    assert Video.objects.get(pk=video.pk).status == "uploaded"
