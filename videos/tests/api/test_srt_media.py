"""srt_media over HTTP: real uploads, real TaskManager threads, real ffmpeg/local Whisper, a local OpenAI server."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from videos.engines.transcription.quality import normalize_words
from videos.models import ProcessingTask, Video
from videos.services.videos import video_import
from videos.taskmanager.context import task_tmp_dir
from videos.tests.clips import make_clip, make_speech_wav
from videos.tests.fake_openai import FakeOpenAI, default_chat, fake_openai  # noqa: F401
from videos.tests.speech import HARVARD_SENTENCES
from videos.tests.taskmanager.helpers import wait_for

URL = "/api/v1/process/srt_media/"
SYNC_URL = "/api/v1/process/srt_media/sync"
SENTENCE = (
    "Glue the sheet to the dark blue background. Rice is often served in round bowls. "
    "The juice of lemons makes fine punch. The boy was there when the sun rose."
)
ORDER = ["queued", "transcribing", "processing_llm", "aligning", "completed"]


# Inputs ------------------------------------------------------------------------------------------
def srt(*cues: tuple[float, float, str]) -> bytes:
    def clock(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "".join(f"{i}\n{clock(a)} --> {clock(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues, 1)).encode()


COVERING = [
    (0.0, 0.45, "Good morning."),
    (0.5, 0.95, "Today we look at a test pattern"),
    (1.0, 1.45, "and listen to a tone."),
    (1.5, 2.0, "That is all."),
]


def srt_upload(data: bytes, name: str = "talk.srt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/x-subrip")


def file_upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/octet-stream")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2 s test-pattern clip, a ~7 s clip with espeak-ng speech, and ~2 min of speech (seconds to transcribe)."""
    root = tmp_path_factory.mktemp("srt-media")
    speech = make_speech_wav(root / "speech.wav", SENTENCE)
    spoken = root / "spoken.mp4"
    subprocess.run(
        [django_settings.FFMPEG_BINARY, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=320x240:rate=5", "-i", str(speech), "-shortest", "-c:v", "libx264", "-preset", "veryfast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(spoken)],
        check=True,
    )  # fmt: skip
    return {
        "clip": make_clip(root / "clip.mp4", seconds=2, width=320, height=240),
        "spoken": spoken,
        "long_speech": make_speech_wav(root / "long.wav", " ".join(HARVARD_SENTENCES * 2)),
    }


@pytest.fixture
def manager(transactional_db, settings) -> Iterator:  # noqa: ANN001
    """The thread backend with a TaskManager the test starts itself (so `queued` can be seen first)."""
    from videos.taskmanager.manager import get_task_manager, reset_task_manager

    settings.TASK_BACKEND = "thread"
    reset_task_manager()
    yield get_task_manager()
    reset_task_manager()


@pytest.fixture
def slow_chat(settings, fake_openai: FakeOpenAI) -> FakeOpenAI:  # noqa: ANN001, F811
    """The OpenAI paragraph engine on the local server, answering after 0.8 s (so the stage can be seen)."""
    settings.OPENAI_API_KEY = fake_openai.api_key
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.PARAGRAPH_ENGINE = "openai"
    fake_openai.chat_default = lambda request: dataclasses.replace(default_chat(request), delay=0.8)
    return fake_openai


# Checks ------------------------------------------------------------------------------------------
def assert_error(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"], body
    return body


def assert_cover(paragraphs: list[dict], cue_count: int, duration: float | None = None) -> None:
    assert sorted(i for p in paragraphs for i in p["segment_indexes"]) == list(range(1, cue_count + 1))
    assert [p["index"] for p in paragraphs] == list(range(1, len(paragraphs) + 1))
    assert [p["start"] for p in paragraphs] == sorted(p["start"] for p in paragraphs)
    for p in paragraphs:
        assert set(p) >= {"index", "start", "end", "text", "segment_indexes"} and p["text"]
        assert 0 <= p["start"] <= p["end"] <= (duration if duration is not None else float("inf"))


def poll_until_finished(api, task_id: str, timeout: float = 60.0) -> tuple[list[str], list[float], dict]:  # noqa: ANN001
    """Stages seen (consecutive repeats dropped) and progress values, polling /status until the task ends."""
    stages: list[str] = []
    progress: list[float] = []
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/api/v1/tasks/{task_id}/status").json()
        progress.append(body["progress"])
        if not stages or stages[-1] != body["stage"]:
            stages.append(body["stage"])
        if body["status"] in {"completed", "failed", "cancelled"} or time.monotonic() > deadline:
            return stages, progress, body
        time.sleep(0.03)


def media_root_files() -> list[Path]:
    return [p for p in Path(django_settings.MEDIA_ROOT).rglob("*") if p.is_file()]


# The asynchronous flow ---------------------------------------------------------------------------
@pytest.mark.slow
def test_full_flow_srt_and_uploaded_clip(api, user, manager, slow_chat, media):  # noqa: ANN001
    response = api.post(
        URL, {"srt_file": srt_upload(srt(*COVERING)), "media_file": file_upload(media["clip"])}, format="multipart"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "srt_media" and body["status"] == "pending"
    assert response["Location"] == body["status_url"] == f"/api/v1/tasks/{body['task_id']}/"
    video = Video.objects.get(pk=body["video_id"], owner=user)  # the upload became one of the user's videos
    assert api.get(f"/api/v1/videos/{video.pk}/").status_code == 200

    waiting = api.get(f"/api/v1/tasks/{body['task_id']}/status").json()
    assert (waiting["status"], waiting["stage"], waiting["progress"]) == ("pending", "queued", 0)
    assert [(s["name"], s["status"]) for s in waiting["subtasks"]] == [
        ("transcribing", "pending"),
        ("processing_llm", "pending"),
        ("aligning", "pending"),
    ]
    assert sum(s["weight"] for s in waiting["subtasks"]) == 100

    manager.start()
    stages, progress, final = poll_until_finished(api, body["task_id"])
    # The first poll after start may already find the worker in its first step (each request also counts
    # its throttle in the database now): the stages seen go forward from the `queued` read above.
    if stages[0] != waiting["stage"]:
        stages.insert(0, waiting["stage"])
    assert final["status"] == "completed", final["error_message"]
    # "queued" was read above; a poll after the start may already find a later step (claims take milliseconds).
    order = ["queued", "transcribing", "processing_llm", "aligning", "completed"]
    assert stages == sorted(stages, key=order.index) and stages[-1] == "completed" and "processing_llm" in stages
    assert stages == sorted(stages, key=ORDER.index), stages  # never back to an earlier stage
    assert progress == sorted(progress) and progress[-1] == 100 and all(p < 100 for p in progress[:-1])
    subtasks = final["subtasks"]
    assert all(s["status"] == "completed" and s["progress"] == 100 for s in subtasks)
    for earlier, later in zip(subtasks, subtasks[1:], strict=False):
        assert earlier["finished_at"] <= later["started_at"]

    result = api.get(f"/api/v1/tasks/{body['task_id']}/result")
    assert result.status_code == 200
    payload = result.json()["result"]
    assert_cover(payload["paragraphs"], 4, duration=video.duration_s)
    assert payload["engine"] == "openai" and payload["video_id"] == str(video.pk) and payload["cues"] == 4
    assert [p["segment_indexes"] for p in payload["paragraphs"]] == [[1, 2], [3, 4]]  # the fake pairs lines
    assert payload["paragraphs"][1] == {
        "index": 2,
        "start": 1.0,
        "end": 2.0,
        "text": "and listen to a tone. That is all.",
        "segment_indexes": [3, 4],
    }
    mine = api.get("/api/v1/users/me/tasks?include_completed=true").json()
    assert [t["task_id"] for t in mine["completed_tasks"]] == [body["task_id"]]
    assert not task_tmp_dir(body["task_id"]).exists()


@pytest.mark.slow
def test_media_only_transcribes_an_espeak_clip(api, user, transactional_db, immediate_backend, settings, media):  # noqa: ANN001
    settings.TRANSCRIPTION_ENGINE = "whisper"
    response = api.post(URL, {"media_file": file_upload(media["spoken"]), "engine": "rules"}, format="multipart")
    assert response.status_code == 202, response.content
    task_id = response.json()["task_id"]
    final = api.get(f"/api/v1/tasks/{task_id}/").json()
    assert final["status"] == "completed", final["error_message"]
    result = api.get(f"/api/v1/tasks/{task_id}/result").json()["result"]
    assert result["source"] == "transcript" and result["transcription_engine"] == "whisper"
    video = Video.objects.get(pk=response.json()["video_id"])
    assert_cover(result["paragraphs"], result["cues"], duration=video.duration_s)
    words = set(normalize_words(" ".join(p["text"] for p in result["paragraphs"])))
    assert len(words & set(normalize_words(SENTENCE))) >= 0.6 * len(set(normalize_words(SENTENCE))), words


def test_srt_only_and_video_id(api, user, transactional_db, immediate_backend, media):  # noqa: ANN001
    only = api.post(URL, {"srt_file": srt_upload(srt(*COVERING, (2.5, 3.0, "Beyond.")))}, format="multipart")
    assert only.status_code == 202 and only.json()["video_id"] is None
    result = api.get(f"/api/v1/tasks/{only.json()['task_id']}/result").json()["result"]
    assert_cover(result["paragraphs"], 5)
    assert result["warnings"] == []

    video = video_import(owner=user, path=media["clip"])
    named = api.post(
        URL, {"srt_file": srt_upload(srt(*COVERING, (2.5, 3.0, "Beyond."))), "video_id": str(video.pk)},
        format="multipart",
    )  # fmt: skip
    assert named.status_code == 202 and named.json()["video_id"] == str(video.pk)
    result = api.get(f"/api/v1/tasks/{named.json()['task_id']}/result").json()["result"]
    assert_cover(result["paragraphs"], 5, duration=video.duration_s)
    assert result["warnings"][0]["code"] == "cues_after_media_end" and result["warnings"][0]["cues"] == [5]
    assert Video.objects.filter(owner=user).count() == 1  # video_id reuses, never copies


# Refusals ----------------------------------------------------------------------------------------
def test_malformed_srt_is_400_naming_the_line_and_stores_nothing(api, user, transactional_db, media):  # noqa: ANN001
    bad = b"\xef\xbb\xbf1\r\n00:00:00,000 --> 00:00:01,000\r\nHello\r\n\r\n2\r\n00:00:01,000 -> 00:00:02,000\r\nBye\r\n"
    response = api.post(
        URL, {"srt_file": srt_upload(bad), "media_file": file_upload(media["clip"])}, format="multipart"
    )
    body = assert_error(response, 400, "invalid")
    assert "line 6" in body["detail"] and body["line"] == 6
    assert "Line 6" in body["errors"]["srt_file"][0]
    assert not Video.objects.exists() and not ProcessingTask.objects.exists()
    assert media_root_files() == []


def test_bad_combinations_are_400(api, user, other_user, transactional_db, media):  # noqa: ANN001
    theirs = video_import(owner=other_user, path=media["clip"])
    foreign = api.post(URL, {"srt_file": srt_upload(srt(*COVERING)), "video_id": str(theirs.pk)}, format="multipart")
    assert "video_id" in assert_error(foreign, 400, "invalid")["errors"]
    unknown = api.post(URL, {"video_id": "00000000-0000-0000-0000-000000000000"}, format="json")
    assert_error(unknown, 400, "invalid")
    assert_error(api.post(URL, {}, format="multipart"), 400, "invalid")
    both = api.post(URL, {"media_file": file_upload(media["clip"]), "video_id": str(theirs.pk)}, format="multipart")
    assert_error(both, 400, "invalid")
    garbage = api.post(URL, {"media_file": SimpleUploadedFile("x.mp4", b"not a video" * 100)}, format="multipart")
    assert_error(garbage, 400, "unsupported_media")
    silent = make_clip(Path(django_settings.MEDIA_ROOT).parent / "silent.mp4", seconds=1, audio=False)
    no_audio = api.post(URL, {"media_file": file_upload(silent)}, format="multipart")
    assert "no audio track" in assert_error(no_audio, 400, "invalid")["detail"]
    silent.unlink()
    assert not ProcessingTask.objects.exists() and not Video.objects.filter(owner=user).exists()
    assert assert_error(api.post(URL, {"srt_file": srt_upload(b"")}, format="multipart"), 400, "invalid")["line"] == 1


def test_one_active_task_per_video_unless_forced(api, user, manager, media):  # noqa: ANN001
    video = video_import(owner=user, path=media["clip"])
    form = {"srt_file": srt_upload(srt(*COVERING)), "video_id": str(video.pk)}
    first = api.post(URL, form, format="multipart")
    assert first.status_code == 202
    form["srt_file"] = srt_upload(srt(*COVERING))
    conflict = assert_error(api.post(URL, form, format="multipart"), 409, "task_conflict")
    assert conflict["task_id"] == first.json()["task_id"]
    form["srt_file"], form["force"] = srt_upload(srt(*COVERING)), "true"
    forced = api.post(URL, form, format="multipart")
    assert forced.status_code == 202
    assert ProcessingTask.objects.get(pk=first.json()["task_id"]).status == "cancelled"


# /sync -------------------------------------------------------------------------------------------
def test_sync_answers_200_with_paragraphs_and_records_the_task(api, user, manager, media):  # noqa: ANN001
    manager.start()
    video = video_import(owner=user, path=media["clip"])
    late = [*COVERING, (2.2, 2.8, "After the end.")]
    response = api.post(SYNC_URL, {"srt_file": srt_upload(srt(*late)), "video_id": str(video.pk)}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert_cover(body["paragraphs"], 5, duration=video.duration_s)
    assert body["warnings"][0]["cues"] == [5] and body["video_id"] == str(video.pk)
    listed = api.get("/api/v1/tasks/?kind=srt_media").json()["results"]
    assert [(t["task_id"], t["status"]) for t in listed] == [(body["task_id"], "completed")]
    with_slash = api.post(SYNC_URL + "/", {"srt_file": srt_upload(srt(*COVERING))}, format="multipart")
    assert with_slash.status_code == 200 and len(with_slash.json()["paragraphs"]) >= 1


def ffmpeg_children() -> list[int]:
    found = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "ffmpeg":
                    found.append(int(pid))
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_sync_past_the_timeout_is_504_and_leaves_nothing_running(api, user, manager, settings, media):  # noqa: ANN001
    settings.TRANSCRIPTION_ENGINE = "whisper"
    settings.SYNC_PROCESS_TIMEOUT_SECONDS = 1
    manager.start()
    video = video_import(owner=user, path=media["long_speech"])  # ~2 min of speech: ~5 s to transcribe here
    started = time.monotonic()
    response = api.post(SYNC_URL, {"video_id": str(video.pk), "engine": "rules"}, format="json")
    elapsed = time.monotonic() - started
    body = assert_error(response, 504, "timeout")
    assert "1 s" in body["detail"] and body["cancelled"] is True
    # the timeout, then the cancel (ffmpeg killed at once; the engine's helper thread is abandoned at once)
    assert 1 <= elapsed < 3, elapsed
    task = ProcessingTask.objects.get(pk=body["task_id"])
    assert task.status == "cancelled" and task.video_id == video.pk
    assert not ProcessingTask.objects.filter(status__in=ProcessingTask.ACTIVE).exists()
    assert manager.stats()["busy"] == 0 or wait_for(lambda: manager.stats()["busy"] == 0, 2)
    assert not task_tmp_dir(task.pk).exists()
    assert ffmpeg_children() == []
    assert api.get(f"/api/v1/tasks/{task.pk}/result").status_code == 409


# Cancel ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_delete_cancels_a_running_task(api, user, manager, settings, media):  # noqa: ANN001
    settings.TRANSCRIPTION_ENGINE = "whisper"
    manager.start()
    response = api.post(URL, {"media_file": file_upload(media["long_speech"])}, format="multipart")
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    status_url = f"/api/v1/tasks/{task_id}/"
    # the audio is out (15% of the step): Whisper is decoding, the slow part to interrupt
    assert wait_for(lambda: api.get(status_url).json()["progress"] >= 60 * 0.15, 15)
    cancelled_at = time.monotonic()
    answer = api.delete(status_url)
    assert answer.status_code == 202 and answer.json()["cancel_requested"] is True
    # the job stops waiting for the engine at once: the task is cancelled within the API's second (+ load margin)
    assert wait_for(lambda: api.get(status_url).json()["status"] == "cancelled", 2)
    latency = time.monotonic() - cancelled_at
    assert latency < 2, latency
    final = api.get(status_url).json()
    assert final["progress"] < 100 and final["finished_at"]
    assert final["subtasks"][0]["status"] == "cancelled", final["subtasks"]
    assert not task_tmp_dir(task_id).exists() and ffmpeg_children() == []
    assert_error(api.delete(status_url), 409, "not_cancellable")


def test_sync_times_out_while_still_queued(api, user, manager, settings):  # noqa: ANN001
    """No worker free (none started here): past the timeout the queued task is cancelled, 504."""
    settings.SYNC_PROCESS_TIMEOUT_SECONDS = 0.3
    started = time.monotonic()
    response = api.post(SYNC_URL, {"srt_file": srt_upload(srt(*COVERING))}, format="multipart")
    body = assert_error(response, 504, "timeout")
    assert time.monotonic() - started < 2
    assert ProcessingTask.objects.get(pk=body["task_id"]).status == "cancelled" and body["cancelled"] is True


def test_sync_failure_is_500_with_the_reason(api, user, transactional_db, immediate_backend, settings, media):  # noqa: ANN001
    settings.TRANSCRIPTION_ENGINE = "whisper"
    video = video_import(owner=user, path=media["spoken"])
    Path(video.file.path).unlink()  # the stored file vanished: ffmpeg cannot read it
    body = assert_error(api.post(SYNC_URL, {"video_id": str(video.pk)}, format="json"), 500, "processing_failed")
    assert body["detail"] == "The processing failed: The video's file is missing from storage; upload it again."
    assert ProcessingTask.objects.get(pk=body["task_id"]).status == "failed"


def test_srt_over_10_mb_is_413(api, user, transactional_db):  # noqa: ANN001
    big = srt_upload(b"1\n00:00:00,000 --> 00:00:01,000\n" + b"x" * (10 * 1024 * 1024) + b"\n")
    assert_error(api.post(URL, {"srt_file": big}, format="multipart"), 413, "file_too_large")
    assert not ProcessingTask.objects.exists() and media_root_files() == []
