"""Two gunicorn processes: the database, not a Python lock, decides between concurrent duplicates."""

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from videos.models import ProcessingTask
from videos.tests.api.test_tasks_api import finished_task
from videos.tests.conftest import PYTHON
from videos.tests.taskmanager.test_concurrency import in_threads
from videos.tests.taskmanager.test_processes import Server, free_port

pytestmark = pytest.mark.slow


class WebServer(Server):
    """gunicorn serving the API only (TASK_AUTOSTART=0): up once healthz answers."""

    def healthy(self) -> bool:
        try:
            return self.get("/healthz")["status"] == "ok"
        except OSError:
            return False


@pytest.fixture
def gunicorn(transactional_db, tmp_path):  # noqa: ANN001, ANN201
    port = free_port()
    server = WebServer(
        [
            str(Path(PYTHON).with_name("gunicorn")),
            "-c",
            "gunicorn.conf.py",
            "--workers",
            "2",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "backend.wsgi",
        ],
        port,
        tmp_path / "gunicorn.log",
        TASK_AUTOSTART="0",  # the retries stay pending: only the rows matter here
        MAX_CONCURRENT_TASKS_PER_USER="1000",
        MAX_GLOBAL_CONCURRENT_TASKS="1000",
        THROTTLE_USER="100000/min",
    )
    yield server
    server.stop()


def post(server: Server, path: str, token: str, key: str | None) -> tuple[int, dict, str]:
    headers = {"Authorization": f"Token {token}"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers.get("Idempotent-Replayed", "")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), ""


def test_20_identical_posts_across_two_processes_start_one_task(gunicorn, user):
    token = Token.objects.create(user=user).key
    old = finished_task(user)
    results = in_threads(20, lambda i: post(gunicorn, f"/api/v1/tasks/{old.pk}/retry", token, "same-key"))
    accepted = {body["task_id"] for status, body, _ in results if status == 202}
    refused = {(status, body["code"]) for status, body, _ in results if status != 202}
    assert len(accepted) == 1 and refused <= {(409, "idempotency_in_progress")}, results
    assert ProcessingTask.objects.filter(retry_of=old).count() == 1
    # Once answered, the same request replays from either process.
    status, body, replayed = post(gunicorn, f"/api/v1/tasks/{old.pk}/retry", token, "same-key")
    assert (status, body["task_id"], replayed) == (202, accepted.pop(), "true")


def test_20_retries_without_a_key_across_two_processes_make_one(gunicorn, user):
    token = Token.objects.create(user=user).key
    old = finished_task(user)
    results = in_threads(20, lambda i: post(gunicorn, f"/api/v1/tasks/{old.pk}/retry", token, None))
    made = [body["task_id"] for status, body, _ in results if status == 202]
    assert len(made) == 1, results
    assert all(
        (status, body["code"], body["task_id"]) == (409, "already_retried", made[0])
        for status, body, _ in results
        if status != 202
    ), results
    assert ProcessingTask.objects.filter(retry_of=old).count() == 1
