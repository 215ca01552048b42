"""Every write to tasks: submit (with the limits), cancel, retry, purge."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from videos.exceptions import (
    AlreadyRetriedError,
    NotCancellableError,
    NotRetryableError,
    ServerBusyError,
    TaskConflictError,
    UserTaskLimitError,
    VideoGoneError,
)
from videos.models import ActiveTaskCount, ProcessingTask, SubTask, Video
from videos.taskmanager import hooks, rows, store
from videos.taskmanager.backends import get_backend
from videos.taskmanager.context import remove_task_tmp_dir
from videos.taskmanager.manager import get_task_manager
from videos.taskmanager.registry import get_job, kinds_in_group

log = logging.getLogger("montage.tasks")
# Namespace of the per-owner advisory locks on PostgreSQL (the other key is the owner's id).
OWNER_LOCK_SPACE = 0x4D6F6E74  # "Mont"
CANCEL_WAIT_SECONDS = 1.0
_COLUMNS_BUT_ID = tuple(f.name for f in ProcessingTask._meta.concrete_fields if not f.primary_key)


def lock_owner_tasks(owner_id: int) -> None:
    """Serialise one owner's task creation and what must not interleave with it (deleting their video).

    Call inside a transaction. PostgreSQL takes a transaction-scoped advisory lock on the owner alone,
    so creators of different users never wait for each other; SQLite's IMMEDIATE transactions already
    serialise every writer.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [OWNER_LOCK_SPACE, owner_id % 2**31])


def task_submit(
    *,
    owner: User,
    kind: str,
    args: dict[str, Any] | None = None,
    video: Video | None = None,
    force: bool = False,
    retry_of: ProcessingTask | None = None,
) -> ProcessingTask:
    """Queue a task of `kind`, enforcing the per-(video, kind), per-user and global limits atomically.

    Both counted after the insert, in one statement: per user under the owner's lock; globally from the
    one counter row, which the insert's trigger bumps and holds until commit, so concurrent creators of
    all users read exact figures in turn. A second retry of a task is refused by the unique index on
    `retry_of`, whoever inserts it, and named as such before any other refusal.
    """
    spec = get_job(kind)
    try:
        with transaction.atomic():
            lock_owner_tasks(owner.pk)
            if video is not None and not Video.objects.filter(pk=video.pk).exists():
                raise VideoGoneError()
            if video is not None:
                _clear_the_way(video=video, kinds=_exclusive_kinds(kind, spec.video_group), force=force)
            task = ProcessingTask(owner=owner, kind=kind, args=args or {}, video=video, retry_of=retry_of)
            rows.insert([task])  # a second retry stops here, at the unique index on retry_of
            mine, everyone = _active_counts(owner.pk)  # ours included: over a limit, it is rolled back
            if mine > settings.MAX_CONCURRENT_TASKS_PER_USER:
                raise UserTaskLimitError(
                    f"You already have {settings.MAX_CONCURRENT_TASKS_PER_USER} active tasks "
                    "(the limit); wait for one to finish or cancel one.",
                    retry_after=10,
                )
            if everyone > settings.MAX_GLOBAL_CONCURRENT_TASKS:
                raise ServerBusyError(retry_after=15)
            SubTask.objects.bulk_create(
                SubTask(task=task, name=name, position=i, weight=weight)
                for i, (name, weight) in enumerate(spec.steps.items())
            )
            hooks.announce(task, "queued")  # none -> pending: the creation is a transition too
            transaction.on_commit(lambda: get_backend().enqueue(task.pk))
    except (VideoGoneError, TaskConflictError, UserTaskLimitError, ServerBusyError):
        if retry_of is not None:  # a second retry is refused as such first, whatever else is in the way
            _refuse_second_retry(retry_of)
        raise
    except IntegrityError:
        # A unique index caught a concurrent twin the checks above could not see (a second retry, a second
        # active task on the video), or the video went.
        if retry_of is not None:
            _refuse_second_retry(retry_of)
        if video is None:
            raise
        existing = _active_on(video, _exclusive_kinds(kind, spec.video_group))
        if existing is not None:
            raise TaskConflictError(task_id=str(existing.pk)) from None
        if not Video.objects.filter(pk=video.pk).exists():
            raise VideoGoneError() from None
        raise
    store.log_transition(task, "queued", force=force)
    return task


def _active_counts(owner_id: int) -> tuple[int, int]:
    """The owner's active tasks and everyone's (the trigger-kept counter row), this transaction's insert
    included: one statement, read under the owner's lock and after the insert that holds the counter row."""
    task, counter = ProcessingTask._meta, ActiveTaskCount._meta
    statuses = ", ".join(["%s"] * len(ProcessingTask.ACTIVE))
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {rows.table(ProcessingTask)}"
        f" WHERE {rows.qualified(task.get_field('owner'))} = %s AND {rows.qualified(task.get_field('status'))}"
        f" IN ({statuses})), (SELECT {rows.qualified(counter.get_field('active'))} FROM {rows.table(ActiveTaskCount)}"
        f" WHERE {rows.qualified(counter.pk)} = 1)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [owner_id, *ProcessingTask.ACTIVE])
        mine, everyone = cursor.fetchone()
    return int(mine), int(everyone or 0)


def _exclusive_kinds(kind: str, group: str) -> list[str]:
    """Kinds that may not be active beside `kind` on one video: its group, and all writers for a writer."""
    kinds = set(kinds_in_group(group))
    if kind in ProcessingTask.WRITER_KINDS:
        kinds |= set(ProcessingTask.WRITER_KINDS)
    return sorted(kinds)


def _active_on(video: Video, kinds: list[str]) -> ProcessingTask | None:
    return ProcessingTask.objects.filter(video=video, kind__in=kinds, status__in=ProcessingTask.ACTIVE).first()


def _clear_the_way(*, video: Video, kinds: list[str], force: bool) -> None:
    """The one-active-task rule per video and kind group: 409, or with force cancel the one in the way."""
    existing = _active_on(video, kinds)
    if existing is None:
        return
    if not force:
        raise TaskConflictError(
            f"A {existing.kind} task is already {existing.status} on this video; pass force=true to replace it.",
            task_id=str(existing.pk),
        )
    store.force_cancel(existing.pk, "Replaced by a newer task started with force.")
    transaction.on_commit(lambda: get_task_manager().cancel_local(existing.pk))


def task_cancel(*, task: ProcessingTask, wait: float = CANCEL_WAIT_SECONDS) -> ProcessingTask:
    """Cancel a pending task at once; ask a running one to stop and wait briefly for it to do so."""
    if store.cancel_pending(task.pk):
        transaction.on_commit(lambda: get_backend().revoke(task.pk))
        task.refresh_from_db()
        return task
    if not store.request_cancel(task.pk):
        task.refresh_from_db()
        if task.status == ProcessingTask.Status.PENDING:  # claimed and released in between: try again
            return task_cancel(task=task, wait=wait)
        raise NotCancellableError(f"The task is {task.status}; only pending or processing tasks can be cancelled.")
    running = get_task_manager().cancel_local(task.pk)
    if running is not None:
        running.done.wait(wait)
    else:  # running in another process: its watcher sees the flag within a fraction of a second
        deadline = time.monotonic() + wait
        while (
            time.monotonic() < deadline
            and ProcessingTask.objects.filter(pk=task.pk, status=ProcessingTask.Status.PROCESSING).exists()
        ):
            time.sleep(0.05)
    task.refresh_from_db()
    return task


def task_retry(*, task: ProcessingTask) -> ProcessingTask:
    """A new task with the same kind, arguments and video as a failed or cancelled one; at most one per task.

    A unique index on `retry_of` refuses a second one whatever process inserts it; task_submit then
    names the first.
    """
    if task.status not in (ProcessingTask.Status.FAILED, ProcessingTask.Status.CANCELLED):
        raise NotRetryableError(f"The task is {task.status}; only failed or cancelled tasks can be retried.")
    return task_submit(owner=task.owner, kind=task.kind, args=task.args, video=task.video, retry_of=task)


def _refuse_second_retry(task: ProcessingTask) -> None:
    retry = rows.first(ProcessingTask, {"retry_of": task.pk}, defer=_COLUMNS_BUT_ID)
    if retry is not None:
        raise AlreadyRetriedError(
            f"Task {task.pk} was already retried as task {retry.pk}; retry that one instead.", task_id=str(retry.pk)
        )


def tasks_purge(*, older_than_days: int) -> int:
    """Delete finished tasks older than the given age, with their scratch files; never an active one."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    old = list(
        ProcessingTask.objects.filter(status__in=ProcessingTask.FINISHED, finished_at__lt=cutoff).values_list(
            "pk", "kind", "args"
        )
    )
    deleted, _ = ProcessingTask.objects.filter(
        pk__in=[pk for pk, _, _ in old], status__in=ProcessingTask.FINISHED
    ).delete()
    for task_id, kind, args in old:
        remove_task_tmp_dir(task_id)
        try:
            spec = get_job(kind)
        except LookupError:  # a kind this version no longer has: nothing more to clean
            continue
        if spec.on_purge is not None:
            spec.on_purge(args or {})
    log.info("tasks.purged count=%s older_than_days=%s", len(old), older_than_days)
    return len(old) if deleted else 0
