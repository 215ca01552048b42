"""Schemathesis over the whole OpenAPI document against a real server on loopback: no 5xx, no answer the
schema does not describe, no invalid input accepted. Fixed seed and a time budget keep it repeatable."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from videos.tests.conftest import PYTHON, ROOT
from videos.tests.taskmanager.test_processes import Server, free_port

pytestmark = pytest.mark.slow

SEED = 12
MAX_SECONDS = int(os.environ.get("FUZZ_MAX_SECONDS", "75"))
ST = Path(PYTHON).with_name("st")


class ApiServer(Server):
    """`runserver` without the task manager (nothing the fuzzer starts runs); up once /healthz answers."""

    def healthy(self) -> bool:
        try:
            return self.get("/healthz")["status"] == "ok"
        except OSError:
            return False


def fuzz(base: str, token: str, reports: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    args = [
        str(ST), "--config-file", str(ROOT / "schemathesis.toml"), "run", f"{base}/api/v1/schema/",
        "--header", f"Authorization: Token {token}", "--checks", "all", "--seed", str(SEED),
        "--max-examples", "10", "--max-time", str(MAX_SECONDS), "--workers", "1", "--request-timeout", "20",
        "--report", "json", "--report-dir", str(reports), "--output-truncate", "false",
    ]  # fmt: skip
    done = subprocess.run(args, cwd=reports, capture_output=True, text=True, timeout=MAX_SECONDS + 240)
    (report,) = reports.glob("*.json")
    return done, json.loads(report.read_text())


def test_schemathesis_finds_no_server_error_and_no_schema_violation(transactional_db, user, tmp_path):  # noqa: ANN001
    token = Token.objects.create(user=user).key
    env = {"TASK_AUTOSTART": "0", "THROTTLE_USER": "100000/min", "THROTTLE_ANON": "100000/min", "DEBUG": "1"}
    port = free_port()
    server = ApiServer(
        [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], port, tmp_path / "server.log", **env
    )
    reports = tmp_path / "reports"
    reports.mkdir()
    try:
        done, report = fuzz(f"http://127.0.0.1:{port}", token, reports)
    finally:
        server.stop()
    log = (tmp_path / "server.log").read_text()
    assert done.returncode == 0 and report["exit_code"] == 0, done.stdout[-8000:]
    cases = report["test_cases"]
    assert cases["unique_failures"] == 0 and not report["failures"] and not report["errors"], done.stdout[-8000:]
    assert report["operations"]["tested"] == report["operations"]["total"] >= 26
    assert cases["generated"] >= 200, cases  # it really ran (about 1,000 cases in 75 s here)
    assert "status=5" not in log and "Traceback" not in log, log[-4000:]
    print(f"schemathesis: {cases['generated']} cases, {cases['unique_failures']} failures, seed {SEED}")
