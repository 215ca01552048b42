"""Issue 12's findings, one test each: nested JSON, CSRF on the catch-all, /healthz ids, JSON 500s with
DEBUG on, task lists without args/result, titles without controls, throttles shared across processes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from videos.api.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from videos.models import ProcessingTask, SubTask, Video
from videos.services.tasks import task_submit
from videos.tests.api.test_tasks_api import assert_error
from videos.tests.clips import cached_clip
from videos.tests.conftest import client_for
from videos.text import single_line


# 2. Nested JSON ---------------------------------------------------------------------------------
def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,
        nested(100_000),
        '{"videos": ' + nested(5_000) + "}",
        '{"username": {"a": ' * 3_000 + "1" + "}" * 3_001,
        '{"videos": [' + '{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1) + "]}",
    ],
)
def test_deeply_nested_json_is_400_invalid_on_every_json_endpoint(db, api, body):  # noqa: ANN001
    for client, path in [
        (APIClient(), "/api/v1/auth/token/"),  # unauthenticated
        (api, "/api/v1/compositions/"),
        (api, "/api/v1/process/srt_media/"),
    ]:
        response = client.post(path, body, content_type="application/json")
        assert "nested deeper" in assert_error(response, 400, "invalid")["detail"]


def test_json_nesting_at_the_bound_is_parsed_and_strings_do_not_count(db, api):  # noqa: ANN001
    assert not json_depth_exceeds(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)
    assert json_depth_exceeds(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)
    assert not json_depth_exceeds('["' + "[" * 10_000 + '\\"{"]', MAX_JSON_DEPTH)
    assert json_depth_exceeds('["\\\\"' + ", [" * 40 + "]", MAX_JSON_DEPTH)  # an escaped backslash ends no string
    # A well-formed body nested to the bound reaches the serializer (which says what is wrong with it).
    body = json.dumps({"videos": [json.loads(nested(MAX_JSON_DEPTH - 2))] * 2})
    response = api.post("/api/v1/compositions/", body, content_type="application/json")
    assert "valid UUID" in assert_error(response, 400, "invalid")["detail"]


def test_json_bodies_over_the_cap_are_413_and_unterminated_strings_stay_linear(db, api):  # noqa: ANN001
    big = json.dumps({"videos": ["x" * 2_000_000]})
    assert_error(api.post("/api/v1/compositions/", big, content_type="application/json"), 413, "request_too_large")
    hostile = '"' + '\\"' * 400_000  # every quote escaped: a naive string regex retries from each (quadratic)
    assert_error(api.post("/api/v1/compositions/", hostile, content_type="application/json"), 400, "invalid")


# 4. Every method on an unknown /api/ path is a JSON 404, CSRF or not -----------------------------
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "get"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/videos/not-a-uuid/", "/api/nope/", "/api/v1/tasks/1/retry"])
def test_unknown_api_paths_are_json_404_for_every_method_with_csrf_checks(db, user, method, path):  # noqa: ANN001
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)  # a session and no CSRF token: Django's CSRF page answered before
    response = getattr(client, method)(path, {"a": 1}, format="json")
    assert_error(response, 404, "not_found")


def test_a_session_post_without_csrf_token_to_a_real_endpoint_is_json_403(db, user):  # noqa: ANN001
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/compositions/", {"videos": []}, format="json")
    assert_error(response, 403, "permission_denied")


# 5. /healthz without staff credentials: counts only ----------------------------------------------
def test_healthz_shows_ids_only_to_staff(db, make_user):  # noqa: ANN001
    anonymous = APIClient().get("/healthz").json()
    assert set(anonymous["task_manager"]) == {"running", "workers", "busy"}
    assert set(anonymous["queue"]) == {"pending", "processing"}
    plain = client_for(make_user("plain")).get("/healthz").json()
    assert "worker_id" not in plain["task_manager"] and "running_tasks" not in plain["task_manager"]
    bad_token = APIClient(HTTP_AUTHORIZATION="Token nope").get("/healthz")
    assert bad_token.status_code == 200 and "worker_id" not in bad_token.json()["task_manager"]
    staff = make_user("ops", is_staff=True)
    session = APIClient()
    session.force_login(staff)
    for client in (client_for(staff), session):
        assert {"worker_id", "running_tasks"} <= set(client.get("/healthz").json()["task_manager"])


# 7. JSON 500 under /api/ with DEBUG on -----------------------------------------------------------
def test_unhandled_errors_under_api_are_the_json_500_with_debug_on(db, api, settings, monkeypatch):  # noqa: ANN001
    from videos.api import tasks

    settings.DEBUG = True

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("secret internals")

    monkeypatch.setattr(tasks.TaskListApi, "get", broken)
    api.raise_request_exception = False
    response = api.get("/api/v1/tasks/")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert b"secret internals" not in response.content and b"SECRET_KEY" not in response.content


def test_django_refusals_under_api_are_json_with_debug_on(db, api, settings):  # noqa: ANN001
    settings.DEBUG = True
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"f{i}": "x" for i in range(10)}
    response = api.post("/api/v1/process/srt_media/", fields, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


# 8. Task lists load neither args nor result ------------------------------------------------------
def test_task_lists_do_not_load_args_or_results(db, api, user):  # noqa: ANN001
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(10_000)]
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "x", "video_ids": ids})
    ProcessingTask.objects.filter(pk=task.pk).update(result={"cues": ["text"] * 10_000})
    SubTask.objects.filter(task=task).update(result={"cues": ["text"] * 10_000})
    for path in ("/api/v1/tasks/", "/api/v1/users/me/tasks?include_completed=true"):
        with CaptureQueriesContext(connection) as queries:
            response = api.get(path)
        assert response.status_code == 200
        selects = " ".join(q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT"))
        assert '"args"' not in selects and '"result"' not in selects, selects
    listed = api.get("/api/v1/tasks/").json()["results"][0]
    assert listed["task_id"] == str(task.pk) and listed["subtasks"]


# 9. Titles without control characters; throttles shared by every process --------------------------
def test_control_and_bidi_characters_leave_titles(db, api):  # noqa: ANN001
    clip = cached_clip(seconds=1, width=64, height=48, fps=10)
    upload = SimpleUploadedFile("a\x1b[31mb\u202e.mp4", clip.read_bytes())
    title = "Hi\x07\tthere\u202egnp.exe\x85!"
    response = api.post("/api/v1/videos/", {"file": upload, "title": title}, format="multipart")
    assert response.status_code == 201, response.content
    video = Video.objects.get(pk=response.json()["id"])
    assert video.title == "Hi theregnp.exe !" and response.json()["title"] == video.title
    assert video.original_name == "a[31mb.mp4"
    assert single_line("\u200dok\u2028") == "\u200dok"  # joiners stay (emoji), separators become spaces


@pytest.mark.slow
def test_throttles_count_across_server_processes(transactional_db, tmp_path):  # noqa: ANN001
    """Two real server processes share one anonymous budget (a per-process cache gave each its own)."""
    from videos.tests.taskmanager.test_processes import free_port, runserver

    servers = [runserver(free_port(), tmp_path / f"s{i}.log", THROTTLE_ANON="4/hour") for i in range(2)]
    try:
        codes = []
        for i in range(6):
            port = servers[i % 2].port
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/auth/token/",
                data=b'{"username": "x", "password": "y"}',
                headers={"Content-Type": "application/json"},
            )
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as error:
                codes.append(error.code)
        assert codes == [400, 400, 400, 400, 429, 429], codes
    finally:
        for server in servers:
            server.stop()


# 6. The OpenAPI document tells the truth ------------------------------------------------------------
def test_schema_documents_pages_errors_and_required_fields(db, api):  # noqa: ANN001
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths, components = schema["paths"], schema["components"]["schemas"]
    for path in ("/api/v1/tasks/", "/api/v1/videos/"):
        ref = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert {"count", "next", "previous", "results"} <= set(components[ref.rsplit("/", 1)[1]]["properties"])
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "429"} <= codes or path == "/api/v1/auth/token/", (method, path, codes)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method == "post":
                assert {"400", "413", "415"} <= codes, (method, path)
            for code in codes - {"200", "201", "202", "204", "206"}:
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    assert {"409", "503"} <= set(paths["/api/v1/compositions/"]["post"]["responses"])
    assert {"500", "504"} <= set(paths["/api/v1/process/srt_media/sync/"]["post"]["responses"])
    assert {"status", "stage", "eta_seconds", "error_message"} <= set(components["TaskProgress"]["required"])
    assert {"title", "status", "duration_s"} <= set(components["VideoOutput"]["required"])
    assert set(components["Error"]["required"]) == {"detail", "code"}
    (include,) = paths["/api/v1/users/me/tasks/"]["get"]["parameters"]
    assert include["schema"] == {"type": "boolean"}
    videos = components["CompositionCreateRequest"]["properties"]["videos"]
    assert (videos["minItems"], videos["maxItems"]) == (2, 200)
