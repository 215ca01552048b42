"""The TaskManager with real worker threads on the real database."""

import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from videos.models import ProcessingTask, SubTask
from videos.services.tasks import task_cancel, task_submit
from videos.taskmanager import recovery, store
from videos.taskmanager.context import task_tmp_dir
from videos.taskmanager.manager import TaskManager, get_task_manager, reset_task_manager
from videos.tests import jobs_for_tests
from videos.tests.taskmanager.helpers import wait_for, wait_status


def test_task_runs_to_completion_with_its_steps(task_manager, user):
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.2})
    wait_status(task.pk, "completed")
    task.refresh_from_db()
    assert task.progress == 100 and task.attempts == 1 and task.finished_at and task.started_at
    assert task.result == {"first": {"step": "first", "attempt": 1}, "second": {"step": "second", "attempt": 1}}
    subtasks = list(task.subtasks.order_by("position").values_list("name", "status", "progress", "weight"))
    assert subtasks == [("first", "completed", 1.0, 30.0), ("second", "completed", 1.0, 70.0)]
    assert not task_tmp_dir(task.pk).exists()


def test_failure_is_recorded_with_the_step_and_message(task_manager, user):
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05, "fail_in": "second"})
    wait_status(task.pk, "failed")
    task.refresh_from_db()
    assert task.error_message == "failing on purpose in second"
    assert task.progress < 100
    states = dict(task.subtasks.values_list("name", "status"))
    assert states == {"first": "completed", "second": "failed"}
    assert not task_tmp_dir(task.pk).exists()


def test_cancel_running_task_stops_it_within_a_second(task_manager, user):
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "cancel-running"})
    assert jobs_for_tests.started("cancel-running").wait(5)
    assert task_tmp_dir(task.pk).exists()
    started = time.monotonic()
    task = task_cancel(task=task)
    assert task.status == "cancelled"
    assert time.monotonic() - started < 1.0
    assert not task_tmp_dir(task.pk).exists()
    assert dict(task.subtasks.values_list("name", "status")) == {"wait": "cancelled", "finish": "cancelled"}


def test_cancel_flag_set_by_another_process_reaches_the_worker(task_manager, user):
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "cancel-remote"})
    assert jobs_for_tests.started("cancel-remote").wait(5)
    assert store.request_cancel(task.pk)  # only the database flag, as another process would
    wait_status(task.pk, "cancelled", timeout=1.5)


def test_timeout_fails_the_task_with_a_clear_message(task_manager, user, settings):
    settings.TASK_TIMEOUT_SECONDS = 1
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "never-opens"})
    wait_status(task.pk, "failed", timeout=5)
    task.refresh_from_db()
    assert "Timed out" in task.error_message and "TASK_TIMEOUT_SECONDS" in task.error_message


def test_expired_lease_is_recovered_and_resumed_after_the_last_completed_step(
    transactional_db, user, settings, tmp_path
):
    settings.TASK_LEASE_SECONDS = 2
    markers_dir = tmp_path / "markers"
    markers_dir.mkdir()
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05, "marker_dir": str(markers_dir)})
    # No manager runs yet: fake a worker that died after finishing the first step.
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="processing",
        worker_id="elsewhere:1:dead",
        attempts=1,
        progress=30.0,
        heartbeat_at=timezone.now() - timedelta(seconds=60),
    )
    SubTask.objects.filter(task=task, name="first").update(
        status="completed", progress=1.0, result={"step": "first", "attempt": 1}
    )
    SubTask.objects.filter(task=task, name="second").update(status="processing", progress=0.5)
    manager = TaskManager(workers=1).start()
    try:
        wait_status(task.pk, "completed")
    finally:
        manager.stop()
    task.refresh_from_db()
    assert task.attempts == 2
    assert task.result["first"] == {"step": "first", "attempt": 1}  # kept, not run again
    assert task.result["second"]["attempt"] == 2
    markers = sorted(p.name.split(".", 1)[1] for p in markers_dir.iterdir())
    assert markers == ["second.attempt2"]


def test_orphan_past_max_attempts_fails_as_interrupted(transactional_db, user, settings):
    settings.TASK_MAX_ATTEMPTS = 2
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05})
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="processing", worker_id="elsewhere:1:dead", attempts=2, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    assert recovery.recover_orphans("here:2:live") == [task.pk]
    task.refresh_from_db()
    assert task.status == "failed" and "Interrupted" in task.error_message and "attempt 2 of 2" in task.error_message


def test_startup_recovers_tasks_of_a_dead_process_on_this_host_at_once(transactional_db, user):
    dead = subprocess.Popen(["true"])
    dead.wait()
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05})
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="processing",
        worker_id=f"{socket.gethostname()}:{dead.pid}:0123abcd",
        attempts=1,
        heartbeat_at=timezone.now(),  # fresh lease: only the dead pid tells it is an orphan
    )
    reset_task_manager()
    manager = get_task_manager()
    assert manager.recovered_at_start == []
    manager.start()
    try:
        assert task.pk in manager.recovered_at_start
        wait_status(task.pk, "completed")
    finally:
        reset_task_manager()


def test_live_sibling_on_this_host_is_not_recovered(transactional_db, user):
    sibling = subprocess.Popen(["sleep", "30"])
    try:
        task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05})
        ProcessingTask.objects.filter(pk=task.pk).update(
            status="processing",
            worker_id=f"{socket.gethostname()}:{sibling.pid}:0123abcd",
            attempts=1,
            heartbeat_at=timezone.now(),
        )
        assert recovery.recover_orphans(recovery.make_worker_id(), dead_local=True) == []
    finally:
        sibling.kill()
        sibling.wait()


def test_graceful_stop_puts_running_work_back_in_the_queue(task_manager, user):
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "graceful"})
    assert jobs_for_tests.started("graceful").wait(5)
    task_manager.stop()
    task.refresh_from_db()
    assert task.status == "pending" and task.worker_id == "" and task.attempts == 1


def test_workers_run_at_most_task_workers_at_once(transactional_db, user, settings):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 10
    reset_task_manager()
    manager = TaskManager(workers=2).start()
    try:
        tasks = [task_submit(owner=user, kind="test_gate", args={"gate_name": f"pool-{i}"}) for i in range(4)]
        events = [jobs_for_tests.started(f"pool-{i}") for i in range(4)]
        assert wait_for(lambda: sum(event.is_set() for event in events) == 2)
        waiting = [i for i in range(4) if not events[i].is_set()]
        # No third job starts: the waiting ones' start events stay unset for a bounded while.
        assert not any(events[i].wait(0.15) for i in waiting)
        assert ProcessingTask.objects.filter(status="processing").count() == 2
        assert ProcessingTask.objects.filter(status="pending").count() == 2
        for i in range(4):
            jobs_for_tests.gate(f"pool-{i}").set()
        for task in tasks:
            wait_status(task.pk, "completed")
    finally:
        manager.stop()


@pytest.mark.parametrize("when", ["pending", "finished"])
def test_cancel_refusals_and_pending_cancel(transactional_db, user, when):
    from videos.exceptions import NotCancellableError

    task = task_submit(owner=user, kind="test_noop")
    if when == "pending":
        assert task_cancel(task=task).status == "cancelled"
        with pytest.raises(NotCancellableError):
            task_cancel(task=task)
    else:
        from videos.taskmanager.backends import run_pending_inline

        run_pending_inline()
        task.refresh_from_db()
        assert task.status == "completed"
        with pytest.raises(NotCancellableError):
            task_cancel(task=task)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "ffmpeg failed (exit code 1): /srv/media/tmp/tasks/abc/out.mp4: Invalid argument",
            "ffmpeg failed (exit code 1): out.mp4: Invalid argument",
        ),
        (
            "[Errno 2] No such file or directory: '/srv/media/videos/x.mp4'",
            "[Errno 2] No such file or directory: 'x.mp4'",
        ),
        ("HTTP 500: a/b ratio 1/2", "HTTP 500: a/b ratio 1/2"),
    ],
)
def test_error_messages_shown_to_users_carry_no_server_paths(raw, shown):
    from videos.taskmanager.runner import error_message

    assert error_message(RuntimeError(raw)) == shown
