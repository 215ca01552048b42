"""The attempts log, the transition hooks and a resumed step that moves the bar at once."""

from __future__ import annotations

from videos.api.serializers import task_progress
from videos.models import ProcessingTask, SubTask
from videos.services.tasks import task_submit
from videos.taskmanager import hooks, recovery
from videos.taskmanager.manager import get_task_manager, reset_task_manager
from videos.tests import jobs_for_tests
from videos.tests.taskmanager.helpers import wait_for, wait_status


def outcomes(task_id) -> list[tuple[int, str, str]]:  # noqa: ANN001
    log = ProcessingTask.objects.get(pk=task_id).attempts_log
    return [(e["attempt"], e["stage"], e["outcome"]) for e in log]


def test_each_start_is_logged_with_where_and_why_it_ended_and_the_resumed_step_moves_on(task_manager, user):
    events: list[tuple[str, str]] = []
    hook = hooks.on_transition(lambda task, event: events.append((event, task.status)))
    try:
        task = task_submit(owner=user, kind="test_sleep", args={"seconds": 1.5})
        second = SubTask.objects.filter(task_id=task.pk, name="second")
        assert wait_for(lambda: second.get().progress > 0.4, timeout=20)
        task_manager.stop()  # a graceful stop: the attempt is interrupted, the task goes back to the queue
        task.refresh_from_db()
        shown = task.progress
        assert task.status == "pending" and outcomes(task.pk) == [(1, "second", "interrupted")]
        body = task_progress(task)
        assert body["resumed"] is True and body["attempts_log"][0]["ended_at"] is not None
        assert "host" not in body["attempts_log"][0] and "pids" not in body["attempts_log"][0]

        readings: list[float] = []
        get_task_manager().start()
        assert wait_for(
            lambda: readings.append(ProcessingTask.objects.get(pk=task.pk).progress) or readings[-1] > shown,
            timeout=1.5,
            interval=0.05,
        ), f"the bar stayed at {shown} after the resume: {readings}"
        wait_status(task.pk, "completed", timeout=20)
    finally:
        hooks.remove_transition_hook(hook)
    assert outcomes(task.pk) == [(1, "second", "interrupted"), (2, "second", "completed")]
    assert [e for e, _ in events] == ["queued", "started", "requeued", "started", "completed"]
    assert events[-1] == ("completed", "completed")


def test_a_timed_out_attempt_says_so(task_manager, user, settings):  # noqa: ANN001
    settings.TASK_TIMEOUT_SECONDS = 1
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "attempts-timeout"})
    wait_status(task.pk, "failed", timeout=10)
    assert outcomes(task.pk) == [(1, "wait", "timed_out")]


def test_cancel_and_failure_close_the_attempt(task_manager, user):  # noqa: ANN001
    from videos.services.tasks import task_cancel

    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "attempts-cancel"})
    assert jobs_for_tests.started("attempts-cancel").wait(10)
    task_cancel(task=task, wait=5)
    failing = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.1, "fail_in": "first"})
    wait_status(failing.pk, "failed", timeout=10)
    assert outcomes(task.pk) == [(1, "wait", "cancelled")]
    assert outcomes(failing.pk) == [(1, "first", "failed")]
    reset_task_manager()


def test_startup_recovery_kills_the_children_a_dead_life_recorded(transactional_db, user):  # noqa: ANN001
    """Where no parent-death signal could act (another OS, a child that escaped it), recovery kills what is ours."""
    import socket
    import subprocess

    from videos.media import process

    task = task_submit(owner=user, kind="test_noop")
    dead = subprocess.Popen(["true"])
    dead.wait()
    dead_worker = f"{socket.gethostname()}:{dead.pid}:0000"
    with process.attempt_scope(f"{task.pk}:1"):
        leftover = process.spawn(["sleep", "30"])
    stranger = subprocess.Popen(["sleep", "30"])  # a pid in the log that is not ours any more
    entry = {
        "attempt": 1,
        "started_at": "2026-01-01T00:00:00+00:00",
        "ended_at": None,
        "stage": "run",
        "outcome": "running",
        "host": socket.gethostname(),
        "pids": [leftover.pid, stranger.pid],
    }
    ProcessingTask.objects.filter(pk=task.pk).update(
        status="processing", worker_id=dead_worker, attempts=1, attempts_log=[entry]
    )
    try:
        assert recovery.recover_orphans(recovery.make_worker_id(), dead_local=True) == [task.pk]
        assert leftover.wait(5) == -9
        assert stranger.poll() is None
    finally:
        for proc in (leftover, stranger):
            proc.kill()
            proc.wait()
    task.refresh_from_db()
    assert task.status == "pending" and task.attempts_log[0]["outcome"] == "interrupted"
