"""TASK_BACKEND=celery with real Celery worker processes on a real Redis: every job kind, cancel,
SIGKILLed workers, limits. The test process queues (as a web process would) and reads the database."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
from celery import Celery
from django.core.files.uploadedfile import SimpleUploadedFile

from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.services.compositions import composition_start
from videos.services.imports import import_start
from videos.services.pipeline import reprocess_start, transcription_start
from videos.services.srt_media import srt_media_start
from videos.services.tasks import task_cancel, task_submit
from videos.taskmanager.recovery import pid_alive
from videos.tests import clips
from videos.tests.celery.conftest import CeleryWorker
from videos.tests.jobs.test_transcription import clip_video, speech_clip
from videos.tests.jobs.test_transcription_restart import ENV as OFFLINE_ENV
from videos.tests.media_server import MediaServer
from videos.tests.taskmanager.helpers import wait_for
from videos.tests.taskmanager.test_processes import free_port, markers

pytestmark = pytest.mark.slow
# Offline engines; a long lease, so that only a dead process on this host explains a quick recovery.
WORKER_ENV = {**OFFLINE_ENV, "IMPORT_ALLOW_PRIVATE_NETWORKS": "1"}
SRT = "1\n00:00:00,000 --> 00:00:01,000\nHello there.\n\n2\n00:00:01,000 --> 00:00:02,000\nGeneral Kenobi.\n"


def finished(*tasks: ProcessingTask, timeout: float) -> list[ProcessingTask]:
    ids = [t.pk for t in tasks]

    def done() -> bool:
        return not ProcessingTask.objects.filter(pk__in=ids, status__in=ProcessingTask.ACTIVE).exists()

    assert wait_for(done, timeout=timeout, interval=0.1), list(
        ProcessingTask.objects.filter(pk__in=ids).values_list("kind", "status", "stage")
    )
    return [ProcessingTask.objects.get(pk=pk) for pk in ids]


def pid_of(task: ProcessingTask) -> int:
    return int(task.worker_id.split(":")[1])


def owner_of(task: ProcessingTask, workers: list[CeleryWorker]) -> CeleryWorker:
    return next(w for w in workers if pid_of(task) in w.pool_pids())


def running(task: ProcessingTask, check: Callable[[ProcessingTask], bool] = lambda t: True, timeout: float = 60):
    def ready() -> bool:
        row = ProcessingTask.objects.get(pk=task.pk)
        return row.status == "processing" and check(row)

    assert wait_for(ready, timeout=timeout, interval=0.05), ProcessingTask.objects.get(pk=task.pk).stage
    return ProcessingTask.objects.get(pk=task.pk)


def test_every_job_kind_runs_end_to_end_on_two_celery_workers(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers, tmp_path, settings
):
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True
    workers = start_workers(2, **WORKER_ENV)
    a, b = clip_video(user), clip_video(user)
    spoken, spoken_again = clip_video(user, speech_clip()), clip_video(user, speech_clip())
    site = tmp_path / "site"
    site.mkdir()
    clips.make_clip(site / "clip.mp4", seconds=2)
    with MediaServer(site) as media:
        tasks = finished(
            composition_start(owner=user, videos=[a.pk, b.pk]),
            transcription_start(owner=user, video=spoken),
            reprocess_start(owner=user, video=spoken_again),
            srt_media_start(owner=user, srt_file=SimpleUploadedFile("talk.srt", SRT.encode()), video_id=b.pk),
            import_start(owner=user, url=media.url("clip.mp4"), transcribe=False),
            timeout=240,
        )
    assert [(t.kind, t.status, t.error_message or "") for t in tasks] == [
        (kind, "completed", "") for kind in ("composition", "transcription", "reprocess", "srt_media", "import")
    ]
    assert {owner_of(t, workers).name for t in tasks} == {"w1", "w2"}  # both workers took jobs
    composed = Video.objects.get(pk=tasks[0].result["video_id"])
    assert composed.status == "ready" and abs(composed.duration_s - a.duration_s - b.duration_s) < 0.2
    assert SubtitleSegment.objects.filter(video=spoken).count() == tasks[1].result["segments"] > 0
    assert Video.objects.get(pk=spoken_again.pk).status == "ready" and tasks[2].result["segments"] > 0
    assert tasks[3].result["paragraphs"]
    imported = Video.objects.get(pk=tasks[4].video_id)
    assert imported.status == "uploaded" and imported.file and imported.duration_s > 1.5  # not transcribed


def test_the_whisper_model_is_loaded_once_per_worker_process(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers
):
    (worker,) = start_workers(1, **WORKER_ENV)
    videos = [clip_video(user, speech_clip()) for _ in range(3)]
    tasks = finished(*[transcription_start(owner=user, video=v) for v in videos], timeout=180)
    assert {t.status for t in tasks} == {"completed"} and len({pid_of(t) for t in tasks}) == 1
    assert worker.text().count("whisper.loaded") == 1


def test_a_pending_task_cancelled_is_revoked_and_never_runs(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers, settings
):
    (worker,) = start_workers(1, **WORKER_ENV)
    busy = task_submit(owner=user, kind="test_sleep", args={"seconds": 1.5})
    running(busy)
    waiting = task_submit(owner=user, kind="test_noop")
    assert task_cancel(task=waiting).status == "cancelled"
    busy, waiting = finished(busy, waiting, timeout=60)
    assert busy.status == "completed" and waiting.attempts == 0
    assert wait_for(lambda: f"Discarding revoked task: montage.run_task[{waiting.pk}]" in worker.text(), timeout=10)
    assert f"task.started task_id={waiting.pk}" not in worker.text()


def test_a_running_composition_cancelled_stops_with_its_ffmpeg_and_the_worker_lives_on(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers
):
    (worker,) = start_workers(1, **WORKER_ENV, FFMPEG_PRESET="placebo")
    a, b = clip_video(user, seconds=4), clip_video(user, seconds=4, width=160, height=120)
    task = composition_start(owner=user, videos=[a.pk, b.pk])
    row = running(task, lambda t: any(entry.get("pids") for entry in t.attempts_log), timeout=60)
    children = [pid for entry in row.attempts_log for pid in entry.get("pids", [])]
    pool = worker.pool_pids()
    assert task_cancel(task=task, wait=2.0).status == "cancelled"
    assert wait_for(lambda: not any(pid_alive(pid) for pid in children), timeout=2), children
    assert worker.proc.poll() is None and worker.pool_pids() == pool  # a DB flag, not a hard kill
    (after,) = finished(task_submit(owner=user, kind="test_noop"), timeout=30)
    assert after.status == "completed" and pid_of(after) in pool


def test_a_worker_sigkilled_mid_transcription_the_other_finishes_it_once(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers
):
    workers = start_workers(2, **WORKER_ENV)
    video = clip_video(user, speech_clip(repeat=5))
    task = transcription_start(owner=user, video=video)
    row = running(task, lambda t: t.stage == "transcribing")
    victim = owner_of(row, workers)
    survivor = next(w for w in workers if w is not victim)
    victim.kill()
    (task,) = finished(task, timeout=240)
    assert task.status == "completed" and task.attempts == 2, task.error_message
    assert pid_of(task) in survivor.pool_pids() and "task.recovered" in survivor.text()
    first, second = task.attempts_log
    assert first["outcome"] == "interrupted" and first["ended_at"] <= second["started_at"]  # never twice at once
    assert Video.objects.get(pk=video.pk).status == "ready"
    assert SubtitleSegment.objects.filter(video=video).count() == task.result["segments"] > 3


def test_a_pool_process_sigkilled_resumes_after_its_last_step_in_the_same_worker(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers, tmp_path
):
    """Celery gives the message back at once (reject on worker lost); our recovery frees the row."""
    (worker,) = start_workers(1, **WORKER_ENV)
    marks = tmp_path / "marks"
    marks.mkdir()
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 1.5, "marker_dir": str(marks)})
    row = running(task, lambda t: t.stage == "second")
    os.kill(pid_of(row), signal.SIGKILL)
    (task,) = finished(task, timeout=60)
    assert task.status == "completed" and task.attempts == 2
    assert markers(marks) == ["first.attempt1", "second.attempt1", "second.attempt2"]  # first not redone
    assert pid_of(task) != pid_of(row) and pid_of(task) in worker.pool_pids()
    # Celery gave the message back and recovery sent a new one: one of the two found nothing to claim.
    assert wait_for(lambda: f"celery.skipped task_id={task.pk}" in worker.text(), timeout=10)


def test_a_duplicate_delivery_is_acknowledged_without_running(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers
):
    from videos.taskmanager.celery_backend import send

    workers = start_workers(2, **WORKER_ENV)
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.5})
    running(task)
    assert send(task.pk)  # the same id again while it runs (a redelivery, a resend)
    (task,) = finished(task, timeout=30)
    assert task.status == "completed" and task.attempts == 1

    def logs() -> str:
        return "".join(w.text() for w in workers)

    assert wait_for(lambda: f"celery.skipped task_id={task.pk}" in logs(), timeout=10)
    assert logs().count(f"task.started task_id={task.pk}") == 1


def test_a_worker_sigkilled_on_the_last_attempt_fails_the_task_clearly(  # noqa: ANN001
    transactional_db, user, celery_backend, start_workers
):
    workers = start_workers(2, **WORKER_ENV, TASK_MAX_ATTEMPTS="1")
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 5.0})
    owner_of(running(task), workers).kill()
    (task,) = finished(task, timeout=30)
    assert task.status == "failed" and task.attempts == 1
    assert task.error_message.startswith("Interrupted") and "attempt 1 of 1" in task.error_message


def test_a_task_whose_message_was_lost_is_sent_again_and_runs(  # noqa: ANN001
    transactional_db, user, start_workers, settings
):
    """Queued while the broker was unreachable (here: queued with no message at all)."""
    (worker,) = start_workers(1, **{**WORKER_ENV, "TASK_LEASE_SECONDS": "2"})
    settings.TASK_BACKEND = "threads"  # the row commits, no message is sent
    task = task_submit(owner=user, kind="test_noop")
    (task,) = finished(task, timeout=30)
    assert task.status == "completed" and task.attempts == 1
    assert "celery.resent count=1" in worker.text()


def test_a_broker_that_cannot_be_reached_leaves_the_task_queued_not_lost(transactional_db, user, settings, caplog):  # noqa: ANN001
    """The row is committed first; the failed send is logged and the workers' resender sends it later."""
    settings.TASK_BACKEND = "celery"
    settings.TASK_CELERY_APP = "videos.tests.celery.test_celery_backend.UNREACHABLE"
    task = task_submit(owner=user, kind="test_noop")
    assert ProcessingTask.objects.get(pk=task.pk).status == "pending"
    assert f"celery.send_failed task_id={task.pk}" in caplog.text


UNREACHABLE = Celery("unreachable", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
UNREACHABLE.conf.broker_connection_retry = False
