"""The videos app. It starts no TaskManager itself: the serving process does, once it really serves."""

from django.apps import AppConfig
from django.conf import settings


def autostart_enabled() -> bool:
    """TASK_AUTOSTART=0 keeps web processes from running tasks (use `runworker` then)."""
    return str(settings.TASK_AUTOSTART).lower() not in {"0", "false", "no"}


class VideosConfig(AppConfig):
    name = "videos"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from videos import checks  # noqa: F401 - registers the system checks
        from videos.taskmanager.registry import load_job_modules

        load_job_modules()
        self._wire_integrations()

    @staticmethod
    def _wire_integrations() -> None:
        """The engine room imports nothing of ours: hand it the outbox hook and the threads it should own."""
        from videos.idempotency.janitor import IdempotencyJanitor
        from videos.idempotency.services import link_created_task
        from videos.taskmanager.manager import register_companion
        from videos.taskmanager.store import add_progress_hook, on_transition
        from videos.webhooks.events import on_task_progress, on_task_transition
        from videos.webhooks.sender import WebhookSender

        on_transition(on_task_transition)
        on_transition(link_created_task)
        add_progress_hook(on_task_progress)
        register_companion(WebhookSender)
        register_companion(IdempotencyJanitor)
