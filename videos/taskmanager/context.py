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
from videos.taskmanager import hooks, rows
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
        self._subtasks = {sub.name: sub for sub in task.claimed_steps}
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
        # The step the claim started (store.claim_next): entering it writes nothing more.
        self._claimed_step = next(
            (name for name, sub in self._subtasks.items() if sub.status == SubTask.Status.PROCESSING), None
        )
        self._stage = task.stage if task.stage in spec.steps else next(iter(spec.steps))
        self._job_thread = threading.current_thread()
        self._throttle = Throttle(self._save_progress, settings.TASK_PROGRESS_INTERVAL)
        # Step rows' changes not yet written (name -> fields), merged into the next write; guarded by
        # _steps_lock because the throttle's timer thread writes too.
        self._dirty_steps: dict[str, dict[str, Any]] = {}
        self._steps_lock = threading.Lock()

    @property
    def tmp_dir(self) -> Path:
        """The task's scratch directory, made on first use (most steps need none: no mkdir/rmdir for them)."""
        path = task_tmp_dir(self.task_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

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
        """Run the body as step `name`: marks it started, then completed (or failed/cancelled).

        The start is written at once (with the previous step's end); the end rides the next write: the
        next step's start, a progress write (at most TASK_PROGRESS_INTERVAL later) or the final status.
        """
        if name not in self._subtasks:
            raise KeyError(f"job {self.kind!r} declares no step {name!r}")
        self.checkpoint()
        self._current = name
        if name == self._claimed_step:  # started by the claim, stage included: as good as a flush
            self._claimed_step = None
            self._throttle.saved_elsewhere()
        else:
            self._unclaim_step()
            self._subtasks[name].status = SubTask.Status.PROCESSING
            # Written at once, with the previous step's end: a crash from here on is known to be in this step.
            self._mark(name, stage=True, status=SubTask.Status.PROCESSING, started_at=timezone.now())
            self._throttle.flush()
        try:
            yield self
        except BaseException as exc:
            # An error raised while a cancel is under way (ffmpeg killed, engine stopped) is the cancel.
            stopped = isinstance(exc, TaskCancelled) or self.cancel.is_set()
            status = SubTask.Status.CANCELLED if stopped else SubTask.Status.FAILED
            # Rides the final write, which lands only while the task is still ours: a worker that lost it
            # (recovered and claimed elsewhere) must not mark the new owner's step.
            with self._steps_lock:
                self._dirty_steps.setdefault(name, {}).update(status=status, finished_at=timezone.now())
            self._subtasks[name].status = status
            raise
        self.tracker.complete(name)
        self._subtasks[name].status = SubTask.Status.COMPLETED
        self._mark(
            name,
            status=SubTask.Status.COMPLETED,
            finished_at=timezone.now(),
            result=self._subtasks[name].result,
        )
        self._current = None

    def _unclaim_step(self) -> None:
        """The job did not begin with the step the claim started (it failed first, or chose another): that
        step goes back to pending, in the next write."""
        if self._claimed_step is not None:
            self._subtasks[self._claimed_step].status = SubTask.Status.PENDING
            self._mark(self._claimed_step, status=SubTask.Status.PENDING, started_at=None)
            self._claimed_step = None

    def _mark(self, name: str, *, stage: bool = False, **fields: Any) -> None:
        """Queue a step row's change for the next write; `stage`: the task's stage becomes this step too,
        in the same write (readers never see the stage ahead of its step's row)."""
        with self._steps_lock:
            self._dirty_steps.setdefault(name, {}).update(fields)
            if stage:
                self._stage = name
        if not stage:
            self._throttle.touch()

    @property
    def stage(self) -> str:
        """The step the job is in, or was last in."""
        return self._stage

    @property
    def all_steps_done(self) -> bool:
        return all(sub.status == SubTask.Status.COMPLETED for sub in self._subtasks.values())

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

    def write_steps(self) -> None:
        """Write the steps' pending changes now (inside the caller's transaction: the final status)."""
        self._unclaim_step()
        with self._steps_lock:
            steps, self._dirty_steps = self._dirty_steps, {}
        self._write_steps(steps)

    def _write_steps(self, steps: dict[str, dict[str, Any]]) -> None:
        for name, fields in steps.items():
            rows.update(SubTask, {"pk": self._subtasks[name].pk}, progress=self.tracker.fraction(name), **fields)

    def _save_progress(self) -> None:
        """One short transaction: the task's progress/ETA/stage, the current step's progress, step changes."""
        with self._steps_lock:
            steps, self._dirty_steps = self._dirty_steps, {}
            stage = self._stage
        current = self._current
        if current is not None:
            steps.setdefault(current, {})
        owned = 0
        try:
            with transaction.atomic():
                mine = {"pk": self.task_id, "status": ProcessingTask.Status.PROCESSING, "worker_id": self.worker_id}
                owned = rows.update(
                    ProcessingTask,
                    mine,
                    progress=self.tracker.total,
                    eta_seconds=self.tracker.eta_seconds(),
                    stage=stage,
                    updated_at=timezone.now(),
                )
                if owned:
                    self._write_steps(steps)
                    hooks.run_progress_hooks(self.task_id, self.owner_id)
            if not owned:
                # Cancelled by force, failed by a timeout or recovered by another worker: stop working.
                self.cancel.set("lost")
        except BaseException:
            with self._steps_lock:  # not written: the next write takes them (newer changes win)
                for name, fields in steps.items():
                    self._dirty_steps[name] = {**fields, **self._dirty_steps.get(name, {})}
            raise
        finally:
            if threading.current_thread() is not self._job_thread:
                connections.close_all()
