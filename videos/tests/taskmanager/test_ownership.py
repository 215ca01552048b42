"""A worker writes a task's rows only while the task is its own, and leaves behind what its steps made."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from videos.models import ProcessingTask, SubTask
from videos.services.tasks import task_submit
from videos.taskmanager import recovery, store
from videos.taskmanager.context import CancelSignal, JobContext, TaskCancelled
from videos.taskmanager.registry import get_job
from videos.taskmanager.runner import run_task
from videos.tests import jobs_for_tests

FIRST = "hostA:101:aaaa0001"
SECOND = "hostB:202:bbbb0002"
RECOVERER = "hostC:303:cccc0003"


def claimed_context(task, worker_id):
    claimed = store.claim_next(worker_id, task_id=task.pk)
    assert claimed is not None
    return JobContext(claimed, get_job(claimed.kind), worker_id=worker_id, cancel=CancelSignal())


def expire_lease(task):
    ProcessingTask.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def test_a_worker_that_lost_its_task_leaves_the_new_owners_step_alone(transactional_db, user):
    task = task_submit(owner=user, kind="test_gate", args={})
    stalled = claimed_context(task, FIRST)

    with pytest.raises(TaskCancelled), stalled.step("wait"):
        # Meanwhile the stalled worker's lease ran out: recovered, and claimed by another worker.
        expire_lease(task)
        assert recovery.recover_orphans(RECOVERER) == [task.pk]
        claimed_context(task, SECOND)
        stalled.cancel.set("lost")
        stalled.checkpoint()

    assert SubTask.objects.get(task=task, name="wait").status == "processing"
    task.refresh_from_db()
    assert task.status == "processing" and task.worker_id == SECOND


def test_a_worker_that_renewed_its_lease_after_it_was_read_as_expired_keeps_its_task(
    transactional_db, user, monkeypatch
):
    task = task_submit(owner=user, kind="test_gate", args={})
    claimed_context(task, FIRST)
    expire_lease(task)
    recover_one = recovery._recover_one

    def renewed_in_between(*args):
        assert store.renew_leases(FIRST, [task.pk]) == 1  # only slow: its lease thread came through
        return recover_one(*args)

    monkeypatch.setattr(recovery, "_recover_one", renewed_in_between)

    assert recovery.recover_orphans(RECOVERER) == []
    task.refresh_from_db()
    assert task.status == "processing" and task.worker_id == FIRST and task.attempts == 1


def test_a_shutdown_between_steps_keeps_the_completed_step_and_puts_the_rest_back(transactional_db, user, monkeypatch):
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05})
    cancel = CancelSignal()
    run_step = JobContext.run_step

    def stop_after_the_first(self, name, func, *args, **kwargs):
        if name == "second":
            cancel.set("shutdown")  # the stop lands between the steps: the first one's end is not written yet
        return run_step(self, name, func, *args, **kwargs)

    monkeypatch.setattr(JobContext, "run_step", stop_after_the_first)

    assert run_task(store.claim_next(FIRST, task_id=task.pk), worker_id=FIRST, cancel=cancel) == "requeued"

    task.refresh_from_db()
    assert task.status == "pending" and task.attempts_log[-1]["outcome"] == "interrupted"
    first, second = SubTask.objects.filter(task=task).order_by("position")
    assert first.status == "completed" and first.result == {"step": "first", "attempt": 1}
    assert second.status == "pending"


def test_a_step_stopped_by_a_shutdown_waits_again_instead_of_showing_cancelled(transactional_db, user):
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "shutdown-inside"})
    cancel = CancelSignal()

    def worker():
        try:
            return run_task(store.claim_next(FIRST, task_id=task.pk), worker_id=FIRST, cancel=cancel)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        outcome = pool.submit(worker)
        assert jobs_for_tests.started("shutdown-inside").wait(5)
        cancel.set("shutdown")
        assert outcome.result(timeout=5) == "requeued"

    wait = SubTask.objects.get(task=task, name="wait")
    assert wait.status == "pending" and wait.finished_at is None
