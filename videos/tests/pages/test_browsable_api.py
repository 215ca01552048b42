"""The DRF browsable API works for a session-logged-in user on every /api/v1/ route, with a login link."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from videos.models import SubtitleSegment, Video
from videos.services.tasks import task_submit

# Routes whose answer is a file or a schema document rather than a resource page.
NOT_PAGES = re.compile(r"/(file|thumbnail)$|^schema$|^auth/token$")


def api_routes() -> list[str]:
    """Every route under /api/v1/ (slashless twins dropped), as Django route strings."""
    root = next(p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "api/v1/")
    routes = {str(p.pattern).rstrip("/") for p in root.url_patterns if isinstance(p, URLPattern)}
    return sorted(r for r in routes if not NOT_PAGES.search(r))


def fill(route: str, ids: dict[str, str]) -> str:
    """The route with its <uuid:pk> filled by an object of the area's kind."""
    area = route.split("/")[0]
    return "/api/v1/" + route.replace("<uuid:pk>", ids.get(area, ids["tasks"])) + "/"


@pytest.fixture
def session(user) -> Client:  # noqa: ANN001
    client = Client(HTTP_ACCEPT="text/html")
    client.force_login(user)
    return client


def test_every_api_route_renders_as_a_browsable_page(session, user) -> None:  # noqa: ANN001
    video = Video.objects.create(owner=user, title="Browsable", file="videos/b.mp4", duration_s=1.0)
    SubtitleSegment.objects.create(video=video, index=1, start=0, end=1, text="hi")
    task = task_submit(owner=user, kind="test_noop", video=video)
    composition = task_submit(owner=user, kind="test_noop")
    ids = {"tasks": str(task.pk), "videos": str(video.pk), "compositions": str(composition.pk)}
    routes = api_routes()
    assert {"tasks", "tasks/<uuid:pk>", "users/me/tasks"} <= set(routes)
    for route in routes:
        path = fill(route, ids)
        response = session.get(path)
        assert response.status_code < 500, (path, response.status_code)
        assert response["Content-Type"].startswith("text/html"), (path, response["Content-Type"])
        html = response.content.decode()
        if route == "docs":
            assert "swagger" in html.lower()
            continue
        assert "alice" in html and "/api-auth/logout/" in html, path  # the browsable API's user menu


def test_browsable_api_offers_the_session_login_and_it_works(client, user) -> None:  # noqa: ANN001
    anonymous = client.get("/api/v1/tasks/", HTTP_ACCEPT="text/html")
    assert anonymous.status_code == 401
    assert re.search(r"href=['\"]/api-auth/login/\?next=/api/v1/tasks/['\"]", anonymous.content.decode())
    login = client.post("/api-auth/login/", {"username": "alice", "password": "pw-alice", "next": "/api/v1/tasks/"})
    assert login.status_code == 302 and login["Location"] == "/api/v1/tasks/"
    page = client.get("/api/v1/tasks/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and "alice" in page.content.decode()


def test_browsable_api_forms_post_with_the_session_and_csrf(user) -> None:  # noqa: ANN001
    """A POST from a browsable page carries the CSRF token like the pages' fetch() calls do."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    task = task_submit(owner=user, kind="test_noop")
    refused = client.post(f"/api/v1/tasks/{task.pk}/cancel/", HTTP_ACCEPT="application/json")
    assert refused.status_code == 403  # session without the token: CSRF refuses
    page = client.get(f"/api/v1/tasks/{task.pk}/", HTTP_ACCEPT="text/html")
    token = page.cookies["csrftoken"].value
    done = client.post(f"/api/v1/tasks/{task.pk}/cancel/", HTTP_ACCEPT="application/json", HTTP_X_CSRFTOKEN=token)
    assert done.status_code == 202 and done.json()["status"] == "cancelled"
