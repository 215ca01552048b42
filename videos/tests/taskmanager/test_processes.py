"""Real server and worker processes: restart recovery, gunicorn after fork, several runworkers."""

import json
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from videos.models import ProcessingTask
from videos.services.tasks import task_submit
from videos.tests.conftest import PYTHON, ROOT, subprocess_env
from videos.tests.taskmanager.helpers import popen_logged, stop_processes, wait_for

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `manage.py runserver --noreload` (or any command) serving the test database."""

    def __init__(self, args: list[str], port: int, log: Path, **env: str) -> None:
        self.port = port
        self.log = log
        self.proc = popen_logged(args, log, cwd=ROOT, env=subprocess_env(**env), start_new_session=True)
        if not wait_for(self.healthy, timeout=30, interval=0.1):
            self.stop()
            raise AssertionError(f"server did not come up:\n{log.read_text()[-3000:]}")

    def healthy(self) -> bool:
        """Serving, with its task manager running unless Celery workers run the tasks."""
        try:
            body = self.get("/healthz")
        except OSError:
            return False
        return body["task_backend"] == "celery" or body["task_manager"]["running"]

    def get(self, path: str, token: str | None = None) -> dict:
        headers = {"Authorization": f"Token {token}"} if token else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def runserver(port: int, log: Path, **env: str) -> Server:
    return Server([PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], port, log, **env)


def markers(folder: Path) -> list[str]:
    return sorted(p.name.split(".", 1)[1] for p in folder.iterdir())


def test_sigkilled_server_resumes_the_task_after_its_last_completed_step(transactional_db, user, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    token = Token.objects.create(user=user).key
    port = free_port()
    # A long lease: only start-up recovery (dead pid on this host) can explain a quick resume.
    env = {"TASK_LEASE_SECONDS": "300", "TASK_POLL_SECONDS": "0.2"}
    server = runserver(port, tmp_path / "server.log", **env)
    readings: list[float] = []
    try:
        task = task_submit(owner=user, kind="test_sleep", args={"seconds": 2.0, "marker_dir": str(marks)})

        def in_second_step() -> bool:
            body = server.get(f"/api/v1/tasks/{task.pk}/", token)
            readings.append(body["progress"])
            return body["subtasks"][1]["status"] == "processing" and body["progress"] > 35

        assert wait_for(in_second_step, timeout=20, interval=0.1)
        server.kill()
        assert ProcessingTask.objects.get(pk=task.pk).status == "processing"  # the dead process's row

        server = runserver(port, tmp_path / "server.log", **env)

        def finished() -> bool:
            body = server.get(f"/api/v1/tasks/{task.pk}/", token)
            readings.append(body["progress"])
            return body["status"] == "completed"

        assert wait_for(finished, timeout=20, interval=0.1), (tmp_path / "server.log").read_text()[-3000:]
    finally:
        server.stop()
    task.refresh_from_db()
    assert task.attempts == 2
    assert markers(marks) == ["first.attempt1", "second.attempt1", "second.attempt2"]  # first not redone
    assert readings == sorted(readings) and readings[-1] == 100, readings
    assert "task.recovered" in (tmp_path / "server.log").read_text()


def test_sigkilled_server_past_max_attempts_fails_the_task_clearly(transactional_db, user, tmp_path):
    port = free_port()
    env = {"TASK_LEASE_SECONDS": "300", "TASK_POLL_SECONDS": "0.2", "TASK_MAX_ATTEMPTS": "1"}
    server = runserver(port, tmp_path / "server.log", **env)
    try:
        task = task_submit(owner=user, kind="test_sleep", args={"seconds": 3.0})
        assert wait_for(lambda: ProcessingTask.objects.get(pk=task.pk).status == "processing", timeout=20)
        server.kill()
        server = runserver(port, tmp_path / "server.log", **env)
        assert wait_for(lambda: ProcessingTask.objects.get(pk=task.pk).status == "failed", timeout=10)
    finally:
        server.stop()
    task.refresh_from_db()
    assert task.error_message.startswith("Interrupted") and "attempt 1 of 1" in task.error_message


def test_gunicorn_starts_the_task_manager_in_workers_not_in_the_preloading_master(
    transactional_db, user, tmp_path, settings
):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 100
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 100
    port = free_port()
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    server = Server(
        [
            gunicorn,
            "-c",
            "gunicorn.conf.py",
            "--preload",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "backend.wsgi",
        ],
        port,
        tmp_path / "gunicorn.log",
        TASK_POLL_SECONDS="0.2",
    )
    try:
        tasks = [task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05}) for _ in range(12)]
        assert wait_for(
            lambda: ProcessingTask.objects.filter(pk__in=[t.pk for t in tasks], status="completed").count() == 12, 30
        )
        children = {
            int(p) for p in Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
        }
    finally:
        server.stop()
    pids = {
        int(w.split(":")[1])
        for w in ProcessingTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("worker_id", flat=True)
    }
    # worker_id is cleared only on requeue; a completed task keeps the id of the process that ran it
    assert server.proc.pid not in pids and pids <= children, (pids, children, server.proc.pid)


def test_two_runworker_processes_drain_200_tasks_each_exactly_once(transactional_db, user, tmp_path, settings):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 1000
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 1000
    marks = tmp_path / "marks"
    marks.mkdir()
    tasks = [
        task_submit(owner=user, kind="test_sleep", args={"seconds": 0.0, "marker_dir": str(marks)}) for _ in range(200)
    ]
    env = subprocess_env(TASK_POLL_SECONDS="0.1", TASK_WORKERS="3")
    workers = [
        popen_logged([PYTHON, "manage.py", "runworker"], tmp_path / f"w{i}.log", cwd=ROOT, env=env)
        for i in range(2)
    ]
    try:
        done = wait_for(
            lambda: ProcessingTask.objects.filter(status="completed").count() == 200, timeout=120, interval=0.2
        )
    finally:
        stop_processes(workers)
    assert done, [p.read_text()[-2000:] for p in tmp_path.glob("w*.log")]
    rows = ProcessingTask.objects.filter(pk__in=[t.pk for t in tasks])
    assert set(rows.values_list("attempts", flat=True)) == {1}
    names = markers(marks)
    assert len(names) == 400 and set(names) == {"first.attempt1", "second.attempt1"}
    assert len({p.name for p in marks.iterdir()}) == 400  # one marker per task and step: none ran twice
    by_worker = {w.split(":")[1] for w in rows.values_list("worker_id", flat=True)}
    assert len(by_worker) == 2, "both processes took a share"
