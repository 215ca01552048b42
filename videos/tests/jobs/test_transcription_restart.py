"""A real server SIGKILLed while it transcribes: the task resumes after its last completed step, or fails cleanly.

Local Whisper runs inside a real `manage.py runserver --noreload` process; the test reads the shared
test database and the server's API.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from videos.models import ProcessingTask, SubTask, SubtitleSegment, Video
from videos.services.pipeline import reprocess_start, transcription_start
from videos.services.transcripts import AUDIO_NAME
from videos.taskmanager.context import task_tmp_dir
from videos.tests.jobs.test_transcription import clip_video, speech_clip
from videos.tests.taskmanager.helpers import wait_for
from videos.tests.taskmanager.test_processes import free_port, runserver

pytestmark = pytest.mark.slow
# Offline engines, and a long lease: only start-up recovery (a dead pid on this host) explains a resume.
ENV = {
    "TRANSCRIPTION_ENGINE": "whisper",
    "PARAGRAPH_ENGINE": "rules",
    "OPENAI_API_KEY": "",
    "TASK_LEASE_SECONDS": "300",
    "TASK_POLL_SECONDS": "0.2",
}


def step(task_id, name: str) -> SubTask:  # noqa: ANN001
    return SubTask.objects.get(task_id=task_id, name=name)


def test_a_transcription_killed_mid_engine_resumes_after_extraction(transactional_db, user, tmp_path):  # noqa: ANN001
    video = clip_video(user, speech_clip(repeat=5))  # ~50 s of speech: seconds of Whisper tiny.en (more under load)
    token = Token.objects.create(user=user).key
    log = tmp_path / "server.log"
    port = free_port()
    server = runserver(port, log, **ENV)
    readings: list[float] = []
    try:
        task = transcription_start(owner=user, video=video)

        def transcribing() -> bool:
            body = server.get(f"/api/v1/tasks/{task.pk}/", token)
            readings.append(body["progress"])
            return body["stage"] == "transcribing"

        assert wait_for(transcribing, timeout=60, interval=0.05), log.read_text()[-3000:]
        server.kill()
        extracted = step(task.pk, "extracting_audio")
        assert extracted.status == "completed" and step(task.pk, "transcribing").status == "processing"
        wav = task_tmp_dir(task.pk) / AUDIO_NAME
        assert extracted.result["wav"] == str(wav) and wav.is_file()  # scratch outlives the process
        assert Video.objects.get(pk=video.pk).status == "processing"  # the dead process's row, until recovery

        server = runserver(port, log, **ENV)

        def finished() -> bool:
            body = server.get(f"/api/v1/tasks/{task.pk}/", token)
            readings.append(body["progress"])
            return body["status"] in ("completed", "failed", "cancelled")

        assert wait_for(finished, timeout=240, interval=0.1), log.read_text()[-3000:]
    finally:
        server.stop()
    task.refresh_from_db()
    assert task.status == "completed", task.error_message
    assert task.attempts == 2 and "task.recovered" in log.read_text()
    again = step(task.pk, "extracting_audio")
    assert (again.started_at, again.finished_at) == (extracted.started_at, extracted.finished_at)  # not redone
    assert readings == sorted(readings) and readings[-1] == 100
    rows = list(SubtitleSegment.objects.filter(video=video).order_by("index").values_list("index", "start"))
    assert task.result["segments"] == len(rows) > 3
    assert [i for i, _ in rows] == list(range(1, len(rows) + 1))
    assert [s for _, s in rows] == sorted(s for _, s in rows)
    assert Video.objects.get(pk=video.pk).status == "ready"
    assert not Path(task_tmp_dir(task.pk)).exists()


def test_a_reprocess_killed_past_its_last_attempt_fails_cleanly_and_the_video_is_error(
    transactional_db,  # noqa: ANN001
    user,  # noqa: ANN001
    tmp_path,  # noqa: ANN001
):
    video = clip_video(user, speech_clip(repeat=5))
    log = tmp_path / "server.log"
    port = free_port()
    env = {**ENV, "TASK_MAX_ATTEMPTS": "1"}
    server = runserver(port, log, **env)
    try:
        task = reprocess_start(owner=user, video=video)
        assert wait_for(lambda: step(task.pk, "transcribing").status == "processing", timeout=60, interval=0.05)
        server.kill()
        assert Video.objects.get(pk=video.pk).status == "processing"
        server = runserver(port, log, **env)  # start-up recovery runs before the server answers
        assert wait_for(lambda: ProcessingTask.objects.get(pk=task.pk).is_finished, timeout=10)
    finally:
        server.stop()
    task.refresh_from_db()
    assert task.status == "failed" and task.error_message.startswith("Interrupted")
    assert "attempt 1 of 1" in task.error_message
    assert step(task.pk, "probing").status == "completed" and step(task.pk, "thumbnail").status == "cancelled"
    assert Video.objects.get(pk=video.pk).status == "error"
    assert not SubtitleSegment.objects.filter(video=video).exists()
