"""gunicorn alone serves the pages: their CSS and scripts come from the same process (WhiteNoise)."""

import subprocess
import urllib.request
from pathlib import Path

import pytest

from videos.tests.api.test_idempotency_processes import WebServer
from videos.tests.conftest import PYTHON, subprocess_env
from videos.tests.taskmanager.test_processes import ROOT, free_port

pytestmark = pytest.mark.slow


def test_gunicorn_serves_static_files_with_debug_off(transactional_db, tmp_path):
    static_root = tmp_path / "static"
    env = {"STATIC_ROOT": str(static_root), "DEBUG": "0", "TASK_AUTOSTART": "0"}
    subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=subprocess_env(**env), check=True
    )
    port = free_port()
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    server = WebServer(
        [gunicorn, "-c", "gunicorn.conf.py", "--workers", "1", "--bind", f"127.0.0.1:{port}", "backend.wsgi"],
        port,
        tmp_path / "gunicorn.log",
        **env,
    )
    try:
        for path in ("/static/videos/montage.css", "/static/admin/css/base.css"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                assert response.status == 200 and response.headers["Content-Type"].startswith("text/css")
                assert response.read() == (static_root / path.removeprefix("/static/")).read_bytes()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as response:
            assert b"/static/videos/montage.css" in response.read()
    finally:
        server.stop()
