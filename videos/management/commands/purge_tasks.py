"""`manage.py purge_tasks --older-than DAYS`: delete old finished tasks and their scratch files."""

from django.conf import settings
from django.core.management.base import BaseCommand

from videos.services.tasks import tasks_purge
from videos.webhooks.services import webhook_deliveries_purge


class Command(BaseCommand):
    help = (
        "Delete finished tasks and finished webhook deliveries older than DAYS (default TASK_RETENTION_DAYS); "
        "never an active task or a pending delivery."
    )

    def add_arguments(self, parser):  # noqa: ANN001, ANN201
        parser.add_argument("--older-than", type=int, default=settings.TASK_RETENTION_DAYS, metavar="DAYS")

    def handle(self, *args, older_than, **options):  # noqa: ANN001, ANN201
        count = tasks_purge(older_than_days=older_than)
        self.stdout.write(f"Deleted {count} finished task(s) older than {older_than} day(s).")
        deliveries = webhook_deliveries_purge(older_than_days=older_than)
        self.stdout.write(f"Deleted {deliveries} finished webhook deliveries older than {older_than} day(s).")
