"""The task table's state changes: claim, renew, finish, recover. Each is one short transaction.

Every change is a conditional UPDATE on (id, status[, worker_id]) so two workers, a zombie thread
and a recoverer can never both win.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string

from videos.models import ProcessingTask, SubTask

log = logging.getLogger("montage.tasks")
Status = ProcessingTask.Status


def log_transition(task: ProcessingTask, event: str, **fields: Any) -> None:
    """One structured line per task transition."""
    duration = None
    if task.started_at and task.finished_at:
        duration = round((task.finished_at - task.started_at).total_seconds(), 3)
    extra = " ".join(f"{k}={v!r}" for k, v in fields.items())
    log.info(
        "task.%s task_id=%s kind=%s owner=%s attempt=%s status=%s duration_s=%s %s",
        event,
        task.pk,
        task.kind,
        task.owner_id,
        task.attempts,
        task.status,
        duration,
        extra,
    )


_TRANSITION_HOOKS: list[Callable[[ProcessingTask], None]] = []


def add_transition_hook(hook: Callable[[ProcessingTask], None]) -> None:
    """Run `hook(task)` inside the transaction of every state change (the app registers, e.g. an outbox)."""
    if hook not in _TRANSITION_HOOKS:
        _TRANSITION_HOOKS.append(hook)


_PROGRESS_HOOKS: list[Callable[[Any, Any], None]] = []


def add_progress_hook(hook: Callable[[Any, Any], None]) -> None:
    """Run `hook(task_id, owner_id)` inside the transaction of each persisted progress write (throttled)."""
    if hook not in _PROGRESS_HOOKS:
        _PROGRESS_HOOKS.append(hook)


def run_progress_hooks(task_id: Any, owner_id: Any) -> None:
    for hook in _PROGRESS_HOOKS:
        hook(task_id, owner_id)


def run_status_hook(task: ProcessingTask) -> None:
    """Let the app put dependent state right (a video's status) in the same transaction."""
    hook = getattr(settings, "TASK_STATUS_HOOK", "")
    if hook:
        import_string(hook)(task)
    for extra in _TRANSITION_HOOKS:
        extra(task)


def _host() -> str:
    return socket.gethostname()


def claim_next(worker_id: str) -> ProcessingTask | None:
    """Atomically take the oldest pending task for `worker_id`, or None when the queue is empty."""
    now = timezone.now()
    fields = dict(
        status=Status.PROCESSING,
        worker_id=worker_id,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", now),
        updated_at=now,
        finished_at=None,
        eta_seconds=None,
    )
    pending = ProcessingTask.objects.filter(status=Status.PENDING, cancel_requested=False).order_by("created_at")
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            task = pending.select_for_update(skip_locked=True).only("pk").first()
            if task is None:
                return None
            ProcessingTask.objects.filter(pk=task.pk).update(**fields)
            return _after_claim(task.pk)
    for pk in pending.values_list("pk", flat=True)[:8]:
        with transaction.atomic():
            if ProcessingTask.objects.filter(pk=pk, status=Status.PENDING).update(**fields):
                return _after_claim(pk)
    return None


def _after_claim(pk: Any) -> ProcessingTask:
    task = ProcessingTask.objects.select_related("owner").get(pk=pk)
    run_status_hook(task)
    log_transition(task, "started", worker=task.worker_id)
    return task


def renew_leases(worker_id: str, task_ids: list[Any]) -> int:
    if not task_ids:
        return 0
    return ProcessingTask.objects.filter(pk__in=task_ids, status=Status.PROCESSING, worker_id=worker_id).update(
        heartbeat_at=timezone.now()
    )


def tasks_to_stop(worker_id: str, task_ids: list[Any]) -> list[Any]:
    """Ids among ours that must stop: cancel requested, or no longer ours (forced, recovered)."""
    if not task_ids:
        return []
    return list(
        ProcessingTask.objects.filter(pk__in=task_ids)
        .exclude(status=Status.PROCESSING, worker_id=worker_id, cancel_requested=False)
        .values_list("pk", flat=True)
    )


def finish(task_id: Any, worker_id: str, status: str, *, result: Any = None, error: str | None = None) -> bool:
    """Move our processing task to a final status; False when it was no longer ours."""
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now, "stage": status}
    if status == Status.COMPLETED:
        fields.update(progress=100.0, eta_seconds=0.0, result=result)
    else:
        fields.update(eta_seconds=None, error_message=error)
    with transaction.atomic():
        won = ProcessingTask.objects.filter(pk=task_id, status=Status.PROCESSING, worker_id=worker_id).update(**fields)
        if not won:
            return False
        _close_subtasks(task_id, status)
        task = ProcessingTask.objects.get(pk=task_id)
        run_status_hook(task)
    log_transition(task, status, error=error)
    return True


def requeue(task_id: Any, worker_id: str) -> bool:
    """Give our task back to the queue (graceful shutdown): another life resumes it."""
    with transaction.atomic():
        won = ProcessingTask.objects.filter(pk=task_id, status=Status.PROCESSING, worker_id=worker_id).update(
            status=Status.PENDING, worker_id="", stage="queued", eta_seconds=None, updated_at=timezone.now()
        )
        if won:
            SubTask.objects.filter(task_id=task_id, status=SubTask.Status.PROCESSING).update(
                status=SubTask.Status.PENDING
            )
            task = ProcessingTask.objects.get(pk=task_id)
            run_status_hook(task)
    if won:
        log_transition(task, "requeued", reason="shutdown")
    return bool(won)


def cancel_pending(task_id: Any) -> bool:
    """pending -> cancelled directly; False if it was no longer pending."""
    now = timezone.now()
    with transaction.atomic():
        won = ProcessingTask.objects.filter(pk=task_id, status=Status.PENDING).update(
            status=Status.CANCELLED,
            cancel_requested=True,
            finished_at=now,
            updated_at=now,
            stage="cancelled",
            eta_seconds=None,
        )
        if won:
            _close_subtasks(task_id, Status.CANCELLED)
            task = ProcessingTask.objects.get(pk=task_id)
            run_status_hook(task)
    if won:
        log_transition(task, "cancelled", was="pending")
    return bool(won)


def request_cancel(task_id: Any) -> bool:
    return bool(
        ProcessingTask.objects.filter(pk=task_id, status=Status.PROCESSING).update(
            cancel_requested=True, updated_at=timezone.now()
        )
    )


def force_cancel(task_id: Any, message: str) -> bool:
    """Cancel an active task in the database at once, whoever runs it; its worker notices and stops."""
    now = timezone.now()
    won = ProcessingTask.objects.filter(pk=task_id, status__in=ProcessingTask.ACTIVE).update(
        status=Status.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        updated_at=now,
        stage="cancelled",
        eta_seconds=None,
        error_message=message,
    )
    if won:
        _close_subtasks(task_id, Status.CANCELLED)
        task = ProcessingTask.objects.get(pk=task_id)
        run_status_hook(task)
        log_transition(task, "cancelled", reason=message)
    return bool(won)


def _close_subtasks(task_id: Any, status: str) -> None:
    open_ = SubTask.objects.filter(task_id=task_id).exclude(status=SubTask.Status.COMPLETED)
    if status == Status.COMPLETED:
        SubTask.objects.filter(task_id=task_id).update(status=SubTask.Status.COMPLETED, progress=1.0)
    elif status == Status.FAILED:
        open_.filter(status=SubTask.Status.PROCESSING).update(status=SubTask.Status.FAILED, finished_at=timezone.now())
        open_.filter(status=SubTask.Status.PENDING).update(status=SubTask.Status.CANCELLED)
    else:
        open_.exclude(status=SubTask.Status.FAILED).update(status=SubTask.Status.CANCELLED)


# Recovery -------------------------------------------------------------------------------------
def make_worker_id() -> str:
    """Host, pid and a nonce: a new identity for every life of every process."""
    return f"{_host()}:{os.getpid()}:{os.urandom(4).hex()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that nobody reaped yet is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def dead_local_workers(my_worker_id: str) -> list[str]:
    """Worker ids on this host that belonged to processes no longer alive (or an earlier life of ours)."""
    host, my_pid, _ = my_worker_id.split(":")
    dead = []
    owners = (
        ProcessingTask.objects.filter(status=Status.PROCESSING, worker_id__startswith=f"{host}:")
        .values_list("worker_id", flat=True)
        .distinct()
    )
    for worker_id in owners:
        if worker_id == my_worker_id:
            continue
        try:
            pid = int(worker_id.split(":")[1])
        except (IndexError, ValueError):
            continue
        if str(pid) == my_pid or not _pid_alive(pid):
            dead.append(worker_id)
    return dead


def recover_orphans(my_worker_id: str, *, startup: bool = False) -> list[Any]:
    """Put tasks whose worker died back to pending (or fail them after TASK_MAX_ATTEMPTS)."""
    cutoff = timezone.now() - timedelta(seconds=settings.TASK_LEASE_SECONDS)
    orphaned = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    if startup:
        dead = dead_local_workers(my_worker_id)
        if dead:
            orphaned |= Q(worker_id__in=dead)
    candidates = list(
        ProcessingTask.objects.filter(Q(status=Status.PROCESSING) & orphaned)
        .exclude(worker_id=my_worker_id)
        .values_list("pk", "worker_id", "attempts")
    )
    recovered = []
    for pk, worker_id, attempts in candidates:
        if _recover_one(pk, worker_id, attempts):
            recovered.append(pk)
    return recovered


def _recover_one(pk: Any, worker_id: str, attempts: int) -> bool:
    now = timezone.now()
    exhausted = attempts >= settings.TASK_MAX_ATTEMPTS
    if exhausted:
        fields: dict[str, Any] = dict(
            status=Status.FAILED,
            finished_at=now,
            stage=Status.FAILED,
            eta_seconds=None,
            error_message=(
                f"Interrupted: the worker running this task stopped (server restart or crash) "
                f"during attempt {attempts} of {settings.TASK_MAX_ATTEMPTS}; it was not retried again."
            ),
        )
    else:
        fields = dict(status=Status.PENDING, stage="queued", eta_seconds=None)
    with transaction.atomic():
        won = ProcessingTask.objects.filter(pk=pk, status=Status.PROCESSING, worker_id=worker_id).update(
            worker_id="", updated_at=now, **fields
        )
        if not won:
            return False
        if exhausted:
            _close_subtasks(pk, Status.FAILED)
        else:
            SubTask.objects.filter(task_id=pk, status=SubTask.Status.PROCESSING).update(status=SubTask.Status.PENDING)
        task = ProcessingTask.objects.get(pk=pk)
        run_status_hook(task)
    log_transition(task, "recovered", previous_worker=worker_id, outcome=task.status)
    return True
