"""Issue 17's page behaviour through the test client: search, filters, pagination, composition sources,
paragraphs, attempts and Retry, password reset, favicon, the .admin-password file."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from videos.models import ProcessingTask, SubtitleSegment
from videos.services.tasks import task_submit
from videos.tests.pages.test_pages import finished, make_video


@pytest.fixture
def browser(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def titles(html: str) -> list[str]:
    return re.findall(r'<a class="title" href="/videos/[^"]+/">([^<]+)</a>', html)


# Library -------------------------------------------------------------------------------------
def test_library_search_and_status_filter(browser, user, other_user) -> None:  # noqa: ANN001
    make_video(user, "Beach morning", status="ready")
    make_video(user, "beach evening")
    make_video(user, "City")
    make_video(other_user, "Beach of someone else")
    assert sorted(titles(browser.get("/?q=BEACH").content.decode())) == ["Beach morning", "beach evening"]
    assert titles(browser.get("/?q=beach&status=ready").content.decode()) == ["Beach morning"]
    assert titles(browser.get("/?status=nonsense").content.decode()) == ["City", "beach evening", "Beach morning"]
    html = browser.get("/?q=nothing+like+it").content.decode()
    assert 'id="no-match"' in html and 'id="no-videos"' not in html
    assert 'value="nothing like it"' in html  # the search box keeps what was typed


HOSTILE = ["/?q=%00beach&status=%00", "/tasks/?q=a%00b&status=%00&kind=%01", "/?q=" + "x" * 5_000]


@pytest.mark.db_bound
@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_search_input_is_a_plain_page(browser, user, path) -> None:  # noqa: ANN001
    make_video(user, "beach")
    assert browser.get(path).status_code == 200


def test_library_pages_hold_20_like_the_api_and_links_keep_the_search(browser, user) -> None:  # noqa: ANN001
    for n in range(45):
        make_video(user, f"Clip {n:02d}")
    first = browser.get("/?q=clip").content.decode()
    assert len(titles(first)) == 20 and "Page 1 of 3" in first
    assert 'href="?q=clip&amp;page=2"' in first and 'href="?q=clip&amp;page=3"' in first
    last = browser.get("/?q=clip&page=3").content.decode()
    assert titles(last) == ["Clip 04", "Clip 03", "Clip 02", "Clip 01", "Clip 00"]  # newest first, the oldest last
    assert browser.get("/?page=99").status_code == 200  # past the end: the last page, never an error


def test_composition_output_is_badged_with_links_to_its_inputs(browser, user) -> None:  # noqa: ANN001
    beach, city = make_video(user, "Beach"), make_video(user, "City")
    gone = "00000000-0000-4000-8000-000000000000"
    out = make_video(user, "Joined", status="ready")
    task = finished(user, kind="test_noop")
    ProcessingTask.objects.filter(pk=task.pk).update(
        kind="composition",
        status="completed",
        args={"video_ids": [str(beach.pk), str(city.pk), gone], "title": "Joined"},
        result={"video_id": str(out.pk)},
    )
    html = browser.get("/").content.decode()
    card = html.split(f'data-video="{out.pk}"')[1].split("</li>")[0]
    assert '<span class="badge kind">composition</span>' in card
    assert f'<a href="/videos/{beach.pk}/">Beach</a>' in card and f'<a href="/videos/{city.pk}/">City</a>' in card
    assert "a deleted video" in card and f'href="/tasks/{task.pk}/"' in card
    assert "badge kind" not in html.split(f'data-video="{beach.pk}"')[1].split("</li>")[0]  # an upload is not
    page = browser.get(f"/videos/{out.pk}/").content.decode()
    assert '<span class="badge kind">composition</span>' in page and f'href="/videos/{beach.pk}/"' in page
    task_page = browser.get(f"/tasks/{task.pk}/").content.decode()
    assert f'<a href="/videos/{city.pk}/">City</a>' in task_page


# Tasks -----------------------------------------------------------------------------------------
def done(owner, **kw) -> ProcessingTask:  # noqa: ANN001, ANN003
    """A queued task marked completed at once (no worker runs here), so the active limit never bites."""
    task = task_submit(owner=owner, kind="test_noop", **kw)
    ProcessingTask.objects.filter(pk=task.pk).update(status="completed", progress=100)
    return task


def test_tasks_search_filters_and_pages(browser, user) -> None:  # noqa: ANN001
    beach = make_video(user, "Beach")
    for _ in range(22):
        done(user)
    on_beach = done(user, video=beach)
    failed = done(user)
    ProcessingTask.objects.filter(pk=failed.pk).update(status="failed", error_message="no")
    ProcessingTask.objects.filter(pk=on_beach.pk).update(kind="transcription")
    running = task_submit(owner=user, kind="test_noop")
    html = browser.get("/tasks/").content.decode()
    assert f'data-task="{running.pk}"' in html.split('id="finished-tasks"')[0]
    assert "Page 1 of 2" in html and "(24)" in html
    searched = browser.get("/tasks/?q=beach").content.decode()
    assert f'data-task="{on_beach.pk}"' in searched and searched.count('class="task card"') == 1
    by_kind = browser.get("/tasks/?kind=transcription").content.decode()
    assert by_kind.count('class="task card"') == 1
    by_status = browser.get("/tasks/?status=failed").content.decode()
    assert f'data-task="{failed.pk}"' in by_status and by_status.count('class="task card"') == 1
    assert 'id="active-tasks"' not in by_status  # a finished status hides the live list


# Video page --------------------------------------------------------------------------------------
def test_video_page_shows_language_paragraphs_and_seekable_lines(browser, user) -> None:  # noqa: ANN001
    video = make_video(user, "Talk", language="en")
    lines = [(0.0, 1.0, "Hello there."), (1.1, 2.0, "This is a talk."), (5.0, 6.0, "After a long pause.")]
    for n, (start, end, text) in enumerate(lines, 1):
        SubtitleSegment.objects.create(video=video, index=n, start=start, end=end, text=text)
    html = browser.get(f"/videos/{video.pk}/").content.decode()
    assert 'title="Language of the transcript">en</span>' in html
    assert '<button type="button" class="seek" data-start="5.000">' in html
    paragraphs = html.split('data-pane="paragraphs"')[1]
    assert "Hello there. This is a talk." in paragraphs and "After a long pause." in paragraphs  # the pause splits


def test_video_page_prefers_the_paragraphs_tasks_result(browser, user) -> None:  # noqa: ANN001
    video = make_video(user, "Talk")
    SubtitleSegment.objects.create(video=video, index=1, start=0.0, end=1.0, text="Line.")
    task = finished(user, kind="test_noop", video=video)
    result = {"paragraphs": [{"index": 1, "start": 0.0, "end": 9.5, "text": "From the SRT.", "segment_indexes": [1]}]}
    ProcessingTask.objects.filter(pk=task.pk).update(kind="srt_media", status="completed", result=result)
    html = browser.get(f"/videos/{video.pk}/").content.decode()
    assert "From the SRT." in html and "0:00.0 – 0:09.5" in html and f'href="/tasks/{task.pk}/"' in html


# Task page ---------------------------------------------------------------------------------------
def test_resumed_task_names_its_attempt_and_lists_the_attempts(browser, user) -> None:  # noqa: ANN001
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 1})
    log = [
        {"attempt": 1, "started_at": "2026-01-01T10:00:00+00:00", "ended_at": "2026-01-01T10:00:09+00:00",
         "stage": "second", "outcome": "interrupted"},
        {"attempt": 2, "started_at": "2026-01-01T10:00:12+00:00", "ended_at": None, "stage": "second",
         "outcome": "running"},
    ]  # fmt: skip
    ProcessingTask.objects.filter(pk=task.pk).update(attempts=2, attempts_log=log)
    html = browser.get(f"/tasks/{task.pk}/").content.decode()
    assert "Resumed after an interruption (attempt 2)" in html
    assert "Attempt 1: interrupted in second · started" in html and "Attempt 2: running in second" in html


@pytest.mark.usefixtures("immediate_backend")
def test_retry_is_hidden_when_the_input_is_gone_and_shown_when_transient(browser, user, transactional_db) -> None:  # noqa: ANN001
    transient = finished(user, kind="test_sleep", args={"seconds": 0.02, "fail_in": "second"})
    html = browser.get(f"/tasks/{transient.pk}/").content.decode()
    assert not re.search(r'id="retry"[^>]* hidden', html) and "data-retry-blocked" not in html

    audio = make_video(user, "Podcast", width=None, height=None)
    picture = make_video(user, "Beach")
    composed = finished(user, kind="test_sleep", args={"seconds": 0.02, "fail_in": "second"})
    ProcessingTask.objects.filter(pk=composed.pk).update(
        kind="composition", args={"video_ids": [str(picture.pk), str(audio.pk)]}
    )
    for path in (f"/tasks/{composed.pk}/", f"/tasks/{composed.pk}/result/"):
        html = browser.get(path).content.decode()
        assert "data-retry-blocked" in html and "Input 2 (“Podcast”) has no picture" in html
    assert re.search(r'id="retry"[^>]* hidden', browser.get(f"/tasks/{composed.pk}/").content.decode())

    gone = "3f0c3b8e-0000-4000-8000-000000000000"
    ProcessingTask.objects.filter(pk=composed.pk).update(args={"video_ids": [str(picture.pk), gone]})
    assert "Input 2 was deleted" in browser.get(f"/tasks/{composed.pk}/").content.decode()

    lost = finished(user, kind="test_sleep", args={"seconds": 0.02, "fail_in": "second"})
    ProcessingTask.objects.filter(pk=lost.pk).update(kind="transcription", video=None)
    assert "Its video was deleted" in browser.get(f"/tasks/{lost.pk}/").content.decode()


@pytest.mark.usefixtures("immediate_backend")
def test_tool_output_is_folded_under_technical_details(browser, user, transactional_db) -> None:  # noqa: ANN001
    task = finished(user, kind="test_sleep", args={"seconds": 0.02, "fail_in": "second"})
    log = [{**task.attempts_log[-1], "detail": "[h264 @ 0x1] error while decoding MB 3 4"}]
    ProcessingTask.objects.filter(pk=task.pk).update(attempts_log=log)
    html = browser.get(f"/tasks/{task.pk}/").content.decode()
    assert re.search(r"<details[^>]*><summary>Technical details</summary><pre>\[h264 @ 0x1\] error while", html)


# Password reset, favicon, admin password ---------------------------------------------------------
def test_password_reset_by_email_from_the_login_page(client, make_user) -> None:  # noqa: ANN001
    make_user("bob", email="bob@example.org")
    assert 'href="/accounts/password_reset/"' in client.get("/accounts/login/").content.decode()
    form = client.get("/accounts/password_reset/")
    assert form.status_code == 200 and "changepassword" in form.content.decode()
    sent = client.post("/accounts/password_reset/", {"email": "bob@example.org"})
    assert sent.status_code == 302 and sent["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "Reset your Montage password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body)
    assert link is not None, mail.outbox[0].body
    landing = client.get(link.group(1))
    assert landing.status_code == 302  # Django swaps the token for a session marker
    chosen = client.post(landing["Location"], {"new_password1": "a-new-Pass-17", "new_password2": "a-new-Pass-17"})
    assert chosen.status_code == 302 and chosen["Location"] == "/accounts/reset/done/"
    assert "Password changed" in client.get("/accounts/reset/done/").content.decode()
    assert client.login(username="bob", password="a-new-Pass-17")
    assert "no longer valid" in Client().get(link.group(1), follow=True).content.decode()  # used once


def test_favicon_is_served(client, settings) -> None:  # noqa: ANN001
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/videos/favicon.svg")
    svg = Path(settings.BASE_DIR / "static" / "videos" / "favicon.svg").read_text()
    assert svg.startswith("<svg") and 'rel="icon"' in client.get("/accounts/login/").content.decode()


@pytest.mark.django_db
def test_ensure_admin_keeps_the_password_in_a_private_file(tmp_path, capsys) -> None:  # noqa: ANN001
    secret = tmp_path / ".admin-password"
    call_command("ensure_admin", password_file=str(secret))
    printed = capsys.readouterr().out
    password = secret.read_text().strip()
    assert password in printed and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert Client().login(username="admin", password=password)
    call_command("ensure_admin", password_file=str(secret))
    again = capsys.readouterr().out
    assert password not in again and str(secret) in again and "changepassword" in again
