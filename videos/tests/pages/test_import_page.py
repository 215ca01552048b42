"""The library's "Import from URL" form: shown, starts an import (the task page follows), says why it refused."""

from __future__ import annotations

import pytest
from django.test import Client

from videos.models import ProcessingTask, Video


@pytest.fixture
def browser(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


def test_the_library_offers_import_from_url(browser):  # noqa: ANN001
    page = browser.get("/").content.decode()
    assert 'id="import-form"' in page and 'action="/videos/import/"' in page and "Import from URL" in page


def test_the_form_starts_an_import_and_opens_its_task_page(browser, user, settings):  # noqa: ANN001
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True
    response = browser.post("/videos/import/", {"url": "http://127.0.0.1:9/talk.mp4", "transcribe": "1"})
    task = ProcessingTask.objects.get(owner=user)
    assert response.status_code == 302 and response["Location"] == f"/tasks/{task.pk}/"
    assert task.kind == "import" and task.args["transcribe"] is True
    assert Video.objects.get(pk=task.video_id).status == "downloading"
    page = browser.get(response["Location"]).content.decode()
    assert "downloading" in page


def test_a_refused_url_comes_back_to_the_library_with_the_reason(browser, settings):  # noqa: ANN001
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = False
    response = browser.post("/videos/import/", {"url": "http://127.0.0.1:9/talk.mp4"}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert "127.0.0.1 is a loopback address" in response.content.decode()
    assert not Video.objects.exists()


def test_a_downloading_video_shows_on_the_library_and_its_page(browser, user, settings):  # noqa: ANN001
    settings.IMPORT_ALLOW_PRIVATE_NETWORKS = True
    browser.post("/videos/import/", {"url": "http://127.0.0.1:9/talk.mp4"})
    video = Video.objects.get(owner=user)
    library = browser.get("/")
    assert library.status_code == 200 and "talk.mp4" in library.content.decode()
    detail = browser.get(f"/videos/{video.pk}/")
    assert detail.status_code == 200 and "downloading" in detail.content.decode()
