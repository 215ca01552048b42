"""The videos app. It starts no TaskManager itself: the serving process does, once it really serves."""

import importlib

from django.apps import AppConfig
from django.conf import settings


def autostart_enabled() -> bool:
    """TASK_AUTOSTART=0 keeps web processes from running tasks (use `runworker` then); with
    TASK_BACKEND=celery they never do (Celery workers run them)."""
    from videos.taskmanager.backends import get_backend

    if not get_backend().runs_in_web_processes:
        return False
    return str(settings.TASK_AUTOSTART).lower() not in {"0", "false", "no"}


def load_job_modules() -> None:
    """Import the modules whose @job decorators fill the task registry (idempotent): ours, and
    TASK_EXTRA_JOB_MODULES (test and fault-injection kinds in server subprocesses)."""
    importlib.import_module("videos.jobs")
    for module in settings.TASK_EXTRA_JOB_MODULES:
        importlib.import_module(module)


class VideosConfig(AppConfig):
    name = "videos"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from videos import checks  # noqa: F401 - registers the system checks

        load_job_modules()
        self._wire_engine_room()

    @staticmethod
    def _wire_engine_room() -> None:
        """The engine room imports nothing of ours: hand it our hooks, children and the threads it should own."""
        from videos.exceptions import describe_storage_failure
        from videos.idempotency.janitor import IdempotencyJanitor
        from videos.idempotency.services import link_created_task
        from videos.media import process
        from videos.services.videos import video_sync_status
        from videos.taskmanager.backends import announce_requeue
        from videos.taskmanager.hooks import (
            add_failure_describer,
            add_progress_hook,
            add_status_hook,
            on_transition,
            set_child_processes,
        )
        from videos.taskmanager.manager import register_companion
        from videos.webhooks.events import on_task_progress, on_task_transition
        from videos.webhooks.sender import WebhookSender

        set_child_processes(process)  # the module: attempt_scope() and kill_leftovers()
        add_failure_describer(describe_storage_failure)
        add_status_hook(video_sync_status)
        on_transition(on_task_transition)
        on_transition(link_created_task)
        on_transition(announce_requeue)
        add_progress_hook(on_task_progress)
        register_companion(WebhookSender)
        register_companion(IdempotencyJanitor)
