"""JobContext: throttled progress persistence, stage names, scratch directory life."""

import time

from videos.models import ProcessingTask, SubTask
from videos.services.tasks import task_submit
from videos.taskmanager.context import JobContext
from videos.tests import jobs_for_tests
from videos.tests.taskmanager.helpers import wait_for, wait_status


def test_progress_is_written_a_few_times_a_second_and_the_last_value_always_lands(task_manager, user, monkeypatch):
    writes = []
    original = JobContext._save_progress

    def counting(self, *args, **kwargs):
        writes.append(time.monotonic())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(JobContext, "_save_progress", counting)
    task = task_submit(owner=user, kind="test_burst", args={"gate_name": "burst", "updates": 730, "seconds": 1.0})
    assert jobs_for_tests.started("burst").wait(10)
    burst_writes = list(writes)
    # 730 updates in ~1 s: the step's start plus at most ~4 a second (+1 trailing), not 730
    assert 2 <= len(burst_writes) <= 1 + 4 * 2 + 2, len(burst_writes)
    expected = 0.73 * 40
    assert wait_for(lambda: abs(ProcessingTask.objects.get(pk=task.pk).progress - expected) < 1e-6, timeout=1.0)
    sub = SubTask.objects.get(task=task, name="burst")
    assert abs(sub.progress - 0.73) < 1e-9 and sub.status == "processing"
    assert ProcessingTask.objects.get(pk=task.pk).stage == "burst"
    jobs_for_tests.gate("burst").set()
    wait_status(task.pk, "completed")


def test_eta_is_reported_while_running(task_manager, user):
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 3.0})
    assert wait_for(lambda: ProcessingTask.objects.get(pk=task.pk).eta_seconds is not None, timeout=5)
    eta = ProcessingTask.objects.get(pk=task.pk).eta_seconds
    assert 0 < eta < 30
    wait_status(task.pk, "completed", timeout=15)
    assert ProcessingTask.objects.get(pk=task.pk).eta_seconds == 0
