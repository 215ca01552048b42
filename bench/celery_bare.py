"""The reference for bench_celery.py: a bare Celery task writing the rows a no-op Montage task writes
(claim the task, start and finish its one step, finish the task), nothing else. Same broker settings
as backend/celery.py. Run by the benchmark as `celery -A bench.celery_bare worker`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from backend.celery import DELIVERY  # noqa: E402 - after the settings module is named

app = Celery("bare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(DELIVERY, task_default_queue="bare")


@app.task(name="bare.noop")
def noop(task_id: str) -> None:
    from django.db.models import F
    from django.utils import timezone

    from videos.models import ProcessingTask, SubTask

    now = timezone.now()
    ProcessingTask.objects.filter(pk=task_id, status="pending").update(
        status="processing",
        started_at=now,
        heartbeat_at=now,
        worker_id=f"bare:{os.getpid()}",
        attempts=F("attempts") + 1,
    )
    SubTask.objects.filter(task_id=task_id).update(status="processing", started_at=now)
    SubTask.objects.filter(task_id=task_id).update(status="completed", progress=1.0, finished_at=timezone.now())
    ProcessingTask.objects.filter(pk=task_id, status="processing").update(
        status="completed", progress=100, stage="completed", finished_at=timezone.now()
    )
