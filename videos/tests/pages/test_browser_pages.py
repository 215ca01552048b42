"""Issue 17 in real headless Chromium: thumbnails at upload, library search/filter/pages/delete, the video page's
paragraphs and click-to-seek, phone-width layouts without sideways scrolling, keyboard focus, the admin's name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from videos.media.ffmpeg import ffmpeg_binary
from videos.models import SubtitleSegment, Video
from videos.services.tasks import task_submit
from videos.services.videos import video_import
from videos.tests.clips import cached_clip
from videos.tests.pages.test_browser import nav, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 375, "height": 740}


def import_clip(user, title: str, tmp_path: Path, **clip: object) -> Video:  # noqa: ANN001
    """A real stored video (file and poster frame) under a title."""
    path = Path(shutil.copy(cached_clip(**clip), tmp_path / f"{title}.mp4"))
    return video_import(owner=user, path=path, title=title)


def row(owner, title: str, **fields: object) -> Video:  # noqa: ANN001
    """A library row only (pages that list videos read rows, not files)."""
    defaults = {"file": "videos/none.mp4", "duration_s": 2.0, "width": 320, "height": 240, "size_bytes": 1000}
    return Video.objects.create(owner=owner, title=title, **{**defaults, **fields})


def shown_titles(page: Page) -> list[str]:
    return page.locator("#videos li.video a.title").all_inner_texts()


def no_sideways_scroll(page: Page) -> int:
    """How far the page reaches past the viewport's width (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_upload_shows_its_thumbnail_at_once(idle_page: Page, user, tmp_path) -> None:  # noqa: ANN001
    page = idle_page
    clip = Path(shutil.copy(cached_clip(seconds=3, width=640, height=360, fps=25, audio=True), tmp_path / "surf.mp4"))
    nav(page, "Library")
    page.set_input_files("#upload-input", str(clip))
    expect(page.locator('#uploads li[data-state="done"]')).to_have_count(1, timeout=30_000)
    image = page.locator("#videos li.video .thumb img")
    expect(image).to_have_count(1)  # no reprocess was started: the upload made the poster frame
    page.wait_for_function("document.querySelector('#videos .thumb img').naturalWidth === 480")
    video = Video.objects.get(owner=user)
    assert video.thumbnail and not video.tasks.exists()


def test_search_filter_pages_and_delete_in_the_library(idle_page: Page, live_server, user, other_user, tmp_path) -> None:  # noqa: ANN001, E501
    page = idle_page
    for n in range(22):
        row(user, f"Holiday {n:02d}")
    ready = row(user, "Holiday ready one", status="ready")
    row(other_user, "Holiday of another user")
    beach = import_clip(user, "Beach walk", tmp_path, seconds=2, width=320, height=240, fps=25, audio=True)
    nav(page, "Library")
    expect(page.locator("#videos li.video")).to_have_count(20)  # 24 of mine, 20 a page like the API
    screenshot(page, "library-pages.png", docs=False)

    page.fill('input[name="q"]', "holiday")
    with page.expect_navigation():
        page.click('form.filters button[type="submit"]')
    expect(page.locator("#video-count")).to_have_text("23 videos found")
    page.select_option('select[name="status"]', "ready")
    with page.expect_navigation():
        page.click('form.filters button[type="submit"]')
    assert shown_titles(page) == ["Holiday ready one"]
    assert page.input_value('input[name="q"]') == "holiday"  # the search stays while filtering

    page.goto(f"{live_server.url}/?q=holiday")
    with page.expect_navigation():
        page.click('.pager a:text("Last »")')
    expect(page.locator(".pager")).to_contain_text("Page 2 of 2")
    assert shown_titles(page) == ["Holiday 02", "Holiday 01", "Holiday 00"]  # the oldest, last
    assert "q=holiday" in page.url

    page.goto(f"{live_server.url}/?q=beach")
    card = page.locator(f'[data-video="{beach.pk}"]')
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator('button[data-action="delete"]').click()
    expect(page.locator("#no-match")).to_be_visible()  # the list refreshed in place
    assert not Video.objects.filter(pk=beach.pk).exists() and Video.objects.filter(pk=ready.pk).exists()
    assert not Path(beach.file.path).exists()

    queued = task_submit(owner=user, kind="test_noop", video=ready)  # no worker runs here: it stays pending
    page.goto(f"{live_server.url}/?q=ready")
    card = page.locator(f'[data-video="{ready.pk}"]')
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator('button[data-action="delete"]').click()
    expect(card.locator('[data-field="error"]')).to_contain_text("cancel it or wait, then delete. View the task.")
    expect(card.locator('[data-field="error"] a')).to_have_attribute("href", f"/tasks/{queued.pk}/")
    assert Video.objects.filter(pk=ready.pk).exists()


def test_video_page_paragraphs_seek_the_player(idle_page: Page, live_server, user, tmp_path) -> None:  # noqa: ANN001
    page = idle_page
    video = import_clip(user, "Talk", tmp_path, seconds=8, width=320, height=240, fps=25, audio=True)
    lines = [(0.0, 1.5, "Welcome to the talk."), (1.6, 3.0, "It is short."), (5.5, 7.5, "After a long pause we go on.")]
    for n, (start, end, text) in enumerate(lines, 1):
        SubtitleSegment.objects.create(video=video, index=n, start=start, end=end, text=text)
    Video.objects.filter(pk=video.pk).update(language="en", status="ready")
    page.goto(f"{live_server.url}/videos/{video.pk}/")
    page.wait_for_function("document.querySelector('video.player').readyState >= 1")
    page.evaluate("document.querySelector('video.player').muted = true")

    page.click('.transcript button.seek:has-text("It is short.")')  # a line
    page.wait_for_function("Math.abs(document.querySelector('video.player').currentTime - 1.6) < 0.5")

    page.click('button[data-view="paragraphs"]')
    paragraphs = page.locator('[data-pane="paragraphs"] .paragraphs li')
    expect(paragraphs).to_have_count(2)  # the pause splits the talk in two
    expect(paragraphs.first).to_contain_text("Welcome to the talk. It is short.")
    expect(page.locator('[data-pane="lines"]')).to_be_hidden()
    paragraphs.nth(1).locator("button.seek").click()
    page.wait_for_function("document.querySelector('video.player').currentTime >= 5.4")
    expect(page.locator("#transcript-card h2 .badge")).to_have_text("en")
    page.evaluate("document.querySelector('video.player').pause()")
    screenshot(page, "video-paragraphs.png")


def test_audio_only_media_gets_an_audio_player(idle_page: Page, live_server, user, tmp_path) -> None:  # noqa: ANN001
    wav = tmp_path / "podcast.wav"
    cmd = [ffmpeg_binary(), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=2", str(wav)]
    subprocess.run(cmd, check=True, timeout=60)
    video = video_import(owner=user, path=wav, title="Podcast")
    idle_page.goto(f"{live_server.url}/videos/{video.pk}/")
    expect(idle_page.locator(".audio-only audio.player")).to_be_visible()
    assert idle_page.locator("video").count() == 0
    box = idle_page.locator(".audio-only").bounding_box()
    assert box is not None and box["height"] < 140  # a slim bar, not a 16:9 black box


def test_every_page_fits_a_375_px_phone_and_shows_keyboard_focus(browser, idle_page: Page, live_server, user, tmp_path) -> None:  # noqa: ANN001, E501
    page = idle_page
    video = import_clip(user, "A rather long title for a phone screen to wrap", tmp_path, seconds=2, width=320,
                        height=240, fps=25, audio=True)  # fmt: skip
    SubtitleSegment.objects.create(video=video, index=1, start=0.0, end=1.0, text="A line of the transcript.")
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 1})
    page.set_viewport_size(PHONE)
    paths = ["/", "/compose/", "/tasks/", f"/tasks/{task.pk}/", f"/videos/{video.pk}/", "/webhooks/"]
    for path in paths:
        page.goto(live_server.url + path)
        assert no_sideways_scroll(page) <= 0, path
        unlabelled = page.evaluate("Array.from(document.querySelectorAll('main input:not([type=hidden]), main select,"
                                   " main textarea')).filter((el) => !el.labels || !el.labels.length)"
                                   ".map((el) => el.name || el.id)")  # fmt: skip
        assert unlabelled == [], (path, unlabelled)
    screenshot(page, "webhooks-mobile.png", docs=False)
    page.goto(f"{live_server.url}/")
    screenshot(page, "library-mobile.png", docs=False)

    page.keyboard.press("Tab")  # the first stop is the brand link: its focus ring shows
    focused = page.evaluate("[document.activeElement.className, getComputedStyle(document.activeElement).outlineStyle]")
    assert focused == ["brand", "solid"], focused

    anonymous = browser.new_context(viewport=PHONE)
    other = anonymous.new_page()
    for path in ("/accounts/login/", "/accounts/password_reset/"):
        other.goto(live_server.url + path)
        assert no_sideways_scroll(other) <= 0, path
    anonymous.close()


def test_admin_says_montage(browser, live_server, make_user) -> None:  # noqa: ANN001
    make_user("operator", is_staff=True, is_superuser=True)
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_have_text("Montage")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator")
    page.click('input[type="submit"]')
    expect(page).to_have_title("Tasks, videos and webhooks | Montage admin")
    expect(page.locator("#site-name")).to_have_text("Montage")
    context.close()
