"""Storage faults: a full disk (a real small tmpfs), truncated uploads, orphaned upload temp files, /healthz."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from videos.models import ProcessingTask, Video
from videos.services.compositions import composition_start
from videos.services.uploads import sweep_upload_tmp, upload_tmp_dir
from videos.services.videos import video_import
from videos.tests.api.test_videos import assert_error, media_files, upload
from videos.tests.clips import cached_clip, make_clip
from videos.tests.taskmanager.helpers import wait_status


@pytest.fixture
def small_disk(tmp_path, settings) -> Iterator[Path]:  # noqa: ANN001
    """MEDIA_ROOT on a real 8 MB tmpfs (needs root or CAP_SYS_ADMIN; skipped where mounting is not allowed)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
    settings.MEDIA_ROOT = mount / "media"
    settings.TASK_TMP_ROOT = mount / "media" / "tmp" / "tasks"
    settings.UPLOAD_TMP_DIR = ""
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Take the disk's free space down to about `leave_bytes`."""
    filler = disk / "filler.bin"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with filler.open("ab") as fh:
        fh.write(b"\0" * max(free - leave_bytes, 0))
    return filler


def test_an_upload_bigger_than_the_free_space_is_507_and_leaves_nothing(db, api, settings, small_disk):  # noqa: ANN001
    big = SimpleUploadedFile("big.mp4", os.urandom(12 * 1024 * 1024))  # 12 MB onto an 8 MB disk
    body = assert_error(api.post("/api/v1/videos/", {"file": big}, format="multipart"), 507, "insufficient_storage")
    assert "disk space" in body["detail"]
    assert not Video.objects.exists()
    assert media_files(settings) == []  # no partial upload, no partial stored file
    # The disk is usable again at once: a small upload after the refusal works.
    response = upload(api, cached_clip(seconds=1, width=160, height=120, fps=10))
    assert response.status_code == 201, response.content


def test_healthz_is_degraded_below_the_free_space_setting(db, client, settings, small_disk):  # noqa: ANN001
    settings.MIN_FREE_DISK_MB = 4
    assert client.get("/healthz").json()["status"] == "ok"
    fill(small_disk, 1024 * 1024)
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and "low_disk" in body["reasons"]
    assert body["disk"]["free_mb"] < 4 and body["disk"]["low"] is True


def test_a_composition_that_does_not_fit_fails_with_a_human_message(task_manager, user, settings, small_disk):  # noqa: ANN001
    first = video_import(owner=user, path=cached_clip(seconds=2, width=320, height=240, fps=25))
    second = video_import(owner=user, path=cached_clip(seconds=2, width=160, height=120, fps=25))  # re-encode
    fill(small_disk, 20 * 1024)
    task = composition_start(owner=user, videos=[first.pk, second.pk])
    wait_status(task.pk, "failed", "completed", timeout=60)
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.error_message.startswith("Not enough disk space for the output"), task.error_message
    detail = task.attempts_log[-1].get("detail", "")
    assert "No space left on device" in detail and str(small_disk) not in detail  # the raw words, kept apart
    assert Video.objects.count() == 2  # no output video
    assert not list(Path(settings.TASK_TMP_ROOT).glob("*/*.mp4"))  # no partial output


def test_a_truncated_faststart_mp4_is_refused_at_upload(db, api, settings, tmp_path):  # noqa: ANN001
    whole = make_clip(tmp_path / "whole.mp4", seconds=8, width=320, height=240, fps=25)
    truncated = tmp_path / "truncated.mp4"
    data = whole.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.4)])  # the index is at the front: ffprobe sees 8 s
    body = assert_error(upload(api, truncated), 400, "unsupported_media")
    assert "truncated or damaged" in body["detail"]
    assert not Video.objects.exists() and media_files(settings) == []
    assert upload(api, whole).status_code == 201  # the whole file is fine


def test_orphaned_upload_temp_files_are_swept_at_start(db, settings):  # noqa: ANN001
    folder = upload_tmp_dir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = folder / f"{dead.pid}-abc.upload.mp4"
    mine = folder / f"{os.getpid()}-def.upload.mp4"
    old = folder / f"{os.getpid()}-ghi.upload.mp4"
    for path in (orphan, mine, old):
        path.write_bytes(b"x")
    os.utime(old, (0, 0))
    assert sweep_upload_tmp() == 2
    assert sorted(p.name for p in folder.iterdir()) == [mine.name]


def test_one_writer_per_video_is_enforced_by_the_database(db, user):  # noqa: ANN001
    from django.db import IntegrityError, transaction

    video = Video.objects.create(owner=user, file="videos/x.mp4")
    ProcessingTask.objects.create(owner=user, kind="transcription", video=video, status="processing")
    for kind in ("reprocess", "import"):
        with pytest.raises(IntegrityError), transaction.atomic():
            ProcessingTask.objects.create(owner=user, kind=kind, video=video, status="pending")
    # Readers of the video are not writers: a composition or srt_media task may run beside it.
    ProcessingTask.objects.create(owner=user, kind="srt_media", video=video, status="pending", id=uuid.uuid4())


def test_a_large_srt_that_does_not_fit_is_507_and_leaves_nothing(db, api, user, settings, small_disk):  # noqa: ANN001
    video = video_import(owner=user, path=cached_clip(seconds=1, width=160, height=120, fps=10))
    cues = "".join(
        f"{i}\n00:00:{i % 60:02d},000 --> 00:00:{i % 60:02d},500\nline number {i} " + "x" * 60 + "\n\n"
        for i in range(1, 1500)
    )  # ~130 KB: stored as a file, not inline
    before = media_files(settings)
    fill(small_disk, 200 * 1024)  # room for the upload's temporary file, not for a second copy
    srt = SimpleUploadedFile("big.srt", cues.encode())
    response = api.post("/api/v1/process/srt_media/", {"srt_file": srt, "video_id": str(video.pk)}, format="multipart")
    assert_error(response, 507, "insufficient_storage")
    assert [p for p in media_files(settings) if p.name != "filler.bin"] == before
    assert not ProcessingTask.objects.exists()
