"""gunicorn settings: the TaskManager starts in each worker after the fork, never in the master."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 120


def post_worker_init(worker):  # noqa: ANN001, ANN201
    from videos.apps import autostart_enabled
    from videos.services.uploads import sweep_upload_tmp

    sweep_upload_tmp()  # upload temp files of workers that died mid-request
    if autostart_enabled():
        from videos.taskmanager.manager import get_task_manager

        get_task_manager().start()


def worker_exit(server, worker):  # noqa: ANN001, ANN201
    from videos.taskmanager.manager import get_task_manager

    get_task_manager().stop(timeout=5)
