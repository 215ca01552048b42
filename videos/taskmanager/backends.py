"""How a queued task reaches a worker: the thread pool (default), Celery, or inline (tests, scripts)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from videos.models import ProcessingTask
from videos.taskmanager import recovery, store
from videos.taskmanager.context import CancelSignal
from videos.taskmanager.manager import TaskManager, get_task_manager
from videos.taskmanager.runner import run_task

ALIASES = {
    "threads": "videos.taskmanager.backends.ThreadBackend",
    "thread": "videos.taskmanager.backends.ThreadBackend",
    "immediate": "videos.taskmanager.backends.ImmediateBackend",
    "celery": "videos.taskmanager.celery_backend.CeleryBackend",
}


class TaskBackend(ABC):
    # Whether serving processes run jobs in their own TaskManager threads.
    runs_in_web_processes = True

    @abstractmethod
    def enqueue(self, task_id: Any) -> None:
        """Called after the creating transaction committed."""

    def requeued(self, task_id: Any) -> None:  # noqa: B027 - an optional hook: most backends need nothing
        """A task went back to pending (recovered, or its worker shut down): after that commit."""

    def revoke(self, task_id: Any) -> None:  # noqa: B027 - an optional hook: most backends need nothing
        """A pending task was cancelled: after that commit (its row already refuses any claim)."""


class ThreadBackend(TaskBackend):
    """The TaskManager's threads pick the task up (here or in a runworker process)."""

    def enqueue(self, task_id: Any) -> None:
        get_task_manager().wake()

    requeued = enqueue


class ImmediateBackend(TaskBackend):
    """Runs the queued task inline, in the caller's thread: deterministic, for tests."""

    def enqueue(self, task_id: Any) -> None:
        worker_id = recovery.make_worker_id()
        task = store.claim_next(worker_id, task_id=task_id)
        if task is not None:
            run_task(task, worker_id=worker_id, cancel=CancelSignal())


def run_pending_inline(limit: int = 100) -> int:
    worker_id = recovery.make_worker_id()
    count = 0
    while count < limit:
        task = store.claim_next(worker_id)
        if task is None:
            break
        run_task(task, worker_id=worker_id, cancel=CancelSignal())
        count += 1
    return count


def get_backend() -> TaskBackend:
    name = settings.TASK_BACKEND
    return import_string(ALIASES.get(name, name))()


def announce_requeue(task: ProcessingTask, event: str) -> None:
    """Transition hook: a task back in the queue is handed to the backend again once that commits
    (Celery needs a new message; threads only wake up sooner)."""
    if event in ("requeued", "recovered") and task.status == ProcessingTask.Status.PENDING:
        transaction.on_commit(lambda: get_backend().requeued(task.pk))


def start_local_manager() -> TaskManager:
    """This process's TaskManager, started when the backend runs jobs in-process (a CLI command that
    follows its own task); with Celery it stays stopped and a Celery worker runs the task."""
    manager = get_task_manager()
    return manager.start() if get_backend().runs_in_web_processes else manager
