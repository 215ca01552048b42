"""Small waiting helpers for tests that synchronise with real worker threads and processes."""

import time
from collections.abc import Callable

from videos.models import ProcessingTask


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def status_of(task_id) -> str:  # noqa: ANN001
    return ProcessingTask.objects.values_list("status", flat=True).get(pk=task_id)


def wait_status(task_id, *statuses: str, timeout: float = 10.0) -> str:  # noqa: ANN001
    assert wait_for(lambda: status_of(task_id) in statuses, timeout), (
        f"task still {status_of(task_id)}, wanted {statuses}"
    )
    return status_of(task_id)
