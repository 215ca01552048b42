"""How a queued task reaches a worker: the thread pool (default) or inline (tests, scripts)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from videos.taskmanager import recovery, store
from videos.taskmanager.context import CancelSignal
from videos.taskmanager.manager import get_task_manager
from videos.taskmanager.runner import run_task

ALIASES = {
    "thread": "videos.taskmanager.backends.ThreadBackend",
    "immediate": "videos.taskmanager.backends.ImmediateBackend",
}


class TaskBackend(ABC):
    @abstractmethod
    def enqueue(self, task_id: Any) -> None:
        """Called after the creating transaction committed."""


class ThreadBackend(TaskBackend):
    """The TaskManager's threads pick the task up (here or in a runworker process)."""

    def enqueue(self, task_id: Any) -> None:
        get_task_manager().wake()


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
