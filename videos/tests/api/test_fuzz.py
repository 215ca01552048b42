"""Schemathesis over the whole OpenAPI document against a real server on loopback: no 5xx, no answer the
schema does not describe, no invalid input accepted. A fixed seed and a time budget keep it bounded."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from videos.models import ProcessingTask
from videos.services.tasks import task_submit
from videos.services.videos import video_import
from videos.tests.clips import cached_clip
from videos.tests.conftest import PYTHON, ROOT
from videos.tests.taskmanager.test_processes import Server, free_port

pytestmark = pytest.mark.slow

SEED = 12
MAX_SECONDS = int(os.environ.get("FUZZ_MAX_SECONDS", "75"))
ST = Path(PYTHON).with_name("st")
ARTIFACTS = ROOT / "test-artifacts"
# The import endpoint resolves a URL's host at the request: the fuzzer only ever sends these, refused by
# the address rule or the scheme before any DNS lookup or connection (tests reach loopback only).
IMPORT_URLS = ["http://127.0.0.1:9/a.mp4", "http://[::1]:9/a.m3u8", "ftp://127.0.0.1/a.mp4"]


class ApiServer(Server):
    """`runserver` without the task manager (nothing the fuzzer starts runs); up once /healthz answers."""

    def healthy(self) -> bool:
        try:
            return self.get("/healthz")["status"] == "ok"
        except OSError:
            return False


def config_with_ids(path: Path, *, videos: list[str], tasks: list[str]) -> Path:
    """schemathesis.toml plus real ids: half the time an {id} or a video field names an existing resource,
    so the fuzzer gets past 404 into the views (and its use-after-free check sees DELETE take effect)."""

    def binding(dictionary: str) -> str:
        return f'{{ dictionary = "{dictionary}", probability = 0.5 }}'

    path.write_text(
        (ROOT / "schemathesis.toml").read_text()
        + f"""
[dictionaries.videos]
values = {json.dumps(videos)}

[dictionaries.tasks]
values = {json.dumps(tasks)}

[[operations]]
include-path-regex = '^/api/v1/videos/[{{]id[}}]/'
parameters = {{ "path.id" = {binding("videos")} }}

[[operations]]
include-path-regex = '^/api/v1/(tasks|compositions)/[{{]id[}}]/'
parameters = {{ "path.id" = {binding("tasks")} }}

[[operations]]
include-path-regex = '^/api/v1/compositions/$'
parameters = {{ "body.videos[*]" = {binding("videos")} }}

[[operations]]
include-path-regex = '^/api/v1/process/srt_media/'
parameters = {{ "body.video_id" = {binding("videos")} }}

[dictionaries.import_urls]
values = {json.dumps(IMPORT_URLS)}

[[operations]]
include-path-regex = '^/api/v1/videos/import/'
parameters = {{ "body.url" = {{ dictionary = "import_urls", probability = 1.0 }} }}
"""
    )
    return path


def fuzz(base: str, token: str, reports: Path, config: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    args = [
        str(ST), "--config-file", str(config), "run", f"{base}/api/v1/schema/",
        "--header", f"Authorization: Token {token}", "--checks", "all", "--seed", str(SEED),
        "--max-examples", "10", "--max-time", str(MAX_SECONDS), "--workers", "1", "--request-timeout", "60",
        "--report", "json", "--report-dir", str(reports), "--output-truncate", "false",
    ]  # fmt: skip
    done = subprocess.run(args, cwd=reports, capture_output=True, text=True, timeout=MAX_SECONDS + 240)
    # The whole story, kept where a failed run can be read afterwards (pytest prunes its temp dirs).
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis.out").write_text(done.stdout + done.stderr)
    (report,) = reports.glob("*.json")
    return done, json.loads(report.read_text())


def seed(user) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """Two real videos, a failed composition of them (retryable) and a completed task (with a result)."""
    clip = cached_clip(seconds=1, width=64, height=48, fps=10)
    videos = [video_import(owner=user, path=clip, title=f"Fuzz {i}") for i in range(2)]
    ids = [str(v.pk) for v in videos]
    failed = task_submit(owner=user, kind="composition", args={"video_ids": ids, "title": "", "engine": "ffmpeg"})
    done = task_submit(owner=user, kind="test_gate", args={"gate_name": "fuzz"})
    ProcessingTask.objects.filter(pk=failed.pk).update(status="failed", error_message="seeded")
    ProcessingTask.objects.filter(pk=done.pk).update(status="completed", progress=100.0, result={"ok": True})
    return ids, [str(failed.pk), str(done.pk)]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(transactional_db, user, tmp_path):  # noqa: ANN001
    token = Token.objects.create(user=user).key
    videos, tasks = seed(user)
    config = config_with_ids(tmp_path / "schemathesis.toml", videos=videos, tasks=tasks)
    env = {
        "TASK_AUTOSTART": "0",  # nothing the fuzzer starts runs: each case costs the request alone
        "SYNC_PROCESS_TIMEOUT_SECONDS": "2",  # so /sync answers its 504 `timeout` quickly
        "MAX_CONCURRENT_TASKS_PER_USER": "100000",  # past the limits, so the fuzzer reaches the start logic
        "MAX_GLOBAL_CONCURRENT_TASKS": "100000",
        "THROTTLE_USER": "100000/min",
        "THROTTLE_ANON": "100000/min",
        "DEBUG": "1",  # what `make run` serves with: errors must still be the contract's JSON
    }
    port = free_port()
    server = ApiServer(
        [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], port, tmp_path / "server.log", **env
    )
    reports = tmp_path / "reports"
    reports.mkdir()
    try:
        done, report = fuzz(f"http://127.0.0.1:{port}", token, reports, config)
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text()
    story = done.stdout[max(0, done.stdout.find("FAILURES")) :][:8000]  # the failures section first
    assert done.returncode == 0 and report["exit_code"] == 0, story
    cases = report["test_cases"]
    assert cases["unique_failures"] == 0 and not report["failures"] and not report["errors"], story
    assert report["operations"]["tested"] == report["operations"]["total"] >= 26
    assert cases["generated"] >= 200, cases  # it really ran (about 1,000 cases in 75 s here)
    server_errors = [line for line in log.splitlines() if "status=5" in line and "/sync" not in line]
    assert not server_errors and "Traceback" not in log, log[-4000:]
    print(f"schemathesis: {cases['generated']} cases, {cases['unique_failures']} failures, seed {SEED}")
