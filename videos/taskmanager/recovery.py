"""Recovery: worker identities, and tasks whose worker died going back to the queue (or failing).

A worker id is host:pid:nonce, new for every life of every process. At start-up a process fails over
at once the tasks of dead processes on its host; anywhere, a task whose lease expired is an orphan.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from videos.models import ProcessingTask
from videos.taskmanager.hooks import child_processes
from videos.taskmanager.store import Status, host_name, local_child_pids, transition


def make_worker_id() -> str:
    """Host, pid and a nonce: a new identity for every life of every process."""
    return f"{host_name()}:{os.getpid()}:{os.urandom(4).hex()}"


def pid_alive(pid: int) -> bool:
    """True while a process with this pid runs here (a zombie counts as dead)."""
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


def is_dead_local_worker(worker_id: str, my_worker_id: str) -> bool:
    """`worker_id` (host:pid:nonce) names an earlier life of our process, or a process gone from this host.

    Call with ids of this host only; our own live id is never dead.
    """
    if worker_id == my_worker_id:
        return False
    try:
        pid = int(worker_id.split(":")[1])
    except (IndexError, ValueError):
        return False
    return str(pid) == my_worker_id.split(":")[1] or not pid_alive(pid)


def dead_local_workers(my_worker_id: str) -> list[str]:
    """Worker ids on this host that belonged to processes no longer alive (or an earlier life of ours)."""
    owners = (
        ProcessingTask.objects.filter(status=Status.PROCESSING, worker_id__startswith=f"{host_name()}:")
        .values_list("worker_id", flat=True)
        .distinct()
    )
    return [worker_id for worker_id in owners if is_dead_local_worker(worker_id, my_worker_id)]


def recover_orphans(my_worker_id: str, *, dead_local: bool = False) -> list[Any]:
    """Put tasks whose worker died back to pending (or fail them after TASK_MAX_ATTEMPTS): those whose
    lease expired, and with `dead_local` (start-up; every second in Celery workers) those of dead
    processes on this host at once."""
    cutoff = timezone.now() - timedelta(seconds=settings.TASK_LEASE_SECONDS)
    orphaned = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    if dead_local:
        dead = dead_local_workers(my_worker_id)
        if dead:
            orphaned |= Q(worker_id__in=dead)
    candidates = list(
        ProcessingTask.objects.filter(Q(status=Status.PROCESSING) & orphaned)
        .exclude(worker_id=my_worker_id)
        .values_list("pk", "worker_id", "attempts", "heartbeat_at")
    )
    recovered = []
    for pk, worker_id, attempts, heartbeat_at in candidates:
        if _recover_one(pk, worker_id, attempts, heartbeat_at):
            recovered.append(pk)
    return recovered


def _recover_one(pk: Any, worker_id: str, attempts: int, heartbeat_at: Any) -> bool:
    """Recover the task as it was read: a worker that renewed its lease since (it was only slow) keeps it."""
    exhausted = attempts >= settings.TASK_MAX_ATTEMPTS
    if exhausted:
        fields: dict[str, Any] = dict(
            status=Status.FAILED,
            finished_at=timezone.now(),
            stage=Status.FAILED,
            eta_seconds=None,
            error_message=(
                f"Interrupted: the worker running this task stopped (server restart or crash) "
                f"during attempt {attempts} of {settings.TASK_MAX_ATTEMPTS}; it was not retried again."
            ),
        )
    else:
        fields = dict(status=Status.PENDING, stage="queued", eta_seconds=None)
    task = transition(
        pk,
        "recovered",
        where={"status": Status.PROCESSING, "worker_id": worker_id, "heartbeat_at": heartbeat_at},
        fields={"worker_id": "", **fields},
        subtasks=Status.FAILED if exhausted else "requeue",
        outcome="interrupted",
        log_fields={"previous_worker": worker_id, "outcome": fields["status"]},
    )
    if task is None:
        return False
    if worker_id.startswith(f"{host_name()}:"):  # a dead life of a process on this host: its children go too
        child_processes().kill_leftovers(str(pk), local_child_pids(task))
    return True
