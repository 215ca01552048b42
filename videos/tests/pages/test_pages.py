"""Pages through Django's test client: login required, only my own things, server-rendered progress and results."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.services.tasks import task_cancel, task_submit
from videos.views import clock

PAGES = ["/", "/compose/", "/tasks/"]


@pytest.fixture
def browser(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def make_video(owner, title: str = "Clip", **fields) -> Video:  # noqa: ANN001, ANN003
    """A video row as an upload leaves it (the file itself is not read by these pages)."""
    defaults = {"file": "videos/clip.mp4", "duration_s": 2.5, "width": 320, "height": 240, "size_bytes": 123456}
    return Video.objects.create(owner=owner, title=title, **{**defaults, **fields})


def finished(owner, kind: str = "test_noop", **kw) -> ProcessingTask:  # noqa: ANN001, ANN003
    """A task that really ran through the immediate backend."""
    task = task_submit(owner=owner, kind=kind, **kw)
    task.refresh_from_db()
    return task


# Login ---------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("path", [*PAGES, "/videos/00000000-0000-0000-0000-000000000000/",
                                  "/tasks/00000000-0000-0000-0000-000000000000/"])  # fmt: skip
def test_every_page_asks_an_anonymous_visitor_to_log_in(client, path) -> None:  # noqa: ANN001
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_login_then_logout(client, user) -> None:  # noqa: ANN001
    page = client.get("/accounts/login/?next=/tasks/")
    assert page.status_code == 200 and b'name="password"' in page.content
    bad = client.post("/accounts/login/", {"username": "alice", "password": "wrong", "next": "/tasks/"})
    assert bad.status_code == 200 and b"didn't match" in bad.content
    good = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice", "next": "/tasks/"})
    assert good.status_code == 302 and good["Location"] == "/tasks/"
    assert client.get("/tasks/").status_code == 200
    out = client.post("/accounts/logout/")
    assert out.status_code == 302 and out["Location"] == "/accounts/login/"
    assert client.get("/tasks/").status_code == 302


def test_nav_links_every_page_and_admin_only_for_staff(browser, make_user) -> None:  # noqa: ANN001
    html = browser.get("/").content.decode()
    for href in ['href="/"', 'href="/compose/"', 'href="/tasks/"', 'href="/api/v1/tasks/"']:
        assert href in html
    assert 'href="/admin/"' not in html
    staff = Client()
    staff.force_login(make_user("root", is_staff=True))
    assert 'href="/admin/"' in staff.get("/").content.decode()


# Library and video pages ----------------------------------------------------------------------
def test_library_lists_only_my_videos(browser, user, other_user) -> None:  # noqa: ANN001
    mine = make_video(user, "My holiday")
    make_video(other_user, "Not yours")
    html = browser.get("/").content.decode()
    assert "My holiday" in html and "Not yours" not in html
    assert f'href="/videos/{mine.pk}/"' in html
    assert "2.5 s" in html and "120.6\xa0KB" in html  # duration and size
    assert 'id="dropzone"' in html and 'type="file"' in html


def test_library_shows_a_thumbnail_only_where_there_is_one(browser, user) -> None:  # noqa: ANN001
    with_thumb = make_video(user, "Thumbed", thumbnail="thumbnails/t.jpg")
    make_video(user, "Plain")
    html = browser.get("/").content.decode()
    assert html.count("<img ") == 1
    assert f'src="/api/v1/videos/{with_thumb.pk}/thumbnail/"' in html


def test_video_page_is_mine_only(browser, user, other_user) -> None:  # noqa: ANN001
    mine, theirs = make_video(user, "Mine"), make_video(other_user, "Theirs")
    response = browser.get(f"/videos/{mine.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'src="/api/v1/videos/{mine.pk}/file/"' in html
    assert f'data-url="/api/v1/videos/{mine.pk}/transcribe"' in html
    assert f'data-url="/api/v1/videos/{mine.pk}/reprocess"' in html
    assert "No transcript yet." in html and "<track" not in html
    assert browser.get(f"/videos/{theirs.pk}/").status_code == 404


def test_video_page_shows_its_transcript_with_timestamps_and_a_caption_track(browser, user) -> None:  # noqa: ANN001
    video = make_video(user, "Talk")
    SubtitleSegment.objects.create(video=video, index=1, start=0.0, end=1.2, text="Hello there")
    SubtitleSegment.objects.create(video=video, index=2, start=61.25, end=63.0, text="A minute later")
    html = browser.get(f"/videos/{video.pk}/").content.decode()
    assert f'src="/api/v1/videos/{video.pk}/segments?format=vtt"' in html and "<track" in html
    assert f'href="/api/v1/videos/{video.pk}/segments?format=srt"' in html
    assert f'href="/api/v1/videos/{video.pk}/segments?format=txt"' in html
    assert re.search(r"0:00\.0</span> Hello there", html)
    assert re.search(r"1:01\.2</span> A minute later", html)


def test_audio_only_video_gets_an_audio_player(browser, user) -> None:  # noqa: ANN001
    video = make_video(user, "Podcast", width=None, height=None)
    html = browser.get(f"/videos/{video.pk}/").content.decode()
    assert "<audio" in html and "<video" not in html


# Compose ---------------------------------------------------------------------------------------
def test_compose_offers_only_my_videos_and_both_engines(browser, user, other_user) -> None:  # noqa: ANN001
    a = make_video(user, "First")
    song = make_video(user, "Only sound", width=None, height=None, video_codec="", has_audio=True)
    make_video(other_user, "Foreign")
    html = browser.get("/compose/").content.decode()
    assert f'data-id="{a.pk}"' in html and "Foreign" not in html
    assert str(song.pk) not in html and "Only sound" not in html  # no picture: nothing to compose
    assert '<option value="ffmpeg">' in html and '<option value="moviepy">' in html
    for option in ('value="first"', 'value="largest"', 'value="custom"', 'value="soft"', 'value="burn"'):
        assert option in html
    assert 'name="start"' in html and 'name="end"' in html  # each ordered clip can be trimmed


# Tasks -----------------------------------------------------------------------------------------
def test_tasks_page_splits_active_and_finished_and_hides_others(browser, user, other_user, settings) -> None:  # noqa: ANN001
    pending = task_submit(owner=user, kind="test_noop")  # no worker runs: it stays pending
    cancelled = task_cancel(task=task_submit(owner=user, kind="test_noop"))
    foreign = task_submit(owner=other_user, kind="test_noop")
    html = browser.get("/tasks/").content.decode()
    active_part, finished_part = html.split('id="finished-tasks"')
    assert f'data-task="{pending.pk}"' in active_part
    assert f'data-task="{cancelled.pk}"' in finished_part
    assert str(foreign.pk) not in html
    assert 'role="progressbar"' in html


def test_task_page_renders_progress_before_any_script_runs(browser, user) -> None:  # noqa: ANN001
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 1})
    html = browser.get(f"/tasks/{task.pk}/").content.decode()
    assert 'data-subtask="first"' in html and 'data-subtask="second"' in html
    assert 'id="cancel"' in html and re.search(r'id="retry"[^>]* hidden', html)
    embedded = re.search(r'<script id="task-data" type="application/json">(.*?)</script>', html)
    assert embedded is not None
    data = json.loads(embedded.group(1))
    assert data["task_id"] == str(task.pk) and data["status"] == "pending" and len(data["subtasks"]) == 2
    assert f'data-status-url="/api/v1/tasks/{task.pk}/"' in html


def test_task_page_says_when_a_task_was_resumed_after_an_interruption(browser, user) -> None:  # noqa: ANN001
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 1})
    assert re.search(r'id="resumed"[^>]* hidden', browser.get(f"/tasks/{task.pk}/").content.decode())
    interrupted = {"attempt": 1, "started_at": "2026-01-01T00:00:00+00:00", "ended_at": "2026-01-01T00:00:09+00:00",
                   "stage": "second", "outcome": "interrupted", "host": "h", "pids": []}  # fmt: skip
    ProcessingTask.objects.filter(pk=task.pk).update(attempts=1, attempts_log=[interrupted])
    html = browser.get(f"/tasks/{task.pk}/").content.decode()
    assert not re.search(r'id="resumed"[^>]* hidden', html) and "Resumed after an interruption" in html


def test_task_pages_of_another_user_are_404(browser, other_user) -> None:  # noqa: ANN001
    foreign = task_submit(owner=other_user, kind="test_noop")
    assert browser.get(f"/tasks/{foreign.pk}/").status_code == 404
    assert browser.get(f"/tasks/{foreign.pk}/result/").status_code == 404


@pytest.mark.usefixtures("immediate_backend")
def test_failed_task_shows_its_error_and_a_retry_button(browser, user, transactional_db) -> None:  # noqa: ANN001
    task = finished(user, kind="test_sleep", args={"seconds": 0.02, "fail_in": "second"})
    assert task.status == "failed"
    html = browser.get(f"/tasks/{task.pk}/").content.decode()
    assert "failing on purpose in second" in html
    assert not re.search(r'id="retry"[^>]* hidden', html) and re.search(r'id="cancel"[^>]* hidden', html)


@pytest.mark.usefixtures("immediate_backend")
def test_completed_composition_shows_player_and_download(browser, user, transactional_db) -> None:  # noqa: ANN001
    """The result block reads the task's stored `output` (here a completed row of kind composition)."""
    out = make_video(user, "Joined")
    task = finished(user, kind="test_noop")
    output = {"video_id": str(out.pk), "size_bytes": 2048,
              "duration_s": 4.0, "width": 320, "height": 240, "mode": "reencode", "engine": "ffmpeg"}  # fmt: skip
    ProcessingTask.objects.filter(pk=task.pk).update(kind="composition", result=output, args={"video_ids": ["a", "b"]})
    file_url = f"/api/v1/videos/{out.pk}/file/"  # stored results hold the id; the page adds the URL
    for path in (f"/tasks/{task.pk}/", f"/tasks/{task.pk}/result/"):
        html = browser.get(path).content.decode()
        assert f'<video class="player" controls preload="metadata" src="{file_url}">' in html
        assert f'href="{file_url}" download' in html
        assert f'href="/videos/{out.pk}/"' in html


@pytest.mark.usefixtures("immediate_backend")
def test_srt_media_result_lists_paragraphs(browser, user, transactional_db) -> None:  # noqa: ANN001
    task = finished(user, kind="test_noop")
    paragraphs = [
        {"index": 1, "start": 0.0, "end": 3.5, "text": "First thought.", "segment_indexes": [1, 2]},
        {"index": 2, "start": 3.5, "end": 9.0, "text": "Second thought.", "segment_indexes": [3]},
    ]
    ProcessingTask.objects.filter(pk=task.pk).update(kind="srt_media", result={"paragraphs": paragraphs})
    html = browser.get(f"/tasks/{task.pk}/result/").content.decode()
    assert "0:00.0 – 0:03.5" in html and "First thought." in html and "Second thought." in html


def test_result_fragment_is_empty_until_completed(browser, user) -> None:  # noqa: ANN001
    task = task_submit(owner=user, kind="test_noop")
    response = browser.get(f"/tasks/{task.pk}/result/")
    assert response.status_code == 200 and response.content.strip() == b""


# Pure logic ------------------------------------------------------------------------------------
@given(st.floats(min_value=0, max_value=10 * 3600, allow_nan=False))
def test_clock_reads_back_to_the_tenth(seconds: float) -> None:
    parts = clock(seconds).split(":")
    value = float(parts[-1]) + 60 * int(parts[-2]) + (3600 * int(parts[0]) if len(parts) == 3 else 0)
    assert abs(value - seconds) <= 0.05 + 1e-9  # to the nearest tenth (ties either way)
    assert all(len(p) == 2 for p in parts[1:-1]) and len(parts[-1]) == 4
