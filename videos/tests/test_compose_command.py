"""`manage.py compose` end to end in a subprocess: files or ids in, a file out, Ctrl-C cancels."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from videos.media.probe import probe
from videos.models import ProcessingTask, Video
from videos.services.videos import video_import
from videos.taskmanager.context import task_tmp_dir
from videos.tests.clips import cached_clip
from videos.tests.conftest import PYTHON, ROOT, subprocess_env

pytestmark = pytest.mark.slow


def clip(**kw) -> Path:
    return cached_clip(**{"seconds": 1, "width": 320, "height": 240, "fps": 25, "audio": True, **kw})


def compose(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", "compose", *args],
        cwd=ROOT,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_compose_files_into_an_output_file(transactional_db, user, tmp_path):  # noqa: ANN001
    a, b = clip(seconds=1), clip(seconds=2)
    out = tmp_path / "out.mp4"
    done = compose(str(a), str(b), "-o", str(out), "--user", "alice", "--title", "From the shell")
    assert done.returncode == 0, done.stderr
    assert "100.0%" in done.stderr and "Wrote" in done.stdout  # the tqdm bar on stderr, the report on stdout
    result = probe(out)
    assert abs(result.duration_s - (probe(a).duration_s + probe(b).duration_s)) <= 0.1
    task = ProcessingTask.objects.get(kind="composition")
    assert task.status == "completed" and task.owner == user
    assert Video.objects.filter(owner=user).count() == 3  # two imported, one composed
    assert Video.objects.get(pk=task.result["video_id"]).title == "From the shell"
    assert not list(tmp_path.glob(".*.part"))


def test_compose_video_ids_with_moviepy_as_the_default_user(transactional_db, make_user, tmp_path):  # noqa: ANN001
    admin = make_user("root", is_superuser=True, is_staff=True)
    a = video_import(owner=admin, path=clip())
    b = video_import(owner=admin, path=clip(width=160, height=120))
    out = tmp_path / "ids.mp4"
    done = compose(str(a.pk), str(b.pk), "-o", str(out), "--engine", "moviepy")
    assert done.returncode == 0, done.stderr
    result = probe(out)
    assert (result.width, result.height) == (320, 240)
    assert ProcessingTask.objects.get(kind="composition").owner == admin


def test_bad_inputs_are_refused(transactional_db, user, other_user, tmp_path):  # noqa: ANN001
    theirs = video_import(owner=other_user, path=clip())
    out = tmp_path / "x.mp4"
    for args, message in (
        ([str(clip()), "/no/such/file.mp4"], "neither a file nor a video id"),
        ([str(clip()), str(theirs.pk)], "no such video"),
        ([str(clip())], "at least 2"),
    ):
        done = compose(*args, "-o", str(out), "--user", "alice")
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
    assert not out.exists()
    assert not ProcessingTask.objects.exists()


def test_ctrl_c_cancels_the_task(transactional_db, user, tmp_path):  # noqa: ANN001
    out = tmp_path / "cancelled.mp4"
    process = subprocess.Popen(
        [
            PYTHON,
            "manage.py",
            "compose",
            str(clip(seconds=3)),
            str(clip(seconds=3, width=160, height=120)),
            "-o",
            str(out),
            "--user",
            "alice",
        ],
        cwd=ROOT,
        env=subprocess_env(FFMPEG_PRESET="placebo"),  # slow enough to interrupt mid-encode
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a shell job
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    try:
        seen = ""
        while "concatenate:" not in seen:  # the bar's stage: the render step and the path it took
            chunk = process.stderr.read(1)
            assert chunk, f"the command ended before rendering: {seen[-2000:]}"
            seen += chunk
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group, ffmpeg too
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, (stdout, stderr)
    assert "cancelled" in stderr
    task = ProcessingTask.objects.get(kind="composition")
    assert task.status == "cancelled"
    assert not out.exists()
    assert not task_tmp_dir(task.pk).exists()
    leftovers = [p for p in Path("/proc").glob("[0-9]*/cmdline") if _mentions(p, str(task_tmp_dir(task.pk)))]
    assert not leftovers, "an ffmpeg of the cancelled task is still running"


def ctrl_c_as_in_a_terminal() -> None:
    """Ctrl-C's default action, as a terminal's foreground job has it: a suite run in the background
    (`make test &`, CI's two passes side by side) hands its children SIGINT ignored, and Python keeps that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _mentions(cmdline: Path, text: str) -> bool:
    try:
        return text in cmdline.read_bytes().decode(errors="replace")
    except OSError:
        return False


def test_trims_size_and_subtitles_from_the_shell(transactional_db, user, tmp_path):  # noqa: ANN001
    a, b = clip(seconds=3), clip(seconds=2, width=160, height=120)
    out = tmp_path / "cut.mp4"
    done = compose(f"{a}@0.5-2.5", f"{b}@1-", "-o", str(out), "--user", "alice", "--size", "480x360",
                   "--subtitles", "soft")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = probe(out)
    assert (result.width, result.height) == (480, 360) and abs(result.duration_s - 3.0) <= 0.1
    assert "reencode: 2 clips re-encoded" in done.stdout
    task = ProcessingTask.objects.get(kind="composition")
    assert task.args["trims"] == [[0.5, 2.5], [1.0, None]] and task.args["subtitles"] == "soft"
    for args, message in (([str(a), str(b), "--size", "481x360"], "even"), ([f"{a}@2-1", str(b)], "end")):
        failed = compose(*args, "-o", str(tmp_path / "bad.mp4"), "--user", "alice")
        assert failed.returncode != 0 and message in failed.stderr, failed.stderr
