"""Real headless Chromium against a live server with real task threads and real ffmpeg.

Log in, upload two clips, compose them, watch the bar move and finish without a reload, play and download
the output; cancel a slow composition from its page (and retry it); see the API's error for a garbage file.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from videos.media.probe import probe
from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.services.compositions import composition_start
from videos.services.tasks import task_submit
from videos.services.videos import video_import
from videos.taskmanager.context import task_tmp_dir
from videos.tests import jobs_for_tests
from videos.tests.clips import cached_clip
from videos.tests.taskmanager.helpers import wait_status
from videos.views import clock

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
# The README's two screenshots are refreshed only on request, so a test run leaves the work tree clean:
# UPDATE_SCREENSHOTS=1 make test
DOCS_SHOTS = ROOT / "docs" / "screenshots"
# Two clips of different sizes, so the composition re-encodes (the slow path worth watching).
BIG = {"seconds": 12, "width": 640, "height": 360, "fps": 25, "audio": True}
SMALL = {"seconds": 12, "width": 320, "height": 240, "fps": 25, "audio": True, "tone_hz": 660}
OVERALL_BAR = "#task .overall + [data-bar]"


def screenshot(page: Page, name: str, *, docs: bool = True) -> None:
    """Save a full-page PNG to test-artifacts/ (and docs/screenshots/ for the README's two, on request)."""
    folders = [ARTIFACTS]
    if docs and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        folders.append(DOCS_SHOTS)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    # CSS transitions are fast-forwarded so the bar's width matches the number printed beside it.
    page.screenshot(path=str(folders[0] / name), full_page=True, animations="disabled")
    for folder in folders[1:]:
        shutil.copy(folders[0] / name, folder / name)


def named_copy(tmp_path: Path, name: str, **clip: object) -> Path:
    """A generated clip under a name a person would upload."""
    return Path(shutil.copy(cached_clip(**clip), tmp_path / name))


def nav(page: Page, link: str) -> None:
    """Follow a site-wide nav link and wait until the new page's scripts have run."""
    with page.expect_navigation(wait_until="load"):
        page.click(f'nav a:text("{link}")')


def bar_value(page: Page) -> float:
    return float(page.get_attribute(OVERALL_BAR, "aria-valuenow") or 0)


def test_upload_compose_watch_play_download(page: Page, live_server, user, tmp_path, settings) -> None:  # noqa: ANN001
    # The re-encoded clip at a slow preset: on an idle machine the smart path otherwise ends before the page's
    # once-a-second poll can show the bar moving.
    settings.FFMPEG_PRESET = "slower"
    beach, city = named_copy(tmp_path, "beach.mp4", **BIG), named_copy(tmp_path, "city.mp4", **SMALL)
    nav(page, "Library")
    # Throttle the upload link (Chromium's network emulation) so the upload bar has steps to show.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 5, "downloadThroughput": -1, "uploadThroughput": 600_000},
    )
    page.set_input_files("#upload-input", [str(beach), str(city)])
    upload_bar = "#uploads li:last-child [data-bar]"  # beach: sent first, so listed last
    sent: list[float] = []
    while page.get_attribute("#uploads li:last-child", "data-state") in (None, "checking") or not sent:
        sent.append(float(page.get_attribute(upload_bar, "aria-valuenow") or 0))
        if sent[-1] >= 100 or len(sent) > 400:
            break
        time.sleep(0.02)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})  # fmt: skip
    expect(page.locator('#uploads li[data-state="done"]')).to_have_count(2, timeout=30_000)
    partial = sorted({v for v in sent if 0 < v < 100})
    assert len(partial) >= 3 and sent == sorted(sent), f"upload bar values: {sent}"
    expect(page.locator("#videos li.video")).to_have_count(2)  # the list refreshed without a reload
    expect(page.locator("#videos li.video .thumb img")).to_have_count(2)  # poster frames came with the uploads
    assert Video.objects.filter(owner=user).count() == 2

    nav(page, "Compose")
    page.click('#available li:has-text("city") button.add')
    page.click('#available li:has-text("beach") button.add')
    page.click('#order li:has-text("beach") button[data-move="up"]')  # beach first: its size wins
    expect(page.locator("#order li[data-id] .title")).to_have_text(["beach", "city"])
    page.fill('#order li:has-text("city") input[name="start"]', "2")  # city trimmed to 2-11.5 s
    page.fill('#order li:has-text("city") input[name="end"]', "11.5")
    page.select_option('select[name="size"]', "largest")
    page.fill('input[name="title"]', "Beach then city")
    page.select_option('select[name="engine"]', "ffmpeg")
    screenshot(page, "compose.png", docs=False)
    page.click("#start")
    page.wait_for_url(f"{live_server.url}/tasks/*/")
    task_id = page.url.rstrip("/").split("/")[-1]
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    seen: list[float] = []
    shot = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen.append(bar_value(page))
        status = page.get_attribute("#task", "data-status")
        if not shot and 15 <= seen[-1] <= 85 and status == "processing":
            screenshot(page, "task-progress.png")
            shot = True
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert page.get_attribute("#task", "data-status") == "completed", page.inner_text("#error")
    assert page.evaluate("window.__sameDocument") is True
    assert seen == sorted(seen), "the bar went backwards"
    moving = sorted({v for v in seen if 0 < v < 100})
    assert len(moving) >= 3, f"the bar did not visibly move: {moving}"
    assert shot, f"no mid-progress screenshot; values seen: {moving}"
    expect(page.locator(OVERALL_BAR)).to_have_attribute("aria-valuenow", "100.0")
    expect(page.locator('#task [data-field="status"]').first).to_have_text("completed")
    expect(page.locator('[data-subtask="concatenate"] [data-field="status"]')).to_have_text("completed")
    expect(page.locator("#cancel")).to_be_hidden()

    # The result arrived in place: a player that plays, and a download that is the composed file.
    player = page.locator("#result video.player")
    expect(player).to_be_visible()
    page.wait_for_function("document.querySelector('#result video').readyState >= 1")
    duration = page.evaluate("document.querySelector('#result video').duration")
    assert abs(duration - 21.5) < 0.6, duration
    page.evaluate("document.querySelector('#result video').muted = true")
    page.evaluate("document.querySelector('#result video').play()")
    page.wait_for_function("document.querySelector('#result video').currentTime > 0.5")
    page.evaluate("document.querySelector('#result video').pause()")
    page.evaluate("document.querySelector('#result video').currentTime = 0.2")
    screenshot(page, "composition-done.png")
    with page.expect_download() as download_info:
        page.click("#download")
    saved = tmp_path / "download.mp4"
    download_info.value.save_as(saved)
    got = probe(saved)
    assert abs(got.duration_s - 21.5) < 0.6 and (got.width, got.height) == (640, 360)
    task = ProcessingTask.objects.get(pk=task_id)
    output = task.result or {}
    assert output["mode"] == "smart" and saved.stat().st_size == output["size_bytes"]  # beach copied, city encoded
    assert task.args["trims"] == [[0.0, None], [2.0, 11.5]] and task.args["size"] == "largest"

    # The tasks page lists it as finished; the new video is in the library.
    nav(page, "Tasks")
    expect(page.locator(f'#finished-tasks [data-task="{task_id}"] [data-field="status"]')).to_have_text("completed")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(page, "tasks-mobile.png", docs=False)
    page.set_viewport_size({"width": 1100, "height": 900})
    nav(page, "Library")
    expect(page.locator("#videos li.video")).to_have_count(3)
    output_card = page.locator(f'#videos [data-video="{output["video_id"]}"]')
    expect(output_card.locator(".source")).to_contain_text("composition of beach, city")  # where it came from
    expect(output_card.locator(".thumb img")).to_have_count(1)
    screenshot(page, "library.png")


def test_cancel_a_slow_composition_from_its_page_then_retry(page: Page, live_server, user) -> None:  # noqa: ANN001
    a, b = video_import(owner=user, path=cached_clip(**BIG)), video_import(owner=user, path=cached_clip(**SMALL))
    task = composition_start(owner=user, videos=[a.pk, b.pk, a.pk, b.pk], title="Long one")
    # The tasks list keeps the row's bar live too (one poll for all active rows).
    tasks_tab = page
    nav(tasks_tab, "Tasks")
    row = tasks_tab.locator(f'[data-task="{task.pk}"]')
    tasks_tab.evaluate("window.__sameDocument = true")
    expect(row.locator('[data-field="status"]')).to_have_text("processing")
    row_bar = f'[data-task="{task.pk}"] [data-bar]'
    tasks_tab.wait_for_function(f"Number(document.querySelector('{row_bar}').getAttribute('aria-valuenow')) > 3")

    # The task's own page, in a second tab, cancels it.
    page = tasks_tab.context.new_page()
    page.goto(live_server.url + (row.locator("a.title").get_attribute("href") or ""))
    expect(page).to_have_url(f"{live_server.url}/tasks/{task.pk}/")
    page.wait_for_function(f"Number(document.querySelector('{OVERALL_BAR}').getAttribute('aria-valuenow')) > 6")
    expect(page.locator('[data-subtask="concatenate"] [data-field="status"]')).to_have_text("processing")
    started = time.monotonic()
    page.click("#cancel")
    expect(page.locator('#task [data-field="status"]').first).to_have_text("cancelled", timeout=5_000)
    assert time.monotonic() - started < 3
    stopped_at = bar_value(page)
    assert 6 < stopped_at < 100
    expect(page.locator("#retry")).to_be_visible()
    expect(page.locator("#cancel")).to_be_hidden()
    assert ProcessingTask.objects.get(pk=task.pk).status == "cancelled"
    assert not task_tmp_dir(task.pk).exists()  # the partial output went with it
    assert Video.objects.filter(owner=user).count() == 2  # no composed video

    # Meanwhile the tasks list moved the row to the finished ones, without a reload.
    expect(tasks_tab.locator(f'#finished-tasks [data-task="{task.pk}"] [data-field="status"]')).to_have_text(
        "cancelled"
    )
    expect(tasks_tab.locator("#active-tasks")).to_have_text("Nothing running.")
    assert tasks_tab.evaluate("window.__sameDocument") is True
    time.sleep(1.5)
    assert bar_value(page) == stopped_at  # polling stopped with the task

    page.click("#retry")
    page.wait_for_url(lambda url: "/tasks/" in url and str(task.pk) not in url)
    new_id = page.url.rstrip("/").split("/")[-1]
    new = ProcessingTask.objects.get(pk=new_id)
    assert new.retry_of_id == task.pk and new.args == task.args
    expect(page.locator(f'a[href="/tasks/{task.pk}/"]')).to_be_visible()  # "Retry of" link
    expect(page.locator('#task [data-field="status"]').first).to_have_text("processing")
    page.click("#cancel")
    expect(page.locator('#task [data-field="status"]').first).to_have_text("cancelled", timeout=5_000)
    assert wait_status(new.pk, "cancelled") == "cancelled"


def test_garbage_upload_shows_the_apis_message(page: Page, user, tmp_path) -> None:  # noqa: ANN001
    garbage = tmp_path / "holiday.mp4"
    garbage.write_bytes(b"this is not a video at all\n" * 2000)
    nav(page, "Library")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/videos/") and r.request.method == "POST") as info:
        page.set_input_files("#upload-input", str(garbage))
    body = info.value.json()
    assert info.value.status == 400 and body["code"] == "unsupported_media"
    row = page.locator("#uploads li").first
    expect(row).to_have_attribute("data-state", "failed")
    message = row.locator('[data-field="message"]')
    expect(message).to_contain_text("Montage can't read this file as video or audio.")  # a human sentence first
    detail = message.locator("details .detail")
    expect(detail).to_be_hidden()  # ffprobe's words folded away...
    message.locator("details summary").click()
    expect(detail).to_have_text(body["detail"])  # ...one click from view
    expect(row.locator('[data-field="status"]')).to_have_text("failed")
    screenshot(page, "upload-error.png", docs=False)
    assert not Video.objects.filter(owner=user).exists()
    expect(page.locator("#no-videos")).to_be_visible()


def test_video_page_conflict_offers_view_it_and_force(idle_page: Page, live_server, user) -> None:  # noqa: ANN001
    page = idle_page
    video = video_import(owner=user, path=cached_clip(seconds=1, width=320, height=240, fps=25, audio=True))
    page.goto(f"{live_server.url}/videos/{video.pk}/")
    with page.expect_navigation(wait_until="load"):
        page.click('button[data-action="transcribe"]')
    first = ProcessingTask.objects.get(video=video, kind="transcription")
    expect(page).to_have_url(f"{live_server.url}/tasks/{first.pk}/")
    expect(page.locator('#task [data-field="status"]').first).to_have_text("pending")

    page.goto(f"{live_server.url}/videos/{video.pk}/")
    page.click('button[data-action="transcribe"]')  # the first one has not run yet: 409 task_conflict
    conflict = page.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("Already running on this video: view it.")
    expect(conflict.locator('a[data-field="link"]')).to_have_attribute("href", f"/tasks/{first.pk}/")
    screenshot(page, "video-conflict.png", docs=False)
    with page.expect_navigation(wait_until="load"):
        page.click("#force")
    second = ProcessingTask.objects.exclude(pk=first.pk).get(video=video, kind="transcription")
    expect(page).to_have_url(f"{live_server.url}/tasks/{second.pk}/")
    assert ProcessingTask.objects.get(pk=first.pk).status == "cancelled"
    assert second.status == "pending"

    page.goto(f"{live_server.url}/videos/{video.pk}/")  # "View it" leads to the task in the way
    page.click('button[data-action="transcribe"]')
    with page.expect_navigation(wait_until="load"):
        page.click('#conflict a[data-field="link"]')
    expect(page).to_have_url(f"{live_server.url}/tasks/{second.pk}/")

    page.goto(f"{live_server.url}/videos/{video.pk}/")  # deleting is refused while a task is queued on it
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button[data-action="delete"]')
    expect(page.locator("#action-error")).to_contain_text("View the task.")
    expect(page.locator("#action-error a")).to_have_attribute("href", f"/tasks/{second.pk}/")
    assert Video.objects.filter(pk=video.pk).exists()


def test_transcribe_from_the_video_page_shows_transcript_and_captions(
    page: Page,
    live_server,
    user,
    fake_openai,
    settings,
    tmp_path,  # noqa: ANN001
) -> None:
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = fake_openai.api_key, fake_openai.base_url
    video = video_import(owner=user, path=cached_clip(seconds=3, width=320, height=240, fps=25, audio=True))
    page.goto(f"{live_server.url}/videos/{video.pk}/")
    with page.expect_navigation(wait_until="load"):
        page.click('button[data-action="transcribe"]')
    expect(page.locator('#task [data-field="status"]').first).to_have_text("completed", timeout=60_000)
    count = SubtitleSegment.objects.filter(video=video).count()
    assert count >= 3  # the fake server answers one segment per second of audio
    transcript = page.locator("#result .transcript li")
    expect(transcript).to_have_count(count)
    expect(transcript.first.locator(".stamp")).to_have_text("0:00.0")
    expect(transcript.nth(1).locator(".stamp")).to_have_text("0:01.0")
    page.evaluate("document.querySelector('#result video').muted = true")
    transcript.nth(2).locator("button.seek").click()  # the result's transcript seeks the result's player too
    page.wait_for_function("Math.abs(document.querySelector('#result video').currentTime - 2) < 0.5")
    page.evaluate("document.querySelector('#result video').pause()")
    page.evaluate("document.querySelector('#result video').textTracks[0].mode = 'showing'")
    page.wait_for_function(f"(document.querySelector('#result video').textTracks[0].cues || []).length === {count}")
    with page.expect_download() as download_info:
        page.click('#result a:text("Download VTT")')
    vtt = tmp_path / "t.vtt"
    download_info.value.save_as(vtt)
    assert vtt.read_text().startswith("WEBVTT")
    with page.expect_download() as download_info:
        page.click('#result a:text("Download SRT")')
    srt = tmp_path / "t.srt"
    download_info.value.save_as(srt)
    assert srt.read_text().startswith("1\n00:00:00,000 --> ")
    with page.expect_download() as download_info:
        page.click('#result a:text("Download text")')
    txt = tmp_path / "t.txt"
    download_info.value.save_as(txt)
    assert txt.read_text().startswith("speech from 0.00 to 1.00 speech from 1.00 to 2.00")
    screenshot(page, "transcription-done.png", docs=False)
    page.goto(f"{live_server.url}/videos/{video.pk}/")
    expect(page.locator(".transcript li")).to_have_count(count)
    expect(page.locator(".badge.big")).to_have_text("ready")


SRT = """1
00:00:00,000 --> 00:00:00,800
Welcome to the beach.

2
00:00:00,800 --> 00:00:01,500
The water is warm today.

3
00:00:01,600 --> 00:00:02,300
Now over to the city.

4
00:00:02,300 --> 00:00:02,900
Traffic is light.
"""


def test_paragraphs_from_an_srt_on_the_video_page(page: Page, live_server, user, settings, tmp_path) -> None:  # noqa: ANN001
    settings.OPENAI_API_KEY, settings.PARAGRAPH_ENGINE = "", "rules"
    video = video_import(owner=user, path=cached_clip(seconds=3, width=320, height=240, fps=25, audio=True))
    srt = tmp_path / "talk.srt"
    srt.write_text(SRT)
    page.goto(f"{live_server.url}/videos/{video.pk}/")
    page.set_input_files('#srt-form input[name="srt_file"]', str(srt))
    with page.expect_navigation(wait_until="load"):
        page.click('#srt-form button[type="submit"]')
    task = ProcessingTask.objects.get(video=video, kind="srt_media")
    expect(page).to_have_url(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator('#task [data-field="status"]').first).to_have_text("completed", timeout=60_000)
    paragraphs = page.locator("#result .paragraphs li")
    stored = (ProcessingTask.objects.get(pk=task.pk).result or {})["paragraphs"]
    expect(paragraphs).to_have_count(len(stored))
    text = " ".join(paragraphs.all_inner_texts())
    for line in ("Welcome to the beach.", "The water is warm today.", "Now over to the city.", "Traffic is light."):
        assert line in text
    expect(paragraphs.first.locator(".stamp")).to_have_text(f"0:00.0 – {clock(stored[0]['end'])}")
    screenshot(page, "paragraphs-done.png", docs=False)

    page.goto(f"{live_server.url}/videos/{video.pk}/")  # nothing runs on it now: it can be deleted
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation(wait_until="load"):
        page.click('button[data-action="delete"]')
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("#no-videos")).to_be_visible()
    assert not Video.objects.filter(pk=video.pk).exists()


def test_admin_cancels_a_running_task_from_the_changelist(
    browser,
    live_server,
    task_manager,
    make_user,
    user,  # noqa: ANN001
) -> None:
    make_user("operator", is_staff=True, is_superuser=True)
    running = task_submit(owner=user, kind="test_gate", args={"gate_name": "admin-browser"})
    finished = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.05})
    assert jobs_for_tests.started("admin-browser").wait(10)
    wait_status(finished.pk, "completed")
    context = browser.new_context(viewport={"width": 1300, "height": 700})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/videos/processingtask/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator")
    page.click('input[type="submit"]')
    row = page.locator(f'tr:has(input[value="{running.pk}"])')
    expect(row.locator("td.field-status")).to_have_text("Processing")
    expect(page.locator(f'tr:has(input[value="{finished.pk}"]) td.field-progress_column')).to_contain_text("100%")
    screenshot(page, "admin-tasks.png", docs=False)
    row.locator("input.action-select").check()
    page.select_option('select[name="action"]', "cancel_tasks")
    page.click('button[name="index"]')
    expect(page.locator("ul.messagelist")).to_contain_text(f"Task {running.pk} (test_gate): cancelled.")
    expect(row.locator("td.field-status")).to_have_text("Cancelled")
    assert ProcessingTask.objects.get(pk=running.pk).status == "cancelled"
    context.close()
