"""The HTTP contract holds the same whichever backend runs the tasks: a real server with its own
threads, or a real server that queues on Redis for two real Celery workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from rest_framework.authtoken.models import Token

from videos.models import ProcessingTask
from videos.tests import clips
from videos.tests.celery.test_celery_backend import WORKER_ENV
from videos.tests.conftest import PYTHON
from videos.tests.jobs.test_transcription import clip_video, speech_clip
from videos.tests.taskmanager.helpers import wait_for
from videos.tests.taskmanager.test_processes import Server, free_port, runserver

pytestmark = pytest.mark.slow
BACKENDS = ["threads", "celery"]


@pytest.fixture
def serve(request, tmp_path: Path) -> Iterator[Callable[..., str]]:  # noqa: ANN001
    """serve(backend, **env) -> the base URL of a real server running tasks with that backend."""
    servers = []

    def start(backend: str, *, gunicorn: bool = False, **env: str) -> str:
        """`gunicorn`: two gunicorn processes (with threads) instead of runserver: a deep listen
        backlog for bursts, and limits that must hold across processes."""
        port = free_port()
        log = tmp_path / "server.log"
        env = {**WORKER_ENV, **env, "TASK_BACKEND": backend}
        if backend == "celery":
            env["CELERY_BROKER_URL"] = request.getfixturevalue("redis_url")
            request.getfixturevalue("start_workers")(2, **env)
        if gunicorn:
            args = [str(Path(PYTHON).with_name("gunicorn")), "-c", "gunicorn.conf.py", "--workers", "2"]
            servers.append(Server([*args, "--bind", f"127.0.0.1:{port}", "backend.wsgi"], port, log, **env))
        else:
            servers.append(runserver(port, log, **env))
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop()


def client(base: str, user) -> httpx.Client:  # noqa: ANN001
    token = Token.objects.get_or_create(user=user)[0].key
    return httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=30)


def follow(api: httpx.Client, task_id: str, *, until: Callable[[dict], bool], timeout: float = 180) -> list[dict]:
    """Read the task until `until(body)`; every body read, in order."""
    bodies: list[dict] = []

    def check() -> bool:
        bodies.append(api.get(f"/api/v1/tasks/{task_id}/").json())
        return until(bodies[-1])

    assert wait_for(check, timeout=timeout, interval=0.1), bodies[-1]
    return bodies


def ended(body: dict) -> bool:
    return body["status"] in ("completed", "failed", "cancelled")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_task_api_answers_alike_under_both_backends(transactional_db, user, serve, backend):  # noqa: ANN001
    base = serve(backend)
    health = httpx.get(f"{base}/healthz").json()  # with Celery the web process runs no task threads
    assert health["task_backend"] == backend and health["task_manager"]["running"] is (backend == "threads")
    api = client(base, user)
    uploads = []
    for name in ("a.mp4", "b.mp4"):
        with clips.cached_clip(seconds=2, width=320, height=240, fps=10, audio=True).open("rb") as file:
            answer = api.post("/api/v1/videos/", files={"file": (name, file, "video/mp4")})
        assert answer.status_code == 201, answer.text
        uploads.append(answer.json()["id"])

    # Start with an Idempotency-Key: 202 with Location; the same request again is replayed, no second task.
    started = api.post("/api/v1/compositions/", json={"videos": uploads}, headers={"Idempotency-Key": "compose-1"})
    assert started.status_code == 202 and started.json()["status"] == "pending", started.text
    assert started.headers["Location"].endswith(f"/api/v1/tasks/{started.json()['task_id']}/")
    again = api.post("/api/v1/compositions/", json={"videos": uploads}, headers={"Idempotency-Key": "compose-1"})
    assert again.status_code == 202 and again.json() == started.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    composition = started.json()["task_id"]
    bodies = follow(api, composition, until=ended)
    progress = [b["progress"] for b in bodies]
    assert progress == sorted(progress) and bodies[-1]["status"] == "completed" and progress[-1] == 100
    assert [p for b, p in zip(bodies, progress, strict=True) if p == 100] == [
        p for b, p in zip(bodies, progress, strict=True) if b["status"] == "completed"
    ]
    output = api.get(f"/api/v1/compositions/{composition}/").json()["output"]
    assert api.get(output["file_url"]).status_code == 200

    # One active transcription per video: the second start is a 409 naming the first.
    spoken = clip_video(user, speech_clip(repeat=5))
    first = api.post(f"/api/v1/videos/{spoken.pk}/transcribe").json()["task_id"]
    second = api.post(f"/api/v1/videos/{spoken.pk}/transcribe")
    assert second.status_code == 409 and second.json() | {"detail": ""} == {
        "detail": "", "code": "task_conflict", "task_id": first,
    }  # fmt: skip

    # Cancel while it runs, then retry once (a second retry is refused with the first retry's id).
    follow(api, first, until=lambda b: b["stage"] == "transcribing" or ended(b))
    cancelled = api.post(f"/api/v1/tasks/{first}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert follow(api, first, until=ended, timeout=5)[-1]["status"] == "cancelled"
    retry = api.post(f"/api/v1/tasks/{first}/retry")
    assert retry.status_code == 202 and retry.json()["task_id"] != first
    refused = api.post(f"/api/v1/tasks/{first}/retry")
    assert refused.status_code == 409 and refused.json()["code"] == "already_retried"
    assert refused.json()["task_id"] == retry.json()["task_id"]
    done = follow(api, retry.json()["task_id"], until=ended)[-1]
    assert done["status"] == "completed" and done["attempts"] == 1
    segments = api.get(f"/api/v1/videos/{spoken.pk}/segments").json()
    assert len(segments) > 3 and all(s["words"] for s in segments)

    counts = api.get("/api/v1/users/me/tasks").json()["counts"]
    assert (counts["completed"], counts["cancelled"], counts["pending"], counts["processing"]) == (2, 1, 0, 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_limits_hold_with_20_concurrent_posts_per_user(transactional_db, user, other_user, serve, backend):  # noqa: ANN001
    """Per user 3, all users 4: of 2 x 20 parallel starts exactly 4 are accepted, never more than 3 per user."""
    limits = {"MAX_CONCURRENT_TASKS_PER_USER": "3", "MAX_GLOBAL_CONCURRENT_TASKS": "4", "FFMPEG_PRESET": "placebo"}
    base = serve(backend, gunicorn=True, **limits)
    jobs = []
    for owner in (user, other_user):
        videos = [str(clip_video(owner, seconds=4).pk) for _ in range(2)]
        jobs += [(client(base, owner), videos)] * 20

    def post(job: tuple[httpx.Client, list[str]]) -> int:
        api, videos = job
        return api.post("/api/v1/compositions/", json={"videos": videos}).status_code

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        codes = list(pool.map(post, jobs))
    mine, theirs = codes[:20], codes[20:]
    assert codes.count(202) == 4 and mine.count(202) <= 3 and theirs.count(202) <= 3, codes
    assert set(codes) <= {202, 429, 503}, codes
    assert ProcessingTask.objects.filter(status__in=ProcessingTask.ACTIVE).count() == 4
    for task in ProcessingTask.objects.filter(status__in=ProcessingTask.ACTIVE):  # no need to wait for placebo
        owner = user if task.owner_id == user.pk else other_user
        client(base, owner).post(f"/api/v1/tasks/{task.pk}/cancel")
    deadline = time.monotonic() + 10
    while ProcessingTask.objects.filter(status__in=ProcessingTask.ACTIVE).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
