"""`manage.py import_url` end to end in a subprocess against a local server: a bar, a stored video."""

from __future__ import annotations

import subprocess

import pytest

from videos.models import ProcessingTask, Video
from videos.tests import clips
from videos.tests.conftest import PYTHON, ROOT, subprocess_env
from videos.tests.media_server import MediaServer

pytestmark = pytest.mark.slow


def import_url(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", "import_url", *args],
        cwd=ROOT,
        env=subprocess_env(**{"IMPORT_ALLOW_PRIVATE_NETWORKS": "1", **env}),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_import_url_stores_the_file_with_a_progress_bar(transactional_db, user, tmp_path):  # noqa: ANN001
    root = tmp_path / "site"
    root.mkdir()
    source = clips.make_clip(root / "clip.mp4", seconds=2)
    with MediaServer(root) as server:
        done = import_url(server.url("clip.mp4"), "--user", "alice", "--no-transcribe", "--title", "Shell import")
    assert done.returncode == 0, done.stderr + done.stdout
    # The tqdm bar (stage and percent) on stderr, the report on stdout.
    assert "downloading" in done.stderr and "100.0%" in done.stderr and "Imported 'Shell import'" in done.stdout
    video = Video.objects.get(owner=user)
    assert (video.title, video.status) == ("Shell import", "uploaded")
    with video.file.open("rb") as fh:
        assert fh.read() == source.read_bytes()
    assert ProcessingTask.objects.get(video=video).kind == "import"


def test_import_url_refuses_a_private_address_without_the_switch(transactional_db, user):  # noqa: ANN001
    done = import_url("http://127.0.0.1:9/x.mp4", "--user", "alice", IMPORT_ALLOW_PRIVATE_NETWORKS="0")
    assert done.returncode == 1 and "loopback address" in done.stderr
    assert not Video.objects.exists()
