"""JobContext: what a running job sees of its task (steps, progress, cancel, scratch space)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from videos.models import ProcessingTask, SubTask
from videos.taskmanager import store
from videos.taskmanager.progress import ProgressTracker, Throttle
from videos.taskmanager.registry import JobSpec

T = TypeVar("T")


class TaskCancelled(Exception):
    """Raised inside a job at a checkpoint once its task must stop."""

    def __init__(self, reason: str = "cancelled") -> None:
        self.reason = reason  # cancelled | timeout | shutdown | lost
        super().__init__(reason)


class CancelSignal:
    """A threading.Event that also remembers why it was set (the first reason wins)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = "cancelled"
        self._lock = threading.Lock()

    def set(self, reason: str = "cancelled") -> None:
        with self._lock:
            if not self.event.is_set():
                self.reason = reason
                self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.event.wait(timeout)


def task_tmp_dir(task_id: Any) -> Path:
    return Path(settings.TASK_TMP_ROOT) / str(task_id)


def remove_task_tmp_dir(task_id: Any) -> None:
    shutil.rmtree(task_tmp_dir(task_id), ignore_errors=True)


class JobContext:
    """Handed to every job: enter steps, report progress, honour cancel, keep step results for resume."""

    def __init__(self, task: ProcessingTask, spec: JobSpec, *, worker_id: str, cancel: CancelSignal) -> None:
        self.task_id = task.pk
        self.kind = task.kind
        self.owner_id = task.owner_id
        self.video_id = task.video_id
        self.args: dict[str, Any] = dict(task.args or {})
        self.attempt = task.attempts
        self.worker_id = worker_id
        self.cancel = cancel
        self.cancel_event = cancel.event
        self._subtasks = {sub.name: sub for sub in task.subtasks.all()}
        missing = [name for name in spec.steps if name not in self._subtasks]
        if missing:  # a task queued before a deploy that added steps, or inserted by hand
            SubTask.objects.bulk_create(
                SubTask(task_id=task.pk, name=name, position=list(spec.steps).index(name), weight=spec.steps[name])
                for name in missing
            )
            self._subtasks = {sub.name: sub for sub in SubTask.objects.filter(task_id=task.pk)}
        done = {name: 1.0 for name, sub in self._subtasks.items() if sub.status == SubTask.Status.COMPLETED}
        # Steps an interrupted attempt was inside: the bar continues from what readers saw.
        resumed = {name: sub.progress for name, sub in self._subtasks.items() if name not in done and sub.progress > 0}
        self.tracker = ProgressTracker(spec.steps, floor=task.progress, done=done, resumed=resumed)
        self._current: str | None = None
        self._stage = task.stage if task.stage in spec.steps else next(iter(spec.steps))
        self._job_thread = threading.current_thread()
        self._throttle = Throttle(self._save_progress, settings.TASK_PROGRESS_INTERVAL)
        self.tmp_dir = task_tmp_dir(self.task_id)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    # Cancellation -----------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Raise TaskCancelled if the task has been asked to stop; call it between units of work."""
        if self.cancel.is_set():
            raise TaskCancelled(self.cancel.reason)

    # Steps ------------------------------------------------------------------------------------
    def is_done(self, name: str) -> bool:
        return self._subtasks[name].status == SubTask.Status.COMPLETED

    def step_result(self, name: str) -> Any:
        return self._subtasks[name].result

    @contextmanager
    def step(self, name: str) -> Iterator[JobContext]:
        """Run the body as step `name`: marks it started, then completed (or failed/cancelled)."""
        if name not in self._subtasks:
            raise KeyError(f"job {self.kind!r} declares no step {name!r}")
        self.checkpoint()
        self._current = self._stage = name
        self._subtasks[name].status = SubTask.Status.PROCESSING
        self._throttle.flush(
            lambda: self._save_progress(step_fields={"status": SubTask.Status.PROCESSING, "started_at": timezone.now()})
        )
        try:
            yield self
        except BaseException as exc:
            # An error raised while a cancel is under way (ffmpeg killed, engine stopped) is the cancel.
            stopped = isinstance(exc, TaskCancelled) or self.cancel.is_set()
            status = SubTask.Status.CANCELLED if stopped else SubTask.Status.FAILED
            SubTask.objects.filter(pk=self._subtasks[name].pk).update(status=status, finished_at=timezone.now())
            self._subtasks[name].status = status
            raise
        self.tracker.complete(name)
        self._subtasks[name].status = SubTask.Status.COMPLETED
        done = {
            "status": SubTask.Status.COMPLETED,
            "finished_at": timezone.now(),
            "result": self._subtasks[name].result,
        }
        self._throttle.flush(lambda: self._save_progress(step_fields=done))
        self._current = None

    def run_step(self, name: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `func` as step `name` and keep its JSON result; a resumed attempt gets the kept result."""
        if self.is_done(name):
            return self.step_result(name)
        with self.step(name):
            result = func(*args, **kwargs)
            self._subtasks[name].result = result
        return result

    def label(self, stage: str) -> None:
        """Show `stage` (the current step and what it is doing, e.g. "concatenate:smart") until the next step."""
        self._stage = stage[:64]
        self._throttle.touch()

    # Progress ---------------------------------------------------------------------------------
    def progress(self, fraction: float) -> None:
        """Report the current step's progress (0..1); persisted a few times a second at most."""
        if self._current is None:
            return
        self.tracker.update(self._current, fraction)
        self._throttle.touch()

    def close(self) -> None:
        self._throttle.close()

    def _save_progress(self, step_fields: dict[str, Any] | None = None) -> None:
        """One short transaction: the task's progress/ETA/stage and the current step's row."""
        try:
            current = self._current
            with transaction.atomic():
                owned = ProcessingTask.objects.filter(
                    pk=self.task_id, status=ProcessingTask.Status.PROCESSING, worker_id=self.worker_id
                ).update(
                    progress=self.tracker.total,
                    eta_seconds=self.tracker.eta_seconds(),
                    stage=self._stage,
                    updated_at=timezone.now(),
                )
                if owned and current is not None:
                    SubTask.objects.filter(pk=self._subtasks[current].pk).update(
                        progress=self.tracker.fraction(current), **(step_fields or {})
                    )
                if owned:
                    store.run_progress_hooks(self.task_id, self.owner_id)
            if not owned:
                # Cancelled by force, failed by a timeout or recovered by another worker: stop working.
                self.cancel.set("lost")
        finally:
            if threading.current_thread() is not self._job_thread:
                connections.close_all()
