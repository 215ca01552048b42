"""TaskManager: the per-process pool of worker threads plus one maintenance thread.

Workers claim pending tasks from the database (the source of truth) and run them. The maintenance
thread renews leases, turns cancel flags in the database into Events, enforces the timeout and
recovers tasks whose worker died.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.db import close_old_connections, connections

from videos.taskmanager import recovery, store
from videos.taskmanager.context import CancelSignal
from videos.taskmanager.runner import run_task

log = logging.getLogger("montage.tasks")
WATCH_INTERVAL = 0.25  # cancel flags set in another process reach the worker within this


class Companion(Protocol):
    """A service that lives and dies with a TaskManager (e.g. the webhook sender's threads)."""

    def start(self) -> None: ...

    def stop(self, timeout: float) -> None: ...


_COMPANIONS: list[Callable[[str], Companion]] = []


def register_companion(factory: Callable[[str], Companion]) -> None:
    """Every TaskManager started from now on builds `factory(worker_id)` and starts and stops it with itself."""
    if factory not in _COMPANIONS:
        _COMPANIONS.append(factory)


@dataclass
class RunningTask:
    task_id: Any
    kind: str
    cancel: CancelSignal
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)


class TaskManager:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else settings.TASK_WORKERS
        self.worker_id = recovery.make_worker_id()
        self._lock = threading.Lock()  # guards _running and _threads
        self._running: dict[str, RunningTask] = {}
        self._threads: list[threading.Thread] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.started = False
        self.recovered_at_start: list[Any] = []
        self._companions: list[Companion] = []
        # Look for dead processes on this host every second, not only at start-up: Celery workers,
        # where a dead pool process's message comes back at once and only recovery frees its row.
        self.watch_local_deaths = False

    # Life cycle -------------------------------------------------------------------------------
    def start(self) -> TaskManager:
        with self._lock:
            if self.started:
                return self
            self.started = True
            self._stop.clear()
        try:
            self.recovered_at_start = recovery.recover_orphans(self.worker_id, dead_local=True)
        finally:
            close_old_connections()
        threads = [
            threading.Thread(target=self._worker_loop, name=f"montage-worker-{i}", daemon=True)
            for i in range(self.workers)
        ]
        threads.append(threading.Thread(target=self._maintenance_loop, name="montage-maintenance", daemon=True))
        with self._lock:
            self._threads = threads
        for thread in threads:
            thread.start()
        companions = [factory(self.worker_id) for factory in _COMPANIONS]
        with self._lock:
            self._companions = companions
        for companion in companions:
            companion.start()
        log.info(
            "taskmanager.started worker_id=%s workers=%s recovered=%s",
            self.worker_id,
            self.workers,
            len(self.recovered_at_start),
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; running tasks go back to pending so another life resumes them."""
        with self._lock:
            if not self.started:
                return
            running = list(self._running.values())
            threads = list(self._threads)
            companions, self._companions = self._companions, []
        self._stop.set()
        self._wake.set()
        for task in running:
            task.cancel.set("shutdown")
        deadline = time.monotonic() + timeout
        for companion in companions:
            companion.stop(max(0.0, deadline - time.monotonic()))
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self.started = False
            self._threads = []
        log.info("taskmanager.stopped worker_id=%s", self.worker_id)

    def wake(self) -> None:
        """A task was queued: let an idle worker look now instead of at its next poll."""
        self._wake.set()

    # In-process control -----------------------------------------------------------------------
    def cancel_local(self, task_id: Any, reason: str = "cancelled") -> RunningTask | None:
        with self._lock:
            running = self._running.get(str(task_id))
        if running is not None:
            running.cancel.set(reason)
        return running

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "running": self.started,
                "worker_id": self.worker_id,
                "workers": self.workers,
                "busy": len(self._running),
                "running_tasks": sorted(str(t) for t in self._running),
            }

    # Threads ----------------------------------------------------------------------------------
    def _worker_loop(self) -> None:
        try:
            self._work()
        finally:
            connections.close_all()  # a thread's connection dies with it, never left open

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                task = store.claim_next(self.worker_id)
            except Exception:
                log.exception("taskmanager.claim_failed")
                task = None
            if task is None:
                close_old_connections()  # closes unless CONN_MAX_AGE keeps it (or it broke)
                self._wake.wait(settings.TASK_POLL_SECONDS)
                self._wake.clear()
                continue
            self.run_claimed(task)

    def run_claimed(self, task: Any) -> str:
        """Run a task this manager's worker id has claimed, in the calling thread (a worker thread
        here, a Celery worker's), watched by the maintenance thread: lease, cancel flag, timeout."""
        running = RunningTask(task_id=task.pk, kind=task.kind, cancel=CancelSignal())
        with self._lock:
            self._running[str(task.pk)] = running
        try:
            if self._stop.is_set():
                running.cancel.set("shutdown")
            return run_task(task, worker_id=self.worker_id, cancel=running.cancel)
        except Exception:
            log.exception("taskmanager.run_failed task_id=%s", task.pk)
            return "error"
        finally:
            with self._lock:
                self._running.pop(str(task.pk), None)
            running.done.set()
            close_old_connections()

    def _maintenance_loop(self) -> None:
        try:
            self._maintain()
        finally:
            connections.close_all()

    def _maintain(self) -> None:
        lease = settings.TASK_LEASE_SECONDS
        last_renew = last_recover = time.monotonic()
        recover_every = 1.0 if self.watch_local_deaths else max(lease / 2, 1)
        while not self._stop.wait(WATCH_INTERVAL):
            try:
                now = time.monotonic()
                with self._lock:
                    running = dict(self._running)
                ids = [r.task_id for r in running.values()]
                for task_id in store.tasks_to_stop(self.worker_id, ids):
                    running[str(task_id)].cancel.set("cancelled")
                for r in running.values():
                    if now - r.started > settings.TASK_TIMEOUT_SECONDS:
                        r.cancel.set("timeout")
                if now - last_renew >= lease / 3:
                    store.renew_leases(self.worker_id, ids)
                    last_renew = now
                if now - last_recover >= recover_every:
                    recovery.recover_orphans(self.worker_id, dead_local=self.watch_local_deaths)
                    last_recover = now
            except Exception:
                log.exception("taskmanager.maintenance_failed")
            finally:
                close_old_connections()


_manager: TaskManager | None = None
_manager_lock = threading.Lock()


def get_task_manager() -> TaskManager:
    """The process-wide TaskManager, built on first use (not started: call .start())."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = TaskManager()
    return _manager


def reset_task_manager() -> None:
    """Stop and forget the singleton (tests)."""
    global _manager
    with _manager_lock:
        manager, _manager = _manager, None
    if manager is not None:
        manager.stop()
