"""Small waiting helpers for tests that synchronise with real worker threads and processes."""

import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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


def progress_readings(task_id, *, timeout: float = 30, interval: float = 0.02) -> list[tuple[str, float, str]]:  # noqa: ANN001
    """The task row's (status, progress, stage), sampled every `interval` until the task finishes."""
    readings: list[tuple[str, float, str]] = []

    def sample() -> bool:
        row = ProcessingTask.objects.get(pk=task_id)
        readings.append((row.status, row.progress, row.stage))
        return row.is_finished

    assert wait_for(sample, timeout=timeout, interval=interval), f"task still {readings[-1][0]}"
    return readings


def stop_processes(procs: Iterable[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM every process first, so they stop side by side, then wait for each."""
    procs = list(procs)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout)


def popen_logged(args: list[str], log: Path, **kwargs: Any) -> subprocess.Popen:
    """Start a process writing stdout and stderr to `log` (appended); the child keeps the only open copy."""
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)
