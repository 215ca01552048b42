"""The srt_media job on real inputs: SRT + clip, SRT only, large SRT in storage, resume, OpenAI paths, media only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from videos.engines.paragraphs.openai_chat import OpenAIChatParagraphEngine
from videos.engines.transcription.quality import word_error_rate
from videos.exceptions import InvalidInputError
from videos.models import ProcessingTask, SubTask
from videos.services.srt_media import INLINE_SRT_BYTES, SRT_STORAGE_DIR, srt_media_start
from videos.services.tasks import task_retry
from videos.services.videos import video_import
from videos.taskmanager.backends import run_pending_inline
from videos.taskmanager.context import task_tmp_dir
from videos.tests.clips import cached_clip, make_speech_wav
from videos.tests.fake_openai import FakeOpenAI, chat_reply, error_reply, fake_openai  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("immediate_backend")]


def srt(*cues: tuple[float, float, str]) -> bytes:
    """SRT bytes for (start, end, text) cues, numbered in the given order."""

    def clock(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{i}\n{clock(a)} --> {clock(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues, 1)).encode()


def upload(data: bytes, name: str = "talk.srt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/x-subrip")


def finished(task: ProcessingTask) -> ProcessingTask:
    task.refresh_from_db()
    return task


def completed_result(task: ProcessingTask) -> dict:
    task = finished(task)
    assert task.status == "completed", task.error_message
    assert task.progress == 100 and task.stage == "completed"
    return task.result


def assert_cover(result: dict, cue_count: int) -> None:
    """Every cue exactly once, paragraphs numbered 1..n and in time order."""
    paragraphs = result["paragraphs"]
    assert sorted(i for p in paragraphs for i in p["segment_indexes"]) == list(range(1, cue_count + 1))
    assert [p["index"] for p in paragraphs] == list(range(1, len(paragraphs) + 1))
    assert [p["start"] for p in paragraphs] == sorted(p["start"] for p in paragraphs)
    assert all(p["start"] <= p["end"] for p in paragraphs)
    assert result["cues"] == cue_count


TALK = [
    (0.0, 0.4, "Hello and welcome."),
    (0.5, 0.9, "This is a short talk."),
    (1.2, 1.6, "It has two parts"),
    (1.6, 1.9, "and it ends here."),
]


def test_srt_and_clip_paragraphs_clamped_to_the_media(user):  # noqa: ANN001
    video = video_import(owner=user, path=cached_clip(seconds=2, width=320, height=240))
    late = [*TALK, (1.95, 2.6, "This runs past the end."), (2.5, 3.0, "This starts after it.")]
    task = srt_media_start(owner=user, srt_file=upload(srt(*late)), video_id=video.pk, engine="rules")
    result = completed_result(task)
    assert_cover(result, 6)
    duration = video.duration_s
    assert all(0 <= p["start"] <= p["end"] <= duration for p in result["paragraphs"])
    assert result["paragraphs"][-1]["end"] == round(duration, 3)
    codes = {w["code"]: w for w in result["warnings"]}
    assert codes["cues_after_media_end"]["cues"] == [6]
    assert codes["cues_overrun_media_end"]["cues"] == [5]
    assert result["video_id"] == str(video.pk) and result["engine"] == "rules" and result["source"] == "srt"
    steps = list(SubTask.objects.filter(task=task).order_by("position").values_list("name", "status"))
    assert steps == [("transcribing", "completed"), ("processing_llm", "completed"), ("aligning", "completed")]
    assert not task_tmp_dir(task.pk).exists()


def test_srt_only_is_not_clamped_and_has_no_warnings(user):  # noqa: ANN001
    task = srt_media_start(owner=user, srt_file=upload(srt(*TALK, (50.0, 51.0, "Much later."))))
    result = completed_result(task)
    assert_cover(result, 5)
    assert result["video_id"] is None and result["warnings"] == []
    assert result["paragraphs"][-1]["end"] == 51.0
    # the rules engine splits at the long pause before the last cue
    assert result["paragraphs"][-1]["segment_indexes"] == [5]


def test_cues_out_of_time_order_give_paragraphs_in_time_order(user):  # noqa: ANN001
    data = srt((3.0, 4.0, "Third in time."), (0.0, 1.0, "First in time."), (1.0, 2.0, "Second in time."))
    result = completed_result(srt_media_start(owner=user, srt_file=upload(data), engine="rules"))
    assert_cover(result, 3)
    order = [i for p in result["paragraphs"] for i in p["segment_indexes"]]
    assert order == [2, 3, 1]  # numbers are file order, paragraphs follow time
    assert any(w["code"] == "cues_reordered" for w in result["warnings"])


def test_large_srt_goes_to_storage_and_is_removed_once_completed(user):  # noqa: ANN001
    cues = [(i * 2.0, i * 2.0 + 1.5, f"Sentence number {i} of a long subtitle file.") for i in range(1400)]
    data = srt(*cues)
    assert len(data) > INLINE_SRT_BYTES
    task = srt_media_start(owner=user, srt_file=upload(data), engine="rules")
    stored = task.args["srt_name"]
    assert stored.startswith(f"{SRT_STORAGE_DIR}/") and "srt_text" not in task.args and "talk" not in stored
    result = completed_result(task)
    assert_cover(result, 1400)
    assert not default_storage.exists(stored)


def test_a_failed_task_keeps_its_stored_srt_and_a_retry_completes(user, settings, fake_openai):  # noqa: ANN001, F811
    cues = [(i * 2.0, i * 2.0 + 1.5, f"Sentence number {i} of a long subtitle file.") for i in range(1400)]
    settings.TASK_BACKEND = "thread"  # no manager started: the task waits until run_pending_inline
    settings.OPENAI_API_KEY = fake_openai.api_key
    settings.OPENAI_BASE_URL = fake_openai.base_url
    task = srt_media_start(owner=user, srt_file=upload(srt(*cues)), engine="openai")
    settings.OPENAI_API_KEY = ""  # the key went away before a worker ran it
    run_pending_inline()
    task = finished(task)
    assert task.status == "failed" and "OPENAI_API_KEY" in task.error_message, task.error_message
    assert default_storage.exists(task.args["srt_name"])
    settings.OPENAI_API_KEY = fake_openai.api_key
    retry = task_retry(task=task)
    run_pending_inline()
    result = completed_result(retry)
    assert result["engine"] == "openai" and len(result["paragraphs"]) == 700  # the fake pairs lines
    assert not default_storage.exists(task.args["srt_name"])


def test_a_resumed_attempt_skips_the_steps_already_done(user):  # noqa: ANN001
    """An interrupted attempt left `transcribing` completed: the next attempt uses its kept result."""
    task = srt_media_start(owner=user, srt_file=upload(srt(*TALK)), engine="rules")
    first = completed_result(task)
    # Put the task back as a restart would after its first step, with different kept cues and no SRT.
    kept = [{"index": 1, "start": 0.0, "end": 1.0, "text": "Only this one."}]
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="pending", progress=60, result=None, finished_at=None, args={"srt_name": "srt_media/gone.srt"}
    )
    SubTask.objects.filter(task=task, name="transcribing").update(
        status="completed",
        progress=1,
        result={"source": "srt", "cues": kept, "duration_s": None, "language": None, "transcriber": None},
    )
    SubTask.objects.filter(task=task).exclude(name="transcribing").update(status="pending", progress=0, result=None)
    assert run_pending_inline() == 1
    resumed = completed_result(task)
    assert first["cues"] == 4 and resumed["cues"] == 1
    assert resumed["paragraphs"][0]["text"] == "Only this one."


def test_refusals_store_nothing(user, other_user):  # noqa: ANN001
    foreign = video_import(owner=other_user, path=cached_clip(seconds=1, width=320, height=240))
    with pytest.raises(InvalidInputError) as bad_line:
        srt_media_start(owner=user, srt_file=upload(b"1\n00:00:00,000 --> 00:00:01,000\nok\n\n2\n00:00:01 --> x\nno\n"))
    assert bad_line.value.extra["line"] == 6 and "line 6" in bad_line.value.detail
    with pytest.raises(InvalidInputError, match="No video"):
        srt_media_start(owner=user, srt_file=upload(srt(*TALK)), video_id=foreign.pk)
    with pytest.raises(InvalidInputError, match="either media_file or video_id"):
        srt_media_start(
            owner=user, media_file=SimpleUploadedFile("a.mp4", b"x"), video_id=foreign.pk, srt_file=upload(srt(*TALK))
        )
    with pytest.raises(InvalidInputError, match="srt_file"):
        srt_media_start(owner=user)
    assert not ProcessingTask.objects.exists()
    assert not default_storage.exists(SRT_STORAGE_DIR) or not default_storage.listdir(SRT_STORAGE_DIR)[1]


def test_media_without_audio_needs_an_srt(user):  # noqa: ANN001
    silent = video_import(owner=user, path=cached_clip(seconds=1, width=320, height=240, audio=False))
    with pytest.raises(InvalidInputError, match="no audio track"):
        srt_media_start(owner=user, video_id=silent.pk)
    result = completed_result(srt_media_start(owner=user, video_id=silent.pk, srt_file=upload(srt(*TALK))))
    assert_cover(result, 4)


# The OpenAI paragraph engine, against the local fake server ---------------------------------------
@pytest.fixture
def openai_paragraphs(settings, fake_openai: FakeOpenAI) -> FakeOpenAI:  # noqa: ANN001, F811
    settings.OPENAI_API_KEY = fake_openai.api_key
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.PARAGRAPH_ENGINE = "openai"
    return fake_openai


def test_openai_invalid_json_then_repaired(user, openai_paragraphs: FakeOpenAI):  # noqa: ANN001
    openai_paragraphs.script_chat(
        chat_reply("Sure! Here are your paragraphs: [[1, 2], [3, 4]]"),
        chat_reply(json.dumps({"paragraphs": [[1, 2, 3], [4]]})),
    )
    result = completed_result(srt_media_start(owner=user, srt_file=upload(srt(*TALK))))
    assert result["engine"] == "openai"
    assert [p["segment_indexes"] for p in result["paragraphs"]] == [[1, 2, 3], [4]]
    assert result["paragraphs"][0]["text"] == "Hello and welcome. This is a short talk. It has two parts"
    assert not any(w["code"] == "paragraph_engine_fallback" for w in result["warnings"])
    chats = openai_paragraphs.chat_requests
    assert len(chats) == 2
    repair = chats[1].json["messages"][-1]["content"]
    assert "not valid JSON" in repair


def test_openai_wrong_twice_falls_back_to_rules(user, openai_paragraphs: FakeOpenAI):  # noqa: ANN001
    openai_paragraphs.script_chat(
        chat_reply(json.dumps({"paragraphs": [[1, 2], [4]]})),  # line 3 missing
        chat_reply(json.dumps({"paragraphs": [[2, 1], [3, 4]]})),  # out of order
    )
    result = completed_result(srt_media_start(owner=user, srt_file=upload(srt(*TALK))))
    assert result["engine"] == "rules"
    warning = next(w for w in result["warnings"] if w["code"] == "paragraph_engine_fallback")
    assert "openai" in warning["message"] and "rules" in warning["message"]
    assert len(openai_paragraphs.chat_requests) == 2
    assert_cover(result, 4)


def test_openai_api_error_falls_back_to_rules(user, openai_paragraphs: FakeOpenAI):  # noqa: ANN001
    openai_paragraphs.script_chat(error_reply(400, "This model does not exist.", "invalid_request_error"))
    result = completed_result(srt_media_start(owner=user, srt_file=upload(srt(*TALK))))
    assert result["engine"] == "rules"
    warning = next(w for w in result["warnings"] if w["code"] == "paragraph_engine_fallback")
    assert "HTTP 400" in warning["message"] and "does not exist" in warning["message"]
    assert_cover(result, 4)


def test_request_may_choose_the_rules_engine_over_the_setting(user, openai_paragraphs: FakeOpenAI):  # noqa: ANN001
    result = completed_result(srt_media_start(owner=user, srt_file=upload(srt(*TALK)), engine="rules"))
    assert result["engine"] == "rules" and openai_paragraphs.chat_requests == []


def test_openai_engine_refused_at_request_time_without_a_key(user, settings):  # noqa: ANN001
    settings.OPENAI_API_KEY = ""
    with pytest.raises(InvalidInputError, match="OPENAI_API_KEY"):
        srt_media_start(owner=user, srt_file=upload(srt(*TALK)), engine="openai")
    assert OpenAIChatParagraphEngine.name == "openai"


# Media only: transcription by local Whisper on espeak-ng speech ----------------------------------
@pytest.mark.slow
def test_media_only_transcribes_then_paragraphs(user, tmp_path: Path, settings):  # noqa: ANN001
    settings.TRANSCRIPTION_ENGINE = "whisper"
    said = "The quick brown fox jumps over the lazy dog. We watch the river from the old bridge."
    speech = make_speech_wav(tmp_path / "speech.wav", said)
    video = video_import(owner=user, path=speech, title="Fox")
    result = completed_result(srt_media_start(owner=user, video_id=video.pk, engine="rules"))
    assert result["source"] == "transcript" and result["transcription_engine"] == "whisper"
    assert result["cues"] >= 1
    assert_cover(result, result["cues"])
    heard = " ".join(p["text"] for p in result["paragraphs"])
    assert word_error_rate(said, heard) <= 0.3, heard
    assert all(p["end"] <= video.duration_s for p in result["paragraphs"])
