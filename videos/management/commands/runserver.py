"""`manage.py runserver` that starts the TaskManager only once its socket is bound.

A second runserver that fails to bind its port exits without having claimed anything, and one that
stops (Ctrl-C, SIGTERM, the autoreloader restarting it) puts its running tasks back in the queue.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
from typing import Any

from django.contrib.staticfiles.management.commands.runserver import Command as StaticRunserver

from videos.apps import autostart_enabled
from videos.services.uploads import sweep_upload_tmp


class Command(StaticRunserver):
    def run(self, **options: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            # SIGTERM exits through SystemExit, so atexit's stop() requeues the running tasks.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        super().run(**options)

    def on_bind(self, server_port: int) -> None:
        super().on_bind(server_port)
        sweep_upload_tmp()
        if autostart_enabled():
            from videos.taskmanager.manager import get_task_manager

            manager = get_task_manager().start()
            atexit.register(manager.stop, timeout=5)
