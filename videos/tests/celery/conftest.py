"""Celery backend tests: a real Redis started here, real `celery worker` processes, real servers.

Skipped with the reason where redis-server is missing (CI installs it; `make test` does too).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from videos.tests.conftest import PYTHON, ROOT, subprocess_env
from videos.tests.taskmanager.helpers import popen_logged, wait_for
from videos.tests.taskmanager.test_processes import free_port


def redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    """A Redis server of this test session's own, on a free loopback port, keeping nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; CI and `make test` do)")
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(folder)]
    proc = popen_logged(args, folder / "redis.log")
    try:
        if not wait_for(lambda: redis_answers(port), timeout=10, interval=0.05):
            pytest.fail(f"redis-server did not answer:\n{(folder / 'redis.log').read_text()[-2000:]}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def celery_backend(settings, redis_url: str) -> str:  # noqa: ANN001
    """This process queues tasks on Celery too (the broker is the session's Redis)."""
    from backend.celery import app

    settings.TASK_BACKEND = "celery"
    if app.conf.broker_url != redis_url:  # once a session: connections are made on first use
        app.conf.broker_url = redis_url
    return redis_url


class CeleryWorker:
    """A real `celery -A backend worker` (prefork pool) serving the test database."""

    def __init__(self, name: str, log: Path, broker: str, *, concurrency: int = 1, **env: str) -> None:
        self.name = name
        self.log = log
        args = [
            PYTHON, "-m", "celery", "-A", "backend", "worker", "-P", "prefork", "-c", str(concurrency),
            "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO",
        ]  # fmt: skip
        self.proc = popen_logged(
            args,
            log,
            cwd=ROOT,
            env=subprocess_env(**{"TASK_BACKEND": "celery", "CELERY_BROKER_URL": broker, **env}),
            start_new_session=True,
        )

    def wait_ready(self) -> CeleryWorker:
        if not wait_for(lambda: " ready." in self.text(), timeout=60, interval=0.1):
            self.kill()
            raise AssertionError(f"celery worker {self.name} did not start:\n{self.text()[-3000:]}")
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pool_pids(self) -> list[int]:
        """The pool processes (the main process's children that run the jobs)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill(self) -> None:
        """SIGKILL to the whole worker: main process and pool at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


@pytest.fixture
def start_workers(tmp_path: Path, redis_url: str) -> Iterator:
    """start_workers(n, **env) -> n running CeleryWorkers (w1, w2, ...); all stopped at the end of the test."""
    started: list[CeleryWorker] = []

    def start(count: int, **env: str) -> list[CeleryWorker]:
        first = len(started) + 1
        workers = [CeleryWorker(f"w{n}", tmp_path / f"w{n}.log", redis_url, **env) for n in range(first, first + count)]
        started.extend(workers)
        return [worker.wait_ready() for worker in workers]

    yield start
    for worker in started:
        worker.stop()
