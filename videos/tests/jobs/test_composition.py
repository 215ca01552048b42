"""The composition job through the real task machinery: resume after a restart, reuse of stored probes, failures."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from videos.media.probe import probe
from videos.models import ProcessingTask, SubTask, Video
from videos.services.compositions import composition_start
from videos.services.videos import video_import
from videos.taskmanager.backends import run_pending_inline
from videos.taskmanager.context import task_tmp_dir
from videos.taskmanager.manager import get_task_manager, reset_task_manager
from videos.tests.clips import cached_clip
from videos.tests.taskmanager.helpers import wait_for, wait_status

pytestmark = pytest.mark.slow


def clip_video(owner, **kw) -> Video:  # noqa: ANN001
    return video_import(
        owner=owner, path=cached_clip(**{"seconds": 1, "width": 320, "height": 240, "fps": 25, "audio": True, **kw})
    )


def steps(task_id) -> dict[str, SubTask]:  # noqa: ANN001
    return {s.name: s for s in SubTask.objects.filter(task_id=task_id)}


def test_a_resumed_attempt_skips_finished_steps(transactional_db, user):  # noqa: ANN001
    """probe and concatenate done by an earlier attempt: only finalize runs, on the kept file."""
    a, b = clip_video(user), clip_video(user)
    task = composition_start(owner=user, videos=[a.pk, b.pk])
    kept = task_tmp_dir(task.pk) / "composition.mp4"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(cached_clip(seconds=3, width=320, height=240, fps=25, audio=True), kept)
    SubTask.objects.filter(task=task, name="probe").update(status="completed", progress=1, result=[])
    SubTask.objects.filter(task=task, name="concatenate").update(
        status="completed", progress=1, result={"path": str(kept), "probe": probe(kept).to_dict(), "mode": "copy"}
    )
    ProcessingTask.objects.filter(pk=task.pk).update(progress=95, attempts=1)
    run_pending_inline()
    task.refresh_from_db()
    assert task.status == "completed", task.error_message
    assert task.attempts == 2
    assert abs(task.result["duration_s"] - 3.0) < 0.1  # the kept 3 s file, not a new 2 s concatenation
    assert not kept.exists()  # moved into storage
    assert Path(Video.objects.get(pk=task.result["video_id"]).file.path).is_file()


def test_a_restart_mid_encode_resumes_after_the_probe_step(task_manager, user, settings):  # noqa: ANN001
    settings.FFMPEG_PRESET = "placebo"
    a, b = clip_video(user, seconds=2), clip_video(user, seconds=2, width=160, height=120)
    task = composition_start(owner=user, videos=[a.pk, b.pk])
    assert wait_for(lambda: steps(task.pk)["concatenate"].status == "processing", timeout=60)
    probe_done = steps(task.pk)["probe"]
    assert probe_done.status == "completed" and len(probe_done.result) == 2

    reset_task_manager()  # graceful shutdown: the running task goes back to the queue
    task.refresh_from_db()
    assert task.status == "pending" and task.attempts == 1

    settings.FFMPEG_PRESET = "ultrafast"
    get_task_manager().start()
    wait_status(task.pk, "completed", timeout=120)
    task.refresh_from_db()
    assert task.attempts == 2 and task.progress == 100
    again = steps(task.pk)["probe"]
    assert again.finished_at == probe_done.finished_at  # not run a second time
    assert abs(task.result["duration_s"] - (a.duration_s + b.duration_s)) <= 0.15


def test_a_video_stored_without_a_probe_is_probed_by_the_job(transactional_db, user):  # noqa: ANN001
    a, b = clip_video(user), clip_video(user)
    Video.objects.filter(pk=b.pk).update(probe={})
    task = composition_start(owner=user, videos=[a.pk, b.pk])
    run_pending_inline()
    task.refresh_from_db()
    assert task.status == "completed", task.error_message
    kept = steps(task.pk)["probe"].result
    assert kept[1]["probe"]["duration_s"] == pytest.approx(b.duration_s, abs=0.05)


def test_an_undecodable_input_fails_with_a_clear_message_and_no_output(transactional_db, user):  # noqa: ANN001
    a, b = clip_video(user), clip_video(user, width=160, height=120)
    Path(b.file.path).write_bytes(b"\x00" * 4096)  # damaged on disk after the upload probe
    task = composition_start(owner=user, videos=[a.pk, b.pk])
    started = time.monotonic()
    run_pending_inline()
    task.refresh_from_db()
    assert task.status == "failed" and task.error_message
    assert time.monotonic() - started < 30
    assert Video.objects.count() == 2
    assert not task_tmp_dir(task.pk).exists()
