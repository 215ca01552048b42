"""The Celery app for TASK_BACKEND=celery: `celery -A backend worker` runs Montage's jobs.

A message carries only a task id; the database stays the source of truth (videos/taskmanager/celery_backend.py).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("montage")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Not settings: the recovery design depends on them. A message is acknowledged only once its job has
# ended, and given back to the broker when the pool process running it dies; each process takes one
# message at a time, so a long job never holds others hostage in its prefetch buffer.
DELIVERY = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_ignore_result": True,
    "task_serializer": "json",
    "accept_content": ["json"],
    "broker_connection_retry_on_startup": True,
    "worker_hijack_root_logger": False,
}
app.conf.update(DELIVERY)
app.autodiscover_tasks(["videos.taskmanager"], related_name="celery_backend")
