"""Videos API: upload (probe, garbage, oversize, nothing left behind), list, detail, delete, status, Range download."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from videos.api.files import RangeNotSatisfiable, byte_range
from videos.media.ffmpeg import MediaError, ffmpeg_binary
from videos.media.probe import probe
from videos.models import Video
from videos.services import posters
from videos.services.tasks import task_submit
from videos.tests.clips import cached_clip


def media_files(settings) -> list[Path]:  # noqa: ANN001
    """Every file under MEDIA_ROOT, scratch space included."""
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def upload_tmp(settings, tmp_path) -> Path:  # noqa: ANN001
    """Upload temporary files go here, so a test can see that none is left."""
    path = tmp_path / "upload-tmp"
    path.mkdir()
    settings.UPLOAD_TMP_DIR = str(path)
    return path


def upload(client: APIClient, path: Path, name: str | None = None, **fields: str):  # noqa: ANN201
    data = {"file": SimpleUploadedFile(name or path.name, path.read_bytes()), **fields}
    return client.post("/api/v1/videos/", data, format="multipart")


def assert_error(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body


@pytest.fixture
def clip() -> Path:
    return cached_clip(seconds=1, width=320, height=240, fps=25, audio=True)


@pytest.fixture
def video(api, clip) -> dict:  # noqa: ANN001
    response = upload(api, clip, title="Holiday")
    assert response.status_code == 201, response.content
    return response.json()


# Upload --------------------------------------------------------------------------------------
def test_upload_probes_and_stores_under_a_generated_name(db, api, user, clip, settings, upload_tmp):  # noqa: ANN001
    response = upload(api, clip, name="../../etc/My Clip.mp4")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == "My Clip"
    assert body["status"] == "uploaded"
    assert abs(body["duration_s"] - 1.0) < 0.1
    assert (body["width"], body["height"]) == (320, 240)
    assert body["has_audio"] is True
    assert body["size_bytes"] == clip.stat().st_size
    assert body["video_codec"] == "h264"
    assert body["thumbnail_url"] == f"/api/v1/videos/{body['id']}/thumbnail/"  # made with the upload
    assert body["file_url"] == f"/api/v1/videos/{body['id']}/file/"

    video = Video.objects.get(pk=body["id"])
    assert video.owner == user and video.probe["duration_s"] == pytest.approx(body["duration_s"])
    stored = Path(video.file.path)
    assert stored.name == f"{video.pk}.mp4"  # never the user's name or path
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT) / "videos")
    assert stored.read_bytes() == clip.read_bytes()
    poster = Path(video.thumbnail.path)
    assert media_files(settings) == sorted([stored, poster])
    assert list(upload_tmp.iterdir()) == []
    shown = probe(poster)  # a real JPEG frame of the picture, 480 wide with the clip's aspect
    assert shown.video_codec == "mjpeg" and (shown.width, shown.height) == (480, 360)


def test_audio_upload_has_no_thumbnail(db, api, tmp_path, settings):  # noqa: ANN001
    wav = tmp_path / "talk.wav"
    cmd = [ffmpeg_binary(), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1", str(wav)]
    subprocess.run(cmd, check=True, timeout=60)
    body = upload(api, wav).json()
    assert body["width"] is None and body["thumbnail_url"] is None
    assert media_files(settings) == [Path(Video.objects.get(pk=body["id"]).file.path)]


def test_a_frame_that_cannot_be_cut_never_refuses_the_upload(db, api, clip, monkeypatch):  # noqa: ANN001
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise MediaError("ffmpeg wrote no frame at 0.10 s.")

    monkeypatch.setattr(posters, "thumbnail", broken)
    response = upload(api, clip)
    assert response.status_code == 201 and response.json()["thumbnail_url"] is None


def test_upload_keeps_the_title_and_answers_with_or_without_slash(db, api, clip):  # noqa: ANN001
    data = {"file": SimpleUploadedFile("a.mp4", clip.read_bytes()), "title": "Given"}
    response = api.post("/api/v1/videos", data, format="multipart")
    assert response.status_code == 201 and response.json()["title"] == "Given"


def test_upload_of_an_unknown_extension_is_stored_under_the_container_one(db, api, clip):  # noqa: ANN001
    body = upload(api, clip, name="clip.exe").json()
    assert Video.objects.get(pk=body["id"]).file.name.endswith(f"{body['id']}.mp4")


def test_garbage_upload_is_refused_with_nothing_left(db, api, settings, upload_tmp):  # noqa: ANN001
    garbage = SimpleUploadedFile("movie.mp4", os.urandom(3 * 1024 * 1024))  # larger than the in-memory limit
    assert_error(api.post("/api/v1/videos/", {"file": garbage}, format="multipart"), 400, "unsupported_media")
    assert not Video.objects.exists()
    assert media_files(settings) == []
    assert list(upload_tmp.iterdir()) == []


def test_text_file_upload_is_unsupported_media(db, api, settings):  # noqa: ANN001
    text = SimpleUploadedFile("notes.txt", b"hello, not a video\n" * 10)
    body = assert_error(api.post("/api/v1/videos/", {"file": text}, format="multipart"), 400, "unsupported_media")
    assert "notes.txt" in body["detail"] and "tmp" not in body["detail"]  # the user's name, not ours
    assert not Video.objects.exists() and media_files(settings) == []


@pytest.mark.parametrize("extra_bytes", [16 * 1024, 2 * 1024 * 1024], ids=["streamed", "content-length"])
def test_oversize_upload_is_refused_with_nothing_left(db, api, settings, upload_tmp, extra_bytes):  # noqa: ANN001
    """Just over the limit is caught while streaming; far over it by Content-Length, before reading."""
    settings.MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("big.mp4", os.urandom(1024 * 1024 + extra_bytes))
    body = assert_error(api.post("/api/v1/videos/", {"file": big}, format="multipart"), 413, "file_too_large")
    assert "1 MB" in body["detail"]
    assert not Video.objects.exists()
    assert media_files(settings) == []
    assert list(upload_tmp.iterdir()) == []


def test_upload_at_the_limit_is_accepted(db, api, settings, clip):  # noqa: ANN001
    settings.MAX_UPLOAD_MB = 1
    assert clip.stat().st_size < 1024 * 1024
    assert upload(api, clip).status_code == 201


def test_upload_needs_a_file_and_credentials(db, api, clip):  # noqa: ANN001
    body = assert_error(api.post("/api/v1/videos/", {"title": "x"}, format="multipart"), 400, "invalid")
    assert "file" in body["errors"]
    empty = SimpleUploadedFile("empty.mp4", b"")
    assert_error(api.post("/api/v1/videos/", {"file": empty}, format="multipart"), 400, "invalid")
    anonymous = APIClient().post(
        "/api/v1/videos/", {"file": SimpleUploadedFile("a.mp4", clip.read_bytes())}, format="multipart"
    )
    assert_error(anonymous, 401, "not_authenticated")
    assert not Video.objects.exists()


# List, detail, status ------------------------------------------------------------------------
def test_list_is_own_and_paginated(db, api, other_api, video):  # noqa: ANN001
    mine = api.get("/api/v1/videos/").json()
    assert set(mine) >= {"count", "next", "previous", "results"}
    assert mine["count"] == 1 and mine["results"][0]["id"] == video["id"]
    assert other_api.get("/api/v1/videos").json()["count"] == 0


def test_detail_and_another_users_video(db, api, other_api, video):  # noqa: ANN001
    detail = api.get(f"/api/v1/videos/{video['id']}/")
    assert detail.status_code == 200 and detail.json() == video
    for path in ("", "/status", "/file"):
        assert_error(other_api.get(f"/api/v1/videos/{video['id']}{path}"), 404, "not_found")
    assert_error(other_api.delete(f"/api/v1/videos/{video['id']}/"), 404, "not_found")
    assert Video.objects.filter(pk=video["id"]).exists()


def test_status_without_and_with_a_task(db, api, user, video):  # noqa: ANN001
    body = api.get(f"/api/v1/videos/{video['id']}/status").json()
    assert body == {"video_id": video["id"], "status": "uploaded", "task": None}
    task = task_submit(owner=user, kind="test_gate", video=Video.objects.get(pk=video["id"]))
    body = api.get(f"/api/v1/videos/{video['id']}/status/").json()
    assert body["task"]["task_id"] == str(task.pk) and body["task"]["status"] == "pending"


# Delete --------------------------------------------------------------------------------------
def test_delete_removes_row_file_and_thumbnail(db, api, video, settings, django_capture_on_commit_callbacks):  # noqa: ANN001
    assert len(media_files(settings)) == 2  # the file and its poster frame
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/videos/{video['id']}/")
    assert response.status_code == 204
    assert not Video.objects.filter(pk=video["id"]).exists()
    assert media_files(settings) == []
    assert_error(api.get(f"/api/v1/videos/{video['id']}/"), 404, "not_found")


def test_delete_is_refused_while_a_task_is_active(db, api, user, video):  # noqa: ANN001
    task = task_submit(owner=user, kind="test_gate", video=Video.objects.get(pk=video["id"]))
    body = assert_error(api.delete(f"/api/v1/videos/{video['id']}"), 409, "task_conflict")
    assert body["task_id"] == str(task.pk)
    assert Video.objects.filter(pk=video["id"]).exists()


# Download with Range -------------------------------------------------------------------------
def content(response) -> bytes:  # noqa: ANN001
    return b"".join(response.streaming_content)


def test_download_whole_file_and_byte_ranges(db, api, video, clip, settings):  # noqa: ANN001
    settings.DEBUG = False
    data = clip.read_bytes()
    size = len(data)
    url = video["file_url"]

    whole = api.get(url, HTTP_ACCEPT="video/mp4")  # what a <video> element may send
    assert whole.status_code == 200
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Length"] == str(size)
    assert whole["Content-Type"] == "video/mp4"
    assert content(whole) == data

    cases = {"bytes=10-99": (10, 99), "bytes=100-": (100, size - 1), "bytes=-50": (size - 50, size - 1)}
    cases[f"bytes=5-{size + 1000}"] = (5, size - 1)  # a last byte past the end is clipped
    for header, (first, last) in cases.items():
        part = api.get(url, HTTP_RANGE=header)
        assert part.status_code == 206, header
        assert part["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert part["Content-Length"] == str(last - first + 1)
        assert content(part) == data[first : last + 1]

    for header in (f"bytes={size}-", "bytes=50-10", "bytes=-0"):
        refused = api.get(url, HTTP_RANGE=header)
        assert refused.status_code == 416, header
        assert refused["Content-Range"] == f"bytes */{size}"
        assert refused.json()["code"] == "range_not_satisfiable" and refused.json()["detail"]

    # ignored (RFC 9110): other units, several ranges, malformed ranges: the whole file is the answer
    for header in ("items=0-10", "bytes=0-1,5-6", "bytes=x-y", "bytes=-", "bytes=abc"):
        assert api.get(url, HTTP_RANGE=header).status_code == 200


def test_download_with_a_session_login(db, user, video, clip):  # noqa: ANN001
    browser = APIClient()
    assert browser.login(username="alice", password="pw-alice")
    response = browser.get(video["file_url"], HTTP_RANGE="bytes=0-3")
    assert response.status_code == 206 and content(response) == clip.read_bytes()[:4]
    assert_error(APIClient().get(video["file_url"]), 401, "not_authenticated")


def test_download_of_a_file_gone_from_storage_is_404(db, api, video):  # noqa: ANN001
    Path(Video.objects.get(pk=video["id"]).file.path).unlink()
    assert_error(api.get(video["file_url"]), 404, "not_found")


def test_thumbnail_download(db, api, video):  # noqa: ANN001
    row = Video.objects.get(pk=video["id"])
    Video.objects.filter(pk=row.pk).update(thumbnail="")
    assert_error(api.get(f"/api/v1/videos/{video['id']}/thumbnail"), 404, "not_found")
    row.thumbnail.save("t.jpg", ContentFile(b"\xff\xd8jpeg-bytes"), save=True)
    body = api.get(f"/api/v1/videos/{video['id']}/").json()
    assert body["thumbnail_url"] == f"/api/v1/videos/{video['id']}/thumbnail/"
    response = api.get(body["thumbnail_url"])
    assert response.status_code == 200 and content(response) == b"\xff\xd8jpeg-bytes"
    assert response["Content-Type"] == "image/jpeg"


@given(size=st.integers(0, 10_000), first=st.integers(0, 12_000), length=st.integers(0, 12_000))
def test_byte_range_is_within_the_file_or_refused(size: int, first: int, length: int) -> None:
    last = first + length
    expected = {
        f"bytes={first}-{last}": None if first >= size else (first, min(last, size - 1)),
        f"bytes={first}-": None if first >= size else (first, size - 1),
        f"bytes=-{length}": None if length == 0 or size == 0 else (max(0, size - length), size - 1),
    }
    for header, want in expected.items():
        try:
            got = byte_range(header, size)
        except RangeNotSatisfiable:
            got = None
        assert got == want, header
        if got is not None:
            assert 0 <= got[0] <= got[1] < size


def test_byte_ranges_with_huge_numbers_are_answered_not_a_crash() -> None:
    huge = "9" * 5_000  # int() refuses strings over 4,300 digits
    with pytest.raises(RangeNotSatisfiable):
        byte_range(f"bytes={huge}-", 100)
    assert byte_range(f"bytes=0-{huge}", 100) == (0, 99)
    assert byte_range(f"bytes=-{huge}", 100) == (0, 99)
    assert byte_range(f"bytes={'0' * 5_000}5-{'0' * 5_000}9", 100) == (5, 9)
