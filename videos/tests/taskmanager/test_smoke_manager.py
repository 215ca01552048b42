import time

import pytest

from videos.models import ProcessingTask
from videos.services.tasks import task_cancel, task_submit
from videos.tests import jobs_for_tests


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_task_runs_to_completion(task_manager, user):
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.2})
    assert wait_for(lambda: ProcessingTask.objects.get(pk=task.pk).status == "completed")
    task.refresh_from_db()
    assert task.progress == 100 and task.attempts == 1
    assert task.result["second"]["step"] == "second"


def test_cancel_running(task_manager, user):
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "smoke-cancel"})
    assert jobs_for_tests.started("smoke-cancel").wait(5)
    t0 = time.monotonic()
    task = task_cancel(task=task)
    assert task.status == "cancelled", task.status
    assert time.monotonic() - t0 < 1.0
