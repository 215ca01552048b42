"""Page test fixtures: the fake OpenAI server (for transcriptions started from the browser) and headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from videos.tests.fake_openai import fake_openai  # noqa: F401 - the fixture

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread while it runs; the ORM calls that tests and
    # database teardown make here are still plain synchronous ones, so Django's async guard is lifted.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as pw:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def idle_page(browser, live_server, transactional_db, user, settings) -> Iterator[Page]:  # noqa: ANN001
    """A logged-in page on the live server; no TaskManager runs, so queued tasks stay pending."""
    settings.FFMPEG_PRESET = "medium"  # slower than the default veryfast, so the bar has time to be seen
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    tab.goto(f"{live_server.url}/tasks/")
    expect(tab).to_have_url(f"{live_server.url}/accounts/login/?next=/tasks/")
    tab.fill('input[name="username"]', "alice")
    tab.fill('input[name="password"]', "pw-alice")
    tab.click('button[type="submit"]')
    expect(tab).to_have_url(f"{live_server.url}/tasks/")
    yield tab
    context.close()
    assert not errors, errors  # the page's scripts never threw


@pytest.fixture
def page(task_manager, idle_page) -> Page:  # noqa: ANN001
    """A logged-in page on the live server; the TaskManager's real threads run the work."""
    return idle_page


