"""A real server SIGKILLed mid-download: the restarted server resumes the import from the byte its .part
file holds (the media server's Range log says so), and the stored file is the served one, byte for byte."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from videos.models import ProcessingTask, Video
from videos.services.imports import import_start
from videos.taskmanager.context import task_tmp_dir
from videos.tests import clips
from videos.tests.media_server import MediaServer
from videos.tests.taskmanager.helpers import wait_for
from videos.tests.taskmanager.test_processes import free_port, runserver

pytestmark = pytest.mark.slow
ENV = {
    "IMPORT_ALLOW_PRIVATE_NETWORKS": "1",
    "TASK_LEASE_SECONDS": "300",  # only start-up recovery (a dead pid on this host) explains a resume
    "TASK_POLL_SECONDS": "0.2",
}


def test_a_download_killed_mid_way_resumes_from_the_byte_it_had(transactional_db, user, tmp_path, settings):  # noqa: ANN001
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True
    root = tmp_path / "site"
    root.mkdir()
    source = clips.make_clip(root / "long.mp4", seconds=10)
    data = source.read_bytes()
    token = Token.objects.create(user=user).key
    log = tmp_path / "server.log"
    port = free_port()
    with MediaServer(root, rate=48 * 1024, chunk=4 * 1024) as media:
        server = runserver(port, log, **ENV)
        try:
            task = import_start(owner=user, url=media.url("long.mp4"), transcribe=False)
            part = task_tmp_dir(task.pk) / "download" / "media.mp4.part"
            assert wait_for(lambda: part.is_file() and part.stat().st_size > 64 * 1024, timeout=60), log.read_text()[
                -3000:
            ]
            server.kill()
            had = part.stat().st_size
            assert 0 < had < len(data)
            assert Video.objects.get(pk=task.video_id).status == "downloading"
            media.rate = 0  # full speed for the rest
            server = runserver(port, log, **ENV)

            def finished() -> bool:
                return server.get(f"/api/v1/tasks/{task.pk}/", token)["status"] in ("completed", "failed", "cancelled")

            assert wait_for(finished, timeout=90, interval=0.1), log.read_text()[-3000:]
        finally:
            server.stop()
        ranges = [item.range_start for item in media.log if item.path == "/long.mp4" and item.range_start]
    task = ProcessingTask.objects.get(pk=task.pk)
    assert task.status == "completed", task.error_message
    assert task.attempts == 2 and [e["outcome"] for e in task.attempts_log] == ["interrupted", "completed"]
    assert ranges == [had]  # asked for the rest only, from the byte on disk
    video = Video.objects.get(pk=task.video_id)
    with video.file.open("rb") as fh:
        assert fh.read() == data
    assert video.status == "uploaded"


def test_a_download_killed_past_its_last_attempt_fails_and_the_video_is_not_left_downloading(
    transactional_db,  # noqa: ANN001
    user,  # noqa: ANN001
    tmp_path,  # noqa: ANN001
    settings,  # noqa: ANN001
):
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True
    root = tmp_path / "site"
    root.mkdir()
    clips.make_clip(root / "long.mp4", seconds=10)
    log = tmp_path / "server.log"
    port = free_port()
    env = {**ENV, "TASK_MAX_ATTEMPTS": "1"}
    with MediaServer(root, rate=32 * 1024, chunk=4 * 1024) as media:
        server = runserver(port, log, **env)
        try:
            task = import_start(owner=user, url=media.url("long.mp4"))
            part = task_tmp_dir(task.pk) / "download" / "media.mp4.part"
            assert wait_for(lambda: part.is_file(), timeout=60), log.read_text()[-3000:]
            server.kill()
            assert Video.objects.get(pk=task.video_id).status == "downloading"
            server = runserver(port, log, **env)  # start-up recovery runs before the server answers
            assert wait_for(lambda: ProcessingTask.objects.get(pk=task.pk).is_finished, timeout=10)
        finally:
            server.stop()
    task = ProcessingTask.objects.get(pk=task.pk)
    assert task.status == "failed" and task.error_message.startswith("Interrupted")
    assert Video.objects.get(pk=task.video_id).status == "error"  # put right with the task, not left downloading
