"""TASK_BACKEND=celery: the same jobs on Celery workers, the database still the source of truth.

Web side: once a task's row commits, a message carrying only its id goes to the broker. Worker side:
each pool process has a TaskManager with no claiming threads of its own; a message claims its task
row atomically (a duplicate delivery, a cancelled or finished task: nothing to claim, acknowledged
without running) and runs it in the Celery thread under the manager's watch (lease, cancel flag,
timeout). Messages are acknowledged late and given back when a pool process dies; our recovery puts
the row back to pending, which sends a new message (backends.announce_requeue).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django.utils.module_loading import import_string

from videos.models import ProcessingTask
from videos.taskmanager import store
from videos.taskmanager.backends import TaskBackend
from videos.taskmanager.manager import TaskManager, get_task_manager, register_companion

log = logging.getLogger("montage.tasks")
RUN_TASK = "montage.run_task"


def celery_app() -> Any:
    return import_string(settings.TASK_CELERY_APP)


def send(task_id: Any) -> bool:
    """One message for the task; False (logged) when the broker can't be reached: the resender retries."""
    try:
        celery_app().send_task(RUN_TASK, args=[str(task_id)], task_id=str(task_id))
    except Exception:
        log.exception("celery.send_failed task_id=%s", task_id)
        return False
    return True


class CeleryBackend(TaskBackend):
    runs_in_web_processes = False

    def enqueue(self, task_id: Any) -> None:
        send(task_id)

    requeued = enqueue

    def revoke(self, task_id: Any) -> None:
        """Workers drop the message unseen; if one still reaches a worker, the row refuses the claim."""
        try:
            celery_app().control.revoke(str(task_id))
        except Exception:
            log.exception("celery.revoke_failed task_id=%s", task_id)


@shared_task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_task_message(task_id: str) -> str:
    manager = worker_manager()
    task = store.claim_next(manager.worker_id, task_id=task_id)
    if task is None:
        log.info("celery.skipped task_id=%s (not pending: claimed, cancelled or finished)", task_id)
        return "skipped"
    return manager.run_claimed(task)


class PendingResender:
    """Sends again the message of a task left pending past a lease (a broker that was down when it
    was queued, a message lost with a broker restart). One sender per task and period, whatever the
    number of workers: the row's updated_at is moved by a conditional UPDATE first."""

    def __init__(self, worker_id: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="montage-celery-resender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        period = max(settings.TASK_LEASE_SECONDS, 1)
        while not self._stop.wait(period):
            try:
                resend_stale_pending(timedelta(seconds=period))
            except Exception:
                log.exception("celery.resend_failed")
            finally:
                close_old_connections()


def queue_is_empty() -> bool:
    """No message waits in the broker's queue (a worker's own reserved message is not counted). While
    some wait, the workers are busy and the pending tasks' messages are still queued: nothing to resend."""
    try:
        with celery_app().connection_for_read() as connection:
            _, waiting, _ = connection.default_channel.queue_declare(
                queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
            )
    except Exception:
        return True  # can't tell: a duplicate costs one skipped message, a lost one a stuck task
    return waiting == 0


def resend_stale_pending(older_than: timedelta) -> list[Any]:
    if not queue_is_empty():
        return []
    now = timezone.now()
    stale = ProcessingTask.objects.filter(
        status=ProcessingTask.Status.PENDING, cancel_requested=False, updated_at__lt=now - older_than
    ).values_list("pk", flat=True)[:500]
    sent = []
    for pk in stale:
        mine = ProcessingTask.objects.filter(
            pk=pk, status=ProcessingTask.Status.PENDING, updated_at__lt=now - older_than
        ).update(updated_at=now)
        if mine and send(pk):
            sent.append(pk)
    if sent:
        log.info("celery.resent count=%d", len(sent))
    return sent


_start_lock = threading.Lock()


def worker_manager() -> TaskManager:
    """This pool process's TaskManager: no claiming threads, a maintenance thread that also notices
    dead sibling processes within a second, and the companions (webhooks, resender)."""
    manager = get_task_manager()
    with _start_lock:
        if not manager.started:
            register_companion(PendingResender)
            manager.workers = 0
            manager.watch_local_deaths = True
            manager.start()
    return manager


@worker_process_init.connect
def _start_in_pool_process(**_: Any) -> None:
    """Recovery runs as a pool process starts, before its first message (solo pools start on it)."""
    worker_manager()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _stop_manager(**_: Any) -> None:
    get_task_manager().stop()
