"""The videos app; starts the TaskManager in the process that serves, and only there."""

import os
import sys

from django.apps import AppConfig
from django.conf import settings


def should_autostart(argv: list[str]) -> bool:
    """True under `runserver` (the autoreloader's child, or --noreload); gunicorn and runworker start it themselves."""
    if settings.TASK_AUTOSTART in {"0", "false", "no"}:
        return False
    if "runserver" not in argv[1:2]:
        return False
    return os.environ.get("RUN_MAIN") == "true" or "--noreload" in argv


class VideosConfig(AppConfig):
    name = "videos"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from videos.taskmanager.registry import load_job_modules

        load_job_modules()
        self._wire_integrations()
        if should_autostart(sys.argv):
            import threading

            from django.apps import apps

            from videos.taskmanager.manager import get_task_manager

            def start_when_ready() -> None:
                apps.ready_event.wait()  # no queries while the app registry is still loading
                get_task_manager().start()

            threading.Thread(target=start_when_ready, name="montage-autostart", daemon=True).start()

    @staticmethod
    def _wire_integrations() -> None:
        """The engine room imports nothing of ours: hand it the outbox hook and the threads it should own."""
        from videos.idempotency.janitor import IdempotencyJanitor
        from videos.idempotency.services import link_created_task
        from videos.taskmanager.manager import register_companion
        from videos.taskmanager.store import add_progress_hook, add_transition_hook
        from videos.webhooks.events import on_task_progress, on_task_transition
        from videos.webhooks.sender import WebhookSender

        add_transition_hook(on_task_transition)
        add_transition_hook(link_created_task)
        add_progress_hook(on_task_progress)
        register_companion(WebhookSender)
        register_companion(IdempotencyJanitor)
