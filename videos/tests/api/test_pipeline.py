"""Pipeline API: reprocess/run_sync/retranscribe (202, 409, force), the initial state, segments as JSON/SRT/VTT."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import srt
from django.core.files.uploadedfile import SimpleUploadedFile

from videos.engines.transcription.quality import normalize_words
from videos.jobs.reprocess import STEPS
from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.tests.fake_openai import FakeOpenAI, fake_openai  # noqa: F401 - the fixture
from videos.tests.jobs.test_transcription import (  # noqa: F401 - openai is a fixture
    SENTENCE,
    clip_video,
    openai,
    segments_of,
    slow,
    speech_clip,
)
from videos.tests.taskmanager.helpers import wait_for

pytestmark = pytest.mark.slow
WORDS = normalize_words(SENTENCE)


def url(video_id: object, action: str, slash: bool = True) -> str:
    return f"/api/v1/videos/{video_id}/{action}" + ("/" if slash else "")


def assert_error(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body


# A strict WebVTT reader (the spec's file structure; the `srt` package checks the SRT side) --------
_VTT_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME} --> {_VTT_TIME}(?: .*)?$")


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) per cue; AssertionError on anything a WebVTT parser would reject or misread."""
    assert text.startswith("WEBVTT") and text.split("\n", 1)[0] in ("WEBVTT", "WEBVTT "), "missing WEBVTT header"
    assert "\r" not in text
    blocks = text.split("\n\n")
    assert blocks[0].strip() == "WEBVTT", "the header block holds only the signature here"
    cues = []
    for block in blocks[1:]:
        if not block.strip():
            continue
        lines = block.strip("\n").split("\n")
        if "-->" not in lines[0]:
            lines = lines[1:]  # the cue identifier
        match = _VTT_TIMING.match(lines[0])
        assert match, f"bad timing line {lines[0]!r}"
        start, end = _seconds(*match.groups()[:4]), _seconds(*match.groups()[4:])
        assert start <= end
        payload = lines[1:]
        assert all(line and "-->" not in line for line in payload), block
        cues.append((start, end, "\n".join(payload)))
    starts = [c[0] for c in cues]
    assert starts == sorted(starts)
    return cues


# Initial state, 404s, input ---------------------------------------------------------------------
def test_a_never_processed_video_answers_an_all_pending_placeholder(db, api, user):  # noqa: ANN001
    video = clip_video(user)
    for slash in (True, False):
        response = api.get(url(video.pk, "reprocess", slash))
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["task_id"] is None and body["kind"] == "reprocess" and body["video_id"] == str(video.pk)
        assert body["status"] == "pending" and body["progress"] == 0 and body["attempts"] == 0
        assert [(s["name"], s["weight"], s["status"], s["progress"]) for s in body["subtasks"]] == [
            (name, weight, "pending", 0) for name, weight in STEPS.items()
        ]


def test_other_users_and_unknown_videos_are_404_on_every_route(db, api, other_api, user):  # noqa: ANN001
    video = clip_video(user)
    for action in ("reprocess", "segments"):
        assert_error(other_api.get(url(video.pk, action)), 404, "not_found")
    for action in ("reprocess", "run_sync", "retranscribe"):
        assert_error(other_api.post(url(video.pk, action)), 404, "not_found")
    assert_error(other_api.get(url(video.pk, "segments") + "?format=srt"), 404, "not_found")  # errors stay JSON
    assert_error(api.get(url("00000000-0000-0000-0000-000000000000", "reprocess")), 404, "not_found")
    assert not ProcessingTask.objects.exists()


def test_no_credentials_is_401(db, client, user):  # noqa: ANN001
    video = clip_video(user)
    assert_error(client.post(url(video.pk, "reprocess")), 401, "not_authenticated")


def test_bad_force_or_engine_is_400(db, api, user):  # noqa: ANN001
    video = clip_video(user)
    body = assert_error(api.post(url(video.pk, "reprocess") + "?force=maybe"), 400, "invalid")
    assert "force" in body["errors"]
    body = assert_error(api.post(url(video.pk, "retranscribe"), {"engine": "vosk"}), 400, "invalid")
    assert "engine" in body["errors"]
    assert not ProcessingTask.objects.exists()


# Start, run, read ------------------------------------------------------------------------------
def test_reprocess_answers_202_and_runs_to_a_ready_video(transactional_db, api, user, openai, immediate_backend):  # noqa: ANN001, F811
    video = clip_video(user)
    response = api.post(url(video.pk, "reprocess", slash=False))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "reprocess" and body["video_id"] == str(video.pk) and body["status"] == "pending"
    assert response["Location"] == body["status_url"] == f"/api/v1/tasks/{body['task_id']}/"
    progress = api.get(url(video.pk, "reprocess")).json()
    assert progress["task_id"] == body["task_id"] and progress["status"] == "completed"
    assert progress["progress"] == 100 and progress["stage"] == "completed"
    assert [(s["name"], s["weight"], s["status"]) for s in progress["subtasks"]] == [
        (name, weight, "completed") for name, weight in STEPS.items()
    ]
    result = api.get(f"/api/v1/tasks/{body['task_id']}/result").json()["result"]
    assert result["segments"] == 4 and result["language"] == "en" and result["engine"] == "openai"
    assert len(result["paragraphs"]) == 2 and 3 <= result["duration_s"] < 3.1
    thumbnail = api.get(result["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"
    status = api.get(url(video.pk, "status")).json()
    assert status["status"] == "ready" and status["task"]["task_id"] == body["task_id"]


def test_run_sync_is_the_same_asynchronous_reprocess(transactional_db, api, user, openai, immediate_backend):  # noqa: ANN001, F811
    video = clip_video(user)
    response = api.post(url(video.pk, "run_sync"), {"force": False}, format="json")
    assert response.status_code == 202 and response.json()["kind"] == "reprocess"
    assert api.get(url(video.pk, "reprocess")).json()["task_id"] == response.json()["task_id"]


def test_retranscribe_replaces_segments_without_duplicates(transactional_db, api, user, openai, immediate_backend):  # noqa: ANN001, F811
    video = clip_video(user)
    SubtitleSegment.objects.create(video=video, index=1, start=0, end=9, text="stuck transcript")
    Video.objects.filter(pk=video.pk).update(status="processing")  # the old system's stuck video
    for _ in range(2):
        response = api.post(url(video.pk, "retranscribe"))
        assert response.status_code == 202 and response.json()["kind"] == "transcription"
    rows = api.get(url(video.pk, "segments")).json()
    assert [r["index"] for r in rows] == [1, 2, 3, 4] and len({r["text"] for r in rows}) == 4
    assert "stuck transcript" not in {r["text"] for r in rows}
    words = rows[0].pop("words")
    assert rows[0] == {"index": 1, "start": 0.0, "end": 1.0, "text": "speech from 0.00 to 1.00"}
    assert [w["word"] for w in words] == ["speech", "from", "0.00", "to", "1.00"] and words[-1]["end"] == 1.0
    assert api.get(url(video.pk, "status")).json()["status"] == "ready"


# 409 and force ---------------------------------------------------------------------------------
def test_409_while_active_then_force_replaces_within_2_seconds(task_manager, api, user, openai):  # noqa: ANN001, F811
    openai.script_transcriptions(slow(4.0), slow(4.0))
    video = clip_video(user)
    first = api.post(url(video.pk, "reprocess")).json()
    assert wait_for(lambda: len(openai.transcription_requests) == 1, timeout=20)
    for action in ("reprocess", "run_sync", "retranscribe"):
        body = assert_error(api.post(url(video.pk, action)), 409, "task_conflict")
        assert body["task_id"] == first["task_id"]
    started = time.monotonic()
    response = api.post(url(video.pk, "reprocess") + "?force=true")
    assert response.status_code == 202, response.content
    second = response.json()
    assert second["task_id"] != first["task_id"]
    assert ProcessingTask.objects.get(pk=first["task_id"]).status == "cancelled"
    assert wait_for(lambda: not task_manager.is_running_here(first["task_id"]), timeout=2)
    assert time.monotonic() - started < 2
    old = api.get(f"/api/v1/tasks/{first['task_id']}/").json()
    assert old["status"] == "cancelled" and "force" in old["error_message"]
    # The body's {"force": true} works the same; the newest task is the one GET reprocess shows.
    assert wait_for(lambda: len(openai.transcription_requests) == 2, timeout=20)
    third = api.post(url(video.pk, "reprocess"), {"force": True}, format="json")
    assert third.status_code == 202
    assert wait_for(lambda: api.get(url(video.pk, "reprocess")).json()["status"] == "completed", timeout=30)
    latest = api.get(url(video.pk, "reprocess")).json()
    assert latest["task_id"] == third.json()["task_id"]
    assert ProcessingTask.objects.get(pk=second["task_id"]).status == "cancelled"
    assert [r[0] for r in segments_of(video)] == [1, 2, 3, 4]
    assert Video.objects.get(pk=video.pk).status == "ready"


# Segments: JSON, SRT, VTT ----------------------------------------------------------------------
@pytest.fixture
def transcribed(db, user) -> Video:  # noqa: ANN001
    """A video with segments as engines write them: out of order, spanning an hour, with markup-like text."""
    video = clip_video(user)
    from videos.engines.transcription import Segment
    from videos.services.transcripts import video_segments_replace

    video_segments_replace(
        video=video,
        segments=[
            Segment(start=3725.5, end=3727.25, text="after an hour & a <b>bold</b> claim -> done"),
            Segment(start=0.0, end=1.5, text="Hello there."),
            Segment(start=1.5, end=2.0, text="  second line  "),
        ],
    )
    return video


def test_segments_as_json_in_time_order(api, transcribed) -> None:  # noqa: ANN001
    rows = api.get(url(transcribed.pk, "segments", slash=False)).json()
    assert rows == [
        {"index": 1, "start": 0.0, "end": 1.5, "text": "Hello there.", "words": []},
        {"index": 2, "start": 1.5, "end": 2.0, "text": "second line", "words": []},
        {"index": 3, "start": 3725.5, "end": 3727.25, "words": [],
         "text": "after an hour & a <b>bold</b> claim -> done"},
    ]  # fmt: skip - engines without word times store none


def test_segments_as_srt_parse_with_the_srt_package(api, transcribed) -> None:  # noqa: ANN001
    response = api.get(url(transcribed.pk, "segments") + "?format=srt")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-subrip; charset=utf-8"
    assert 'filename="' in response["Content-Disposition"]
    subtitles = list(srt.parse(response.content.decode(), ignore_errors=False))
    assert [(s.index, s.start, s.end, s.content) for s in subtitles] == [
        (1, timedelta(0), timedelta(seconds=1.5), "Hello there."),
        (2, timedelta(seconds=1.5), timedelta(seconds=2), "second line"),
        (3, timedelta(seconds=3725.5), timedelta(seconds=3727.25), "after an hour & a <b>bold</b> claim -> done"),
    ]


def test_segments_as_vtt_parse_strictly(api, transcribed) -> None:  # noqa: ANN001
    response = api.get(url(transcribed.pk, "segments") + "?format=vtt")
    assert response.status_code == 200 and response["Content-Type"] == "text/vtt; charset=utf-8"
    cues = parse_vtt(response.content.decode())
    assert cues == [
        (0.0, 1.5, "Hello there."),
        (1.5, 2.0, "second line"),
        (3725.5, 3727.25, "after an hour &amp; a &lt;b&gt;bold&lt;/b&gt; claim -&gt; done"),
    ]
    by_accept = api.get(url(transcribed.pk, "segments"), HTTP_ACCEPT="text/vtt")
    assert by_accept["Content-Type"].startswith("text/vtt") and by_accept.content == response.content


def test_segments_of_an_untranscribed_video_are_empty_in_every_format(db, api, user) -> None:  # noqa: ANN001
    video = clip_video(user)
    assert api.get(url(video.pk, "segments")).json() == []
    srt = api.get(url(video.pk, "segments") + "?format=srt")
    assert srt.content.strip() == b"" and srt["Content-Type"].startswith("application/x-subrip")
    vtt = api.get(url(video.pk, "segments") + "?format=vtt")
    assert vtt.content.decode().strip() == "WEBVTT" and vtt["Content-Type"].startswith("text/vtt")


# Local Whisper end to end ----------------------------------------------------------------------
def test_local_whisper_end_to_end_through_the_api(task_manager, api, settings):  # noqa: ANN001
    """Upload a spoken sentence, reprocess it offline, read the words back with their times."""
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_ENGINE = "auto"
    settings.PARAGRAPH_ENGINE = "auto"
    clip = speech_clip()
    upload = api.post(
        "/api/v1/videos/", {"file": SimpleUploadedFile("speech.mp4", clip.read_bytes())}, format="multipart"
    )
    assert upload.status_code == 201, upload.content
    video_id = upload.json()["id"]
    assert api.post(url(video_id, "reprocess")).status_code == 202
    readings: list[float] = []

    def done() -> bool:
        body = api.get(url(video_id, "reprocess")).json()
        readings.append(body["progress"])
        return body["status"] in ("completed", "failed", "cancelled")

    assert wait_for(done, timeout=120, interval=0.1)
    body = api.get(url(video_id, "reprocess")).json()
    assert body["status"] == "completed", body["error_message"]
    assert readings == sorted(readings) and readings[-1] == 100 and all(p < 100 for p in readings[:-1])
    result = api.get(f"/api/v1/tasks/{body['task_id']}/result").json()["result"]
    assert result["engine"] == "whisper" and result["language"] == "en" and result["model"] == "tiny.en"
    assert result["language_probability"] == 1.0 and result["words"] >= len(WORDS) - 4
    assert result["paragraph_engine"] == "rules" and result["paragraphs"]
    rows = api.get(url(video_id, "segments")).json()
    heard = normalize_words(" ".join(r["text"] for r in rows))
    assert sum(word in heard for word in WORDS) >= 0.6 * len(WORDS), heard
    starts = [r["start"] for r in rows]
    assert starts == sorted(starts) and all(r["start"] < r["end"] for r in rows)
    assert rows[-1]["end"] <= result["duration_s"] + 0.1
    assert api.get(url(video_id, "status")).json()["status"] == "ready"
    assert api.get(result["thumbnail_url"]).status_code == 200


def test_subtitle_download_name_keeps_a_unicode_title(db, api, user):  # noqa: ANN001
    video = clip_video(user)
    Video.objects.filter(pk=video.pk).update(title="Café été")
    response = api.get(url(video.pk, "segments") + "?format=srt")
    assert response["Content-Disposition"] == "inline; filename*=utf-8''Caf%C3%A9_%C3%A9t%C3%A9.srt"
