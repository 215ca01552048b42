"""What the benchmarks share: a throwaway database set up for Django in this process, and servers on loopback.

Not a benchmark itself (bench/run_all.py runs only bench_*.py).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def embedded_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Settings for Django in this process on a throwaway SQLite file, jobs run inline (the immediate backend).

    `extra` adds or overrides settings; the result is also put into os.environ.
    """
    env = {
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "TASK_BACKEND": "immediate",
        "TASK_AUTOSTART": "0",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-only",
        "MAX_UPLOAD_MB": "100000",
        **extra,
    }
    os.environ.update(env)
    return env


def migrate_and_setup() -> None:
    """Create the database's tables (manage.py migrate, with os.environ's settings), then django.setup() here."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout_s: float = 30) -> None:
    """Return once something accepts connections on the loopback port; SystemExit after `timeout_s`."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


@contextmanager
def gunicorn(env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 8) -> Iterator[int]:
    """gunicorn serving backend.wsgi as `make run`'s production command does; yields its port once /healthz answers.

    The server (its whole process group) is stopped when the block ends.
    """
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "--workers", str(workers),
         "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "backend.wsgi"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_listening(port)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        connection.close()
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
