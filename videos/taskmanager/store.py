"""The task table's state changes: claim, renew, finish, requeue, cancel. Each is one short transaction.

Every change is a conditional UPDATE on (id, status[, worker_id]) so two workers, a zombie thread
and a recoverer can never both win.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from videos.models import ProcessingTask, SubTask
from videos.taskmanager import rows
from videos.taskmanager.hooks import announce

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


def host_name() -> str:
    return socket.gethostname()


# A column a transition never needs: JSON that grows with the work (a job needs its args).
_HEAVY = ("result",)


def _locked(task_id: Any, where: dict[str, Any]) -> ProcessingTask | None:
    """The task row if `where` still holds, locked until commit (SQLite: the IMMEDIATE transaction is)."""
    return rows.first(ProcessingTask, {"pk": task_id, **where}, lock=True, defer=_HEAVY)


def transition(
    task_id: Any,
    event: str,
    *,
    where: dict[str, Any],
    fields: dict[str, Any] | Callable[[ProcessingTask], dict[str, Any]],
    subtasks: str | None = None,
    outcome: str | None = None,
    begin_attempt: bool = False,
    detail: str | None = None,
    log_fields: dict[str, Any] | None = None,
    before: Callable[[ProcessingTask], None] | None = None,
    locked: ProcessingTask | None = None,
    ended_stage: str | None = None,
) -> ProcessingTask | None:
    """The one state change: the row locked and read once, one UPDATE (attempts log included), the steps,
    dependent state, hooks.

    Returns the task as it is after the change, or None when `where` no longer held (someone else won).
    `fields` may be a function of the locked row (values computed from it). `subtasks`: a final status
    to close the open steps with, or "requeue" to put the running step back to pending. `before` runs
    once the row is ours, before the change commits. `locked`: the row, already locked by the caller in
    this transaction. `ended_stage`: where the attempt ended, when the runner knows better than the row
    (its last stage may ride the final write). One transaction; the log line follows it.
    """
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        task = locked if locked is not None else _locked(task_id, where)
        if task is None:
            return None
        changes = {"updated_at": now, **(fields(task) if callable(fields) else fields)}
        stage_before = ended_stage or task.stage
        for name, value in changes.items():
            setattr(task, name, value)
        log = list(task.attempts_log or [])
        if outcome is not None:
            log = _end_attempt(log, outcome, now, stage_before, detail)
        if begin_attempt:
            entry = {"attempt": task.attempts, "started_at": now.isoformat(), "ended_at": None}
            log.append(entry | {"stage": task.stage, "outcome": "running", "host": host_name(), "pids": []})
        if log != (task.attempts_log or []):
            task.attempts_log = changes["attempts_log"] = log
        if before is not None:
            before(task)
        if not rows.update(ProcessingTask, {"pk": task.pk, **where}, **changes):
            return None
        if subtasks == "requeue":  # every step not completed waits again, whatever its last attempt made of it
            SubTask.objects.filter(task_id=task.pk).exclude(
                status__in=[SubTask.Status.COMPLETED, SubTask.Status.PENDING]
            ).update(status=SubTask.Status.PENDING, finished_at=None)
        elif subtasks:
            _close_subtasks(task.pk, subtasks, now)
        announce(task, event)
    log_transition(task, event, **(log_fields or {}))
    return task


def _end_attempt(log: list[dict[str, Any]], outcome: str, now: Any, stage: str, detail: str | None) -> list:
    """The attempts log with its running entry (if one runs) closed with why it ended."""
    if not log or log[-1].get("ended_at") is not None:
        return log
    last = dict(log[-1], ended_at=now.isoformat(), stage=stage, outcome=outcome)
    if detail:
        last["detail"] = detail
    return [*log[:-1], last]


def record_child(task_id: Any, worker_id: str, pid: int) -> None:
    """Remember a child process of our running attempt, so that recovery can kill it if we die."""
    with transaction.atomic():
        row = (
            ProcessingTask.objects.select_for_update()
            .filter(pk=task_id, status=Status.PROCESSING, worker_id=worker_id)
            .values_list("attempts_log", flat=True)
            .first()
        )
        if not row or row[-1].get("ended_at") is not None:
            return
        last = dict(row[-1], pids=[*row[-1].get("pids", []), pid])
        ProcessingTask.objects.filter(pk=task_id).update(attempts_log=[*row[:-1], last])


def local_child_pids(task: ProcessingTask) -> list[int]:
    """Child pids recorded by attempts that ran on this host."""
    host = host_name()
    return [pid for entry in task.attempts_log or [] if entry.get("host") == host for pid in entry.get("pids", [])]


def claim_next(worker_id: str, *, task_id: Any = None) -> ProcessingTask | None:
    """Atomically take the oldest pending task (or task `task_id`, if pending) for `worker_id`; None if none.

    One transaction: pick and lock the row (SKIP LOCKED on PostgreSQL; SQLite's IMMEDIATE transaction
    already excludes other writers), read its steps, then the transition's single UPDATE. The first step
    not yet completed (where every job starts, or resumes) starts with the claim: stage and step row in
    this transaction, not one of their own. The returned task holds its steps (`task.claimed_steps`).
    """
    now = timezone.now()
    first: list[SubTask] = []

    def claimed(task: ProcessingTask) -> dict[str, Any]:
        task.claimed_steps = rows.select(SubTask, {"task_id": task.pk}, order_by=("position",))
        first.extend(sub for sub in task.claimed_steps if sub.status != SubTask.Status.COMPLETED)
        return dict(
            status=Status.PROCESSING,
            worker_id=worker_id,
            heartbeat_at=now,
            attempts=task.attempts + 1,
            started_at=task.started_at or now,
            finished_at=None,
            eta_seconds=None,
            **({"stage": first[0].name} if first else {}),
        )

    def start_first_step(_: ProcessingTask) -> None:
        if first:
            step = first[0]
            step.status, step.started_at = SubTask.Status.PROCESSING, now
            rows.update(SubTask, {"pk": step.pk}, status=step.status, started_at=now)

    pending: dict[str, Any] = {"status": Status.PENDING, "cancel_requested": False}
    if task_id is not None:
        pending["pk"] = task_id
    with transaction.atomic():
        task = rows.first(ProcessingTask, pending, order_by=("created_at",), lock=True, skip_locked=True, defer=_HEAVY)
        if task is None:
            return None
        return transition(
            task.pk,
            "started",
            where={"status": Status.PENDING},
            fields=claimed,
            begin_attempt=True,
            log_fields={"worker": worker_id},
            before=start_first_step,
            locked=task,
        )


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


def finish(
    task_id: Any,
    worker_id: str,
    status: str,
    *,
    result: Any = None,
    error: str | None = None,
    outcome: str | None = None,
    detail: str | None = None,
    before: Callable[[ProcessingTask], None] | None = None,
    steps_closed: bool = False,
    stage: str | None = None,
) -> bool:
    """Move our processing task to a final status; False when it was no longer ours.

    `before` runs once the row is ours and locked, before the status commits (the job's last step
    writes, scratch clean-up). `steps_closed`: every step is already completed (no UPDATE for them).
    `stage`: the stage the attempt ended in.
    """
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "stage": status}
    if status == Status.COMPLETED:
        fields.update(progress=100.0, eta_seconds=0.0, result=result)
    else:
        fields.update(eta_seconds=None, error_message=error)
    task = transition(
        task_id,
        status,
        where={"status": Status.PROCESSING, "worker_id": worker_id},
        fields=fields,
        subtasks=None if steps_closed else status,
        outcome=outcome or status,
        detail=detail,
        log_fields={"error": error},
        before=before,
        ended_stage=stage,
    )
    return task is not None


def requeue(task_id: Any, worker_id: str, *, before: Callable[[ProcessingTask], None] | None = None) -> bool:
    """Give our task back to the queue (graceful shutdown): another life resumes it. `before`: as finish's."""
    task = transition(
        task_id,
        "requeued",
        where={"status": Status.PROCESSING, "worker_id": worker_id},
        fields={"status": Status.PENDING, "worker_id": "", "stage": "queued", "eta_seconds": None},
        subtasks="requeue",
        outcome="interrupted",
        log_fields={"reason": "shutdown"},
        before=before,
    )
    return task is not None


def _cancelled_fields(**extra: Any) -> dict[str, Any]:
    return dict(
        status=Status.CANCELLED,
        cancel_requested=True,
        finished_at=timezone.now(),
        stage="cancelled",
        eta_seconds=None,
        **extra,
    )


def cancel_pending(task_id: Any) -> bool:
    """pending -> cancelled directly; False if it was no longer pending."""
    task = transition(
        task_id,
        "cancelled",
        where={"status": Status.PENDING},
        fields=_cancelled_fields(),
        subtasks=Status.CANCELLED,
        log_fields={"was": "pending"},
    )
    return task is not None


def request_cancel(task_id: Any) -> bool:
    return bool(
        ProcessingTask.objects.filter(pk=task_id, status=Status.PROCESSING).update(
            cancel_requested=True, updated_at=timezone.now()
        )
    )


def force_cancel(task_id: Any, message: str) -> bool:
    """Cancel an active task in the database at once, whoever runs it; its worker notices and stops."""
    task = transition(
        task_id,
        "cancelled",
        where={"status__in": ProcessingTask.ACTIVE},
        fields=_cancelled_fields(error_message=message),
        subtasks=Status.CANCELLED,
        outcome="cancelled",
        log_fields={"reason": message},
    )
    return task is not None


def _close_subtasks(task_id: Any, status: str, now: Any) -> None:
    open_ = SubTask.objects.filter(task_id=task_id).exclude(status=SubTask.Status.COMPLETED)
    if status == Status.COMPLETED:
        open_.update(status=SubTask.Status.COMPLETED, progress=1.0)
    elif status == Status.FAILED:
        open_.filter(status=SubTask.Status.PROCESSING).update(status=SubTask.Status.FAILED, finished_at=now)
        open_.filter(status=SubTask.Status.PENDING).update(status=SubTask.Status.CANCELLED)
    else:
        open_.exclude(status=SubTask.Status.FAILED).update(status=SubTask.Status.CANCELLED)
