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
