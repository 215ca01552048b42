"""`manage.py runworker`: the TaskManager without the web, until SIGINT/SIGTERM."""

import signal
import threading

from django.core.management.base import BaseCommand

from videos.taskmanager.backends import get_backend
from videos.taskmanager.manager import get_task_manager


class Command(BaseCommand):
    help = "Run background tasks (claims from the shared database; start as many as you like)."

    def add_arguments(self, parser):  # noqa: ANN001, ANN201
        parser.add_argument("--workers", type=int, default=None, help="Threads (default TASK_WORKERS).")

    def handle(self, *args, workers=None, **options):  # noqa: ANN001, ANN201
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        if not get_backend().runs_in_web_processes:
            self.stderr.write(
                "TASK_BACKEND=celery: Celery workers run the tasks (celery -A backend worker); "
                "this runworker claims pending rows from the database alongside them."
            )
        manager = get_task_manager()
        if workers is not None:
            manager.workers = workers
        manager.start()
        self.stdout.write(f"runworker {manager.worker_id}: {manager.workers} workers; Ctrl-C to stop.")
        stop.wait()
        self.stdout.write("Stopping: running tasks go back to the queue.")
        manager.stop()
