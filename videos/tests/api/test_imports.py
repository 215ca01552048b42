"""POST /api/v1/videos/import against local servers (127.0.0.1, IMPORT_ALLOW_PRIVATE_NETWORKS on):
the video exists at once as `downloading`, direct links stored byte for byte, transcription, refusals,
failures with human messages, the size limit, cancel mid-download."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.taskmanager.context import task_tmp_dir
from videos.tests import clips
from videos.tests.jobs.test_transcription import speech_clip
from videos.tests.media_server import MediaServer
from videos.tests.taskmanager.helpers import wait_for, wait_status

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path, settings) -> Path:  # noqa: ANN001
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True  # the test servers are on loopback
    settings.IMPORT_STALL_TIMEOUT_S = 10
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_ENGINE = "whisper"
    root = tmp_path / "site"
    root.mkdir()
    clips.make_clip(root / "clip.mp4", seconds=2)
    clips.make_clip(root / "long.mp4", seconds=8)
    return root


def start(api, url: str, **body) -> dict:  # noqa: ANN001, ANN003
    response = api.post("/api/v1/videos/import", {"url": url, **body}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def test_the_video_exists_at_once_as_downloading(transactional_db, api, site):  # noqa: ANN001
    body = start(api, "http://127.0.0.1:9/clip.mp4", title="Talk")  # nothing runs it: no worker here
    assert body["kind"] == "import" and body["status"] == "pending"
    video = api.get(f"/api/v1/videos/{body['video_id']}/").json()
    assert (video["status"], video["title"]) == ("downloading", "Talk")
    assert [v["id"] for v in api.get("/api/v1/videos/").json()["results"]] == [body["video_id"]]
    task = api.get(body["status_url"]).json()
    assert [s["name"] for s in task["subtasks"]] == ["downloading", "probing", "extracting_audio", "transcribing"]
    assert api.delete(f"/api/v1/videos/{body['video_id']}/").status_code == 409  # its import is active


def test_a_direct_link_is_stored_byte_for_byte(transactional_db, api, site, immediate_backend):  # noqa: ANN001
    with MediaServer(site) as server:
        body = start(api, server.url("clip.mp4"), transcribe=False)
    task = api.get(body["status_url"]).json()
    assert task["status"] == "completed", task["error_message"]
    assert task["progress"] == 100
    result = api.get(f"/api/v1/tasks/{body['task_id']}/result").json()["result"]
    assert result["video_id"] == body["video_id"] and result["direct"] is True and result["transcribed"] is False
    video = Video.objects.get(pk=body["video_id"])
    assert video.status == "uploaded" and video.source_url.endswith("/clip.mp4") and video.title == "clip"
    assert Path(video.file.path).read_bytes() == (site / "clip.mp4").read_bytes()
    assert (video.duration_s, video.width, video.has_audio) == (pytest.approx(2.0, abs=0.1), 320, True)
    assert api.get(f"/api/v1/videos/{video.pk}/").json()["source_url"] == video.source_url
    downloaded = b"".join(api.get(f"/api/v1/videos/{video.pk}/file").streaming_content)
    assert downloaded == (site / "clip.mp4").read_bytes()
    assert video.thumbnail  # a poster frame for the library card
    assert not task_tmp_dir(body["task_id"]).exists()


def test_an_import_transcribes_and_the_video_is_ready(transactional_db, api, site, immediate_backend):  # noqa: ANN001
    (site / "talk.mp4").write_bytes(speech_clip().read_bytes())
    with MediaServer(site) as server:
        body = start(api, server.url("talk.mp4"), language="en")
    task = ProcessingTask.objects.get(pk=body["task_id"])
    assert task.status == "completed", task.error_message
    assert task.result["transcribed"] is True and task.result["segments"] >= 1 and task.result["language"] == "en"
    assert SubtitleSegment.objects.filter(video_id=body["video_id"]).count() == task.result["segments"]
    assert Video.objects.get(pk=body["video_id"]).status == "ready"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.mp4", "must start with http:// or https://"),
        ("not a url", "must start with http:// or https://"),
        ("http://127.0.0.1:9/a.mp4", "127.0.0.1 is a loopback address"),
        ("http://[::1]:9/a.mp4", "loopback address"),
    ],
)
def test_refused_urls_are_400_invalid_and_leave_nothing(db, api, url, message, settings):  # noqa: ANN001
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = False
    response = api.post("/api/v1/videos/import", {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and message in response.json()["detail"]
    assert not Video.objects.exists() and not ProcessingTask.objects.exists()


def test_a_missing_url_and_a_bad_language_are_400(db, api, site):  # noqa: ANN001
    assert api.post("/api/v1/videos/import", {}, format="json").json()["code"] == "invalid"
    response = api.post("/api/v1/videos/import", {"url": "http://127.0.0.1:9/a.mp4", "language": "de"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unsupported_language"
    assert not Video.objects.exists()


def test_a_404_and_a_page_without_media_fail_the_task_and_the_video_is_error(
    transactional_db,  # noqa: ANN001
    api,  # noqa: ANN001
    site,  # noqa: ANN001
    immediate_backend,  # noqa: ANN001
):
    (site / "plain.html").write_text("<html><head><title>x</title></head><body>no media</body></html>")
    with MediaServer(site) as server:
        missing = start(api, server.url("gone.mp4"))
        plain = start(api, server.url("plain.html"))
    for body, words in ((missing, "HTTP Error 404"), (plain, "No video or audio was found")):
        task = api.get(body["status_url"]).json()
        assert task["status"] == "failed" and words in task["error_message"], task["error_message"]
        assert task["stage"] == "failed" and task["subtasks"][0]["status"] == "failed"
        assert api.get(f"/api/v1/videos/{body['video_id']}/").json()["status"] == "error"


def test_a_download_over_max_upload_mb_fails_with_file_too_large(
    transactional_db,  # noqa: ANN001
    api,  # noqa: ANN001
    site,  # noqa: ANN001
    settings,  # noqa: ANN001
    immediate_backend,  # noqa: ANN001
):
    settings.MAX_UPLOAD_MB = 1
    (site / "huge.mp4").write_bytes(b"\0" * (64 * 1024 * 1024))
    with MediaServer(site) as server:
        body = start(api, server.url("huge.mp4"))
        time.sleep(0.3)
        served = server.bytes_sent("/huge.mp4")
    task = ProcessingTask.objects.get(pk=body["task_id"])
    assert task.status == "failed" and task.error_message.startswith("file_too_large")
    assert served < 16 * 1024 * 1024
    assert Video.objects.get(pk=body["video_id"]).status == "error"


def test_cancel_mid_download_stops_within_a_second_and_removes_the_partial_file(
    api,  # noqa: ANN001
    site,  # noqa: ANN001
    task_manager,  # noqa: ANN001
):
    with MediaServer(site, rate=32 * 1024, chunk=4 * 1024) as server:
        body = start(api, server.url("long.mp4"))
        part = task_tmp_dir(body["task_id"]) / "download" / "media.mp4.part"
        assert wait_for(lambda: part.is_file() and part.stat().st_size > 20_000, timeout=30)
        progress = api.get(body["status_url"]).json()
        assert progress["stage"] == "downloading"
        t0 = time.monotonic()
        response = api.post(f"/api/v1/tasks/{body['task_id']}/cancel")
        assert response.status_code == 202
        wait_status(body["task_id"], "cancelled", timeout=1.0)
        assert time.monotonic() - t0 < 1.0
    assert not part.exists()
    assert Video.objects.get(pk=body["video_id"]).status == "error"


def test_an_import_sent_twice_with_one_idempotency_key_starts_one_task(transactional_db, api, site):  # noqa: ANN001
    body = {"url": "http://127.0.0.1:9/clip.mp4"}  # nothing runs it: no worker here
    first = api.post("/api/v1/videos/import", body, format="json", HTTP_IDEMPOTENCY_KEY="import-1")
    again = api.post("/api/v1/videos/import", body, format="json", HTTP_IDEMPOTENCY_KEY="import-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Video.objects.count() == 1 and ProcessingTask.objects.count() == 1
