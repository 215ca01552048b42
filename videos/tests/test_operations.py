"""Operations: purge_tasks, admin bootstrap, where the TaskManager starts, video status consistency."""

import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from videos.models import ProcessingTask, Video
from videos.services.tasks import task_submit
from videos.services.videos import video_sync_status
from videos.taskmanager.context import task_tmp_dir
from videos.tests.conftest import PYTHON, ROOT, subprocess_env


def test_purge_deletes_old_finished_tasks_and_their_files_never_active_ones(db, user, settings):
    old, recent, active = (task_submit(owner=user, kind="test_noop") for _ in range(3))
    long_ago = timezone.now() - timedelta(days=40)
    ProcessingTask.objects.filter(pk=old.pk).update(status="completed", finished_at=long_ago)
    ProcessingTask.objects.filter(pk=recent.pk).update(status="failed", finished_at=timezone.now())
    ProcessingTask.objects.filter(pk=active.pk).update(status="processing", created_at=long_ago)
    task_tmp_dir(old.pk).mkdir(parents=True)
    (task_tmp_dir(old.pk) / "leftover.mp4").write_bytes(b"x")
    out = StringIO()
    call_command("purge_tasks", "--older-than", "30", stdout=out)
    assert "Deleted 1" in out.getvalue()
    assert set(ProcessingTask.objects.values_list("pk", flat=True)) == {recent.pk, active.pk}
    assert not task_tmp_dir(old.pk).exists()
    settings.TASK_RETENTION_DAYS = 0
    call_command("purge_tasks", "--older-than", "0", stdout=StringIO())
    assert set(ProcessingTask.objects.values_list("pk", flat=True)) == {active.pk}


def test_ensure_admin_prints_the_password_once(db):
    from django.contrib.auth import authenticate

    first, second = StringIO(), StringIO()
    call_command("ensure_admin", stdout=first)
    call_command("ensure_admin", stdout=second)
    password = first.getvalue().split("password '")[1].split("'")[0]
    assert authenticate(username="admin", password=password).is_superuser
    assert password not in second.getvalue() and "exists" in second.getvalue()


def test_a_runserver_that_cannot_bind_claims_nothing(transactional_db, user, tmp_path):
    """The task manager starts after the bind: a second server on a taken port exits having claimed nothing."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        task = task_submit(owner=user, kind="test_noop")
        out = subprocess.run(
            [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=subprocess_env(TASK_POLL_SECONDS="0.1"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1 and "already in use" in out.stderr, out.stderr
    assert "taskmanager.started" not in out.stdout + out.stderr
    task.refresh_from_db()
    assert (task.status, task.attempts, task.attempts_log) == ("pending", 0, [])


@pytest.mark.parametrize("command", [["migrate", "--noinput"], ["check"], ["shell", "-c", "print('hi')"]])
def test_management_commands_start_no_task_manager(transactional_db, command):
    out = subprocess.run(
        [PYTHON, "manage.py", *command], cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "taskmanager.started" not in out.stdout + out.stderr


def test_runserver_does_start_it(transactional_db, tmp_path):
    from videos.tests.taskmanager.test_processes import free_port, runserver

    server = runserver(free_port(), tmp_path / "server.log")  # waits until /healthz says running
    server.stop()
    assert "taskmanager.started" in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "uploaded"),
        (["pending"], "processing"),
        (["processing"], "processing"),
        (["completed"], "ready"),
        (["failed"], "error"),
        (["completed", "failed"], "error"),
        (["failed", "completed"], "ready"),
        (["cancelled"], "uploaded"),
        (["completed", "cancelled"], "ready"),
    ],
)
def test_video_status_follows_its_tasks(db, user, statuses, expected):
    video = Video.objects.create(owner=user, file="videos/x.mp4", status="processing")
    task = None
    for i, status in enumerate(statuses):
        task = ProcessingTask.objects.create(
            owner=user,
            video=video,
            kind="transcription",
            status=status,
            finished_at=timezone.now() + timedelta(seconds=i) if status in ProcessingTask.FINISHED else None,
        )
    video_sync_status(task or ProcessingTask(owner=user, video=video, kind="transcription"))
    video.refresh_from_db()
    assert video.status == expected


def test_purge_removes_a_kinds_stored_files_unless_a_retry_still_uses_them(db, user):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    long_ago = timezone.now() - timedelta(days=40)
    names = [
        default_storage.save(f"srt_media/{i}.srt", ContentFile(b"1\n00:00:00,000 --> 00:00:01,000\nhi\n"))
        for i in range(2)
    ]
    lone = ProcessingTask.objects.create(
        owner=user, kind="srt_media", status="failed", finished_at=long_ago, args={"srt_name": names[0]}
    )
    retried = ProcessingTask.objects.create(
        owner=user, kind="srt_media", status="failed", finished_at=long_ago, args={"srt_name": names[1]}
    )
    ProcessingTask.objects.create(owner=user, kind="srt_media", retry_of=retried, args={"srt_name": names[1]})
    call_command("purge_tasks", "--older-than", "30", stdout=StringIO())
    assert not ProcessingTask.objects.filter(pk__in=[lone.pk, retried.pk]).exists()
    assert not default_storage.exists(names[0])
    assert default_storage.exists(names[1])  # the pending retry still needs it


@pytest.mark.slow
def test_a_runserver_stopped_with_sigterm_puts_its_running_task_back(transactional_db, user, tmp_path):
    import os
    import signal

    from videos.tests.taskmanager.helpers import wait_for
    from videos.tests.taskmanager.test_processes import free_port, runserver

    server = runserver(free_port(), tmp_path / "server.log", TASK_POLL_SECONDS="0.1", TASK_LEASE_SECONDS="300")
    try:
        task = task_submit(owner=user, kind="test_sleep", args={"seconds": 10.0})
        assert wait_for(lambda: ProcessingTask.objects.get(pk=task.pk).status == "processing", timeout=20)
        os.kill(server.proc.pid, signal.SIGTERM)  # the Python process alone, as a process manager would
        server.proc.wait(15)
    finally:
        server.stop()
    task.refresh_from_db()
    assert task.status == "pending" and task.worker_id == ""
    assert [entry["outcome"] for entry in task.attempts_log] == ["interrupted"]
