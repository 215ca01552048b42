"""Random interleavings of run / cancel / fail / restart / retry only ever make legal transitions."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from videos.exceptions import AlreadyRetriedError, NotCancellableError, NotRetryableError
from videos.models import ProcessingTask
from videos.services.tasks import task_cancel, task_retry, task_submit
from videos.taskmanager import recovery, store

LEGAL = {
    ("pending", "processing"),
    ("pending", "cancelled"),
    ("processing", "completed"),
    ("processing", "failed"),
    ("processing", "cancelled"),
    ("processing", "pending"),  # recovery or graceful requeue: a new attempt follows
}
WORKERS = ["hostA:101:aaaa0001", "hostB:202:bbbb0002"]


class TaskLifecycle(RuleBasedStateMachine):
    def __init__(self, user):
        super().__init__()
        self.user = user
        self.seen: dict = {}  # task id -> (status, attempts, progress)
        ProcessingTask.objects.all().delete()  # examples share one transaction: start each from empty

    def _tasks(self):
        return list(ProcessingTask.objects.filter(pk__in=list(self.seen)))

    def _pick(self, data, **filters):
        ids = list(ProcessingTask.objects.filter(pk__in=list(self.seen), **filters).values_list("pk", flat=True))
        return data.draw(st.sampled_from(ids)) if ids else None

    @rule()
    def submit(self):
        task = task_submit(owner=self.user, kind="test_noop")
        self.seen[task.pk] = ("pending", 0, 0.0)

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker):
        store.claim_next(worker)

    @rule(data=st.data(), outcome=st.sampled_from(["completed", "failed", "cancelled"]))
    def worker_finishes(self, data, outcome):
        pk = self._pick(data, status="processing")
        if pk is not None:
            worker = ProcessingTask.objects.get(pk=pk).worker_id
            store.finish(pk, worker, outcome, result={"ok": True}, error="boom" if outcome == "failed" else None)

    @rule(data=st.data(), stale_worker=st.sampled_from(WORKERS))
    def zombie_finishes(self, data, stale_worker):
        """A worker that lost its task (recovered elsewhere) tries to finish it: must not win."""
        pk = self._pick(data, status="processing")
        if pk is not None and ProcessingTask.objects.get(pk=pk).worker_id != stale_worker:
            assert not store.finish(pk, stale_worker, "completed", result={})

    @rule(data=st.data())
    def cancel(self, data):
        pk = self._pick(data)
        if pk is None:
            return
        task = ProcessingTask.objects.get(pk=pk)
        try:
            task_cancel(task=task, wait=0)
        except NotCancellableError:
            assert task.status in ProcessingTask.FINISHED

    @rule(worker=st.sampled_from(WORKERS))
    def worker_dies_and_lease_expires(self, worker):
        ProcessingTask.objects.filter(worker_id=worker, status="processing").update(
            heartbeat_at=timezone.now() - timedelta(hours=1)
        )
        recovery.recover_orphans("recoverer:1:cccc0003")

    @rule(data=st.data())
    def graceful_requeue(self, data):
        pk = self._pick(data, status="processing")
        if pk is not None:
            store.requeue(pk, ProcessingTask.objects.get(pk=pk).worker_id)

    @rule(data=st.data())
    def retry(self, data):
        pk = self._pick(data)
        if pk is None:
            return
        task = ProcessingTask.objects.get(pk=pk)
        try:
            new = task_retry(task=task)
        except NotRetryableError:
            assert task.status not in ("failed", "cancelled")
        except AlreadyRetriedError as refused:  # at most one retry per task
            assert refused.extra["task_id"] == str(ProcessingTask.objects.get(retry_of=task).pk)
        else:
            assert new.retry_of_id == task.pk and new.kind == task.kind
            self.seen[new.pk] = ("pending", 0, 0.0)

    @invariant()
    def transitions_are_legal(self):
        for task in self._tasks():
            before, attempts, progress = self.seen[task.pk]
            assert before == task.status or (before, task.status) in LEGAL, f"{before} -> {task.status}"
            assert task.attempts >= attempts
            assert task.progress >= progress
            assert (task.progress == 100) == (task.status == "completed")
            assert (task.finished_at is not None) == (task.status in ProcessingTask.FINISHED)
            if task.status == "processing":
                assert task.worker_id
            self.seen[task.pk] = (task.status, task.attempts, task.progress)


@pytest.mark.django_db
def test_task_lifecycle_state_machine(user, settings):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 1000
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 1000
    run_state_machine_as_test(
        lambda: TaskLifecycle(user), settings=hsettings(max_examples=25, stateful_step_count=30, deadline=None)
    )
