"""Tasks API (every kind): auth, error shape, status, result, cancel, retry, lists, health, schema."""

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from videos.api.serializers import SubTaskSerializer, TaskProgressSerializer, task_progress, task_progress_placeholder
from videos.models import ProcessingTask, SubTask
from videos.services.tasks import task_submit
from videos.tests import jobs_for_tests
from videos.tests.taskmanager.helpers import wait_status

TASK_PROGRESS_FIELDS = set(TaskProgressSerializer.Meta.fields)  # the contract's, held to docs/openapi.yaml
SUBTASK_FIELDS = set(SubTaskSerializer.Meta.fields)


def finished_task(user, status="failed", **fields):
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "api"})
    ProcessingTask.objects.filter(pk=task.pk).update(status=status, finished_at=timezone.now(), attempts=1, **fields)
    task.refresh_from_db()
    return task


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


# Auth ----------------------------------------------------------------------------------------
def test_token_endpoint_and_auth_errors(db, user):
    client = APIClient()
    ok = client.post("/api/v1/auth/token/", {"username": "alice", "password": "pw-alice"}, format="json")
    assert ok.status_code == 200 and ok.json()["token"] == Token.objects.get(user=user).key
    wrong = client.post("/api/v1/auth/token", {"username": "alice", "password": "nope"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid"
    assert_error(client.get("/api/v1/tasks/"), 401, "not_authenticated")
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_error(client.get("/api/v1/tasks/"), 401, "authentication_failed")


def test_session_auth_works_for_the_api(db, user):
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/tasks/").status_code == 200


# Status ----------------------------------------------------------------------------------------
def test_status_read_has_every_contract_field(db, user, api):
    task = task_submit(owner=user, kind="test_sleep")
    for url in (
        f"/api/v1/tasks/{task.pk}/",
        f"/api/v1/tasks/{task.pk}",
        f"/api/v1/tasks/{task.pk}/status",
        f"/api/v1/tasks/{task.pk}/status/",
    ):
        body = api.get(url).json()
        assert TASK_PROGRESS_FIELDS <= set(body)
        assert (
            body["status"] == "pending"
            and body["progress"] == 0
            and body["attempts"] == 0
            and body["stage"] == "queued"
        )
        assert [s["name"] for s in body["subtasks"]] == ["first", "second"]
        assert sum(s["weight"] for s in body["subtasks"]) == 100
        assert all(SUBTASK_FIELDS <= set(s) for s in body["subtasks"])


@given(
    status=st.sampled_from(ProcessingTask.Status.values),
    progress=st.floats(0, 100),
    sub_progress=st.lists(st.floats(0, 1), min_size=2, max_size=2),
    eta=st.one_of(st.none(), st.floats(0, 1e6)),
)
@hsettings(max_examples=30, deadline=None)
def test_every_status_read_is_complete_and_consistent(db, user, status, progress, sub_progress, eta):
    task = task_submit(owner=user, kind="test_sleep")
    ProcessingTask.objects.filter(pk=task.pk).update(status=status, progress=min(progress, 99.9), eta_seconds=eta)
    for sub, value in zip(task.subtasks.order_by("position"), sub_progress, strict=False):
        SubTask.objects.filter(pk=sub.pk).update(progress=value)
    task.refresh_from_db()
    body = task_progress(task)
    assert TASK_PROGRESS_FIELDS <= set(body)
    assert 0 <= body["progress"] <= 100
    assert (body["progress"] == 100) == (status == "completed")
    assert (body["result_url"] is not None) == (status == "completed")
    assert all(0 <= s["progress"] <= 100 and SUBTASK_FIELDS <= set(s) for s in body["subtasks"])
    ProcessingTask.objects.filter(pk=task.pk).delete()


def test_placeholder_progress_has_the_same_shape(db):
    body = task_progress_placeholder(kind="test_sleep", video_id=None)
    assert TASK_PROGRESS_FIELDS <= set(body)
    assert body["task_id"] is None and body["progress"] == 0 and {s["status"] for s in body["subtasks"]} == {"pending"}


def test_other_users_tasks_are_404(db, user, other_api):
    task = task_submit(owner=user, kind="test_sleep")
    for method, url in [
        ("get", f"/api/v1/tasks/{task.pk}/"),
        ("get", f"/api/v1/tasks/{task.pk}/status"),
        ("get", f"/api/v1/tasks/{task.pk}/result"),
        ("post", f"/api/v1/tasks/{task.pk}/cancel"),
        ("post", f"/api/v1/tasks/{task.pk}/retry"),
        ("delete", f"/api/v1/tasks/{task.pk}/"),
    ]:
        assert_error(getattr(other_api, method)(url), 404, "not_found")
    assert ProcessingTask.objects.get(pk=task.pk).status == "pending"


def test_unknown_api_path_is_json_404(db, api):
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found")


# Result, cancel, retry ---------------------------------------------------------------------------
def test_result_before_and_after_completion(db, user, api):
    task = task_submit(owner=user, kind="test_sleep")
    body = assert_error(api.get(f"/api/v1/tasks/{task.pk}/result"), 409, "not_completed")
    assert body["status"] == "pending"
    ProcessingTask.objects.filter(pk=task.pk).update(status="completed", progress=100, result={"answer": 42})
    ok = api.get(f"/api/v1/tasks/{task.pk}/result/")
    assert ok.status_code == 200
    assert ok.json()["result"] == {"answer": 42} and ok.json()["status"] == "completed"
    assert api.get(f"/api/v1/tasks/{task.pk}/").json()["result_url"].endswith(f"/api/v1/tasks/{task.pk}/result/")


@pytest.mark.parametrize("how", ["post", "delete"])
def test_cancel_pending_then_refuse(db, user, api, how):
    task = task_submit(owner=user, kind="test_sleep")
    url = f"/api/v1/tasks/{task.pk}/cancel" if how == "post" else f"/api/v1/tasks/{task.pk}/"
    response = getattr(api, how)(url)
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    assert response.json()["cancel_requested"] is True
    assert_error(getattr(api, how)(url), 409, "not_cancellable")


def test_cancel_running_task_through_the_api(task_manager, user, api):
    task = task_submit(owner=user, kind="test_gate", args={"gate_name": "api-cancel"})
    assert jobs_for_tests.started("api-cancel").wait(5)
    started = time.monotonic()
    response = api.post(f"/api/v1/tasks/{task.pk}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] in ("cancelled", "processing") and response.json()["cancel_requested"]
    wait_status(task.pk, "cancelled", timeout=1.0)
    assert time.monotonic() - started < 1.5


def test_retry_makes_a_new_task_with_the_same_arguments(db, user, api):
    old = finished_task(user, status="failed", error_message="boom")
    response = api.post(f"/api/v1/tasks/{old.pk}/retry")
    assert response.status_code == 202
    body = response.json()
    assert body["task_id"] != str(old.pk) and body["kind"] == "test_gate" and body["status"] == "pending"
    assert response["Location"] == body["status_url"] == f"/api/v1/tasks/{body['task_id']}/"
    new = ProcessingTask.objects.get(pk=body["task_id"])
    assert new.args == old.args and new.retry_of_id == old.pk
    assert body["retry_of"] == str(old.pk)
    assert api.get(body["status_url"]).json()["retry_of"] == str(old.pk)


@pytest.mark.parametrize("status", ["pending", "completed"])
def test_retry_refused_unless_failed_or_cancelled(db, user, api, status):
    task = task_submit(owner=user, kind="test_sleep")
    ProcessingTask.objects.filter(pk=task.pk).update(status=status)
    assert_error(api.post(f"/api/v1/tasks/{task.pk}/retry/"), 409, "not_retryable")


def test_post_returns_202_before_the_job_body_runs(task_manager, user, api):
    """The job blocks on an Event that the test only opens after the response arrived."""
    old = finished_task(user, status="cancelled")
    ProcessingTask.objects.filter(pk=old.pk).update(args={"gate_name": "answer-first"})
    response = api.post(f"/api/v1/tasks/{old.pk}/retry")
    assert response.status_code == 202
    new_id = response.json()["task_id"]
    assert ProcessingTask.objects.get(pk=new_id).status in ("pending", "processing")
    assert jobs_for_tests.started("answer-first").wait(5)  # the job does run, in the background
    jobs_for_tests.gate("answer-first").set()
    wait_status(new_id, "completed")


def test_limit_errors_have_retry_after(db, user, api, settings):
    old = finished_task(user, status="failed")
    settings.MAX_CONCURRENT_TASKS_PER_USER = 1
    active = task_submit(owner=user, kind="test_sleep")
    response = api.post(f"/api/v1/tasks/{old.pk}/retry")
    assert_error(response, 429, "user_task_limit")
    assert int(response["Retry-After"]) > 0
    settings.MAX_CONCURRENT_TASKS_PER_USER = 5
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 1
    response = api.post(f"/api/v1/tasks/{old.pk}/retry")
    assert_error(response, 503, "server_busy")
    assert int(response["Retry-After"]) > 0
    assert active.pk


# Lists -----------------------------------------------------------------------------------------
def test_task_list_filters_and_paginates_newest_first(db, user, other_user, api):
    mine = [task_submit(owner=user, kind="test_sleep") for _ in range(3)]
    finished_task(user, status="failed")
    task_submit(owner=other_user, kind="test_sleep")
    body = api.get("/api/v1/tasks/").json()
    assert body["count"] == 4 and {"next", "previous", "results"} <= set(body)
    assert body["results"][1]["task_id"] == str(mine[-1].pk)
    assert api.get("/api/v1/tasks/?status=pending").json()["count"] == 3
    assert api.get("/api/v1/tasks/?status=failed&kind=test_gate").json()["count"] == 1
    assert api.get("/api/v1/tasks/?kind=test_noop").json()["count"] == 0


def test_users_me_tasks(db, user, api):
    task_submit(owner=user, kind="test_sleep")
    finished_task(user, status="failed")
    body = api.get("/api/v1/users/me/tasks").json()
    assert body["user_id"] == user.pk and body["total_active"] == 1 and body["total_completed"] == 1
    assert "completed_tasks" not in body and len(body["active_tasks"]) == 1
    body = api.get("/api/v1/users/me/tasks/?include_completed=true").json()
    assert [t["status"] for t in body["completed_tasks"]] == ["failed"]


# Service endpoints ------------------------------------------------------------------------------
def test_healthz_reports_queue_figures(db, user, client, settings):
    settings.MIN_FREE_DISK_MB = 0  # whatever this machine's disk holds (tests/api/test_storage.py covers low disk)
    task_submit(owner=user, kind="test_sleep")
    for url in ("/healthz", "/healthz/"):
        body = client.get(url).json()
        assert body["status"] == "ok" and body["queue"]["pending"] == 1
        assert {"running", "workers", "busy"} <= set(body["task_manager"])


def test_openapi_schema_and_offline_docs(db, api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/tasks/{id}/" in paths and "/api/v1/users/me/tasks/" in paths
    assert "/api/v1/tasks/{id}" not in paths  # each route documented once
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    # The sidecar serves the UI from our static files. (Not a search for "cdn": the page embeds a random
    # CSRF token, which now and then contains those three letters.)
    linked = re.findall(rb'(?:src|href)="([^"]*)"', docs.content)
    assert linked and all(url.startswith(b"/static/") for url in linked), linked


def test_slow_requests_are_logged_as_warnings(db, api, settings, caplog):
    settings.SLOW_REQUEST_MS = 0
    with caplog.at_level("INFO", logger="montage.requests"):
        response = api.get("/api/v1/tasks/")
    assert response.status_code == 200 and "app;dur=" in response["Server-Timing"]
    assert any(r.levelname == "WARNING" and "path=/api/v1/tasks/" in r.getMessage() for r in caplog.records)


def test_anonymous_throttling_answers_429_with_the_error_shape(db, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "100/min"})
    cache.clear()
    client = APIClient()
    responses = [
        client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, format="json") for _ in range(3)
    ]
    assert [r.status_code for r in responses] == [400, 400, 429]
    assert_error(responses[-1], 429, "throttled")
    assert int(responses[-1]["Retry-After"]) > 0
    cache.clear()


# Limits over real HTTP --------------------------------------------------------------------------
def test_20_concurrent_http_posts_by_one_user_accept_at_most_5(live_server, user, settings):
    """20 parallel POSTs (retry of 20 failed slow tasks) against a live server: 5 accepted, 15 x 429."""
    from videos.tests.taskmanager.test_concurrency import in_threads

    settings.MAX_CONCURRENT_TASKS_PER_USER = 5
    token = Token.objects.create(user=user).key
    old = [finished_task(user, status="failed") for _ in range(20)]

    def post(i):
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/tasks/{old[i].pk}/retry",
            method="POST",
            headers={"Authorization": f"Token {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            assert json.loads(error.read())["code"] == "user_task_limit"
            return error.code

    codes = in_threads(20, post)
    assert sorted(codes) == [202] * 5 + [429] * 15, codes
    assert ProcessingTask.objects.filter(owner=user, status__in=ProcessingTask.ACTIVE).count() == 5


def test_committed_openapi_document_is_current_and_warning_free(db, tmp_path):
    """docs/openapi.yaml is what the code generates (`manage.py spectacular --file docs/openapi.yaml`)."""
    from django.core.management import call_command
    from django.db import connection

    from videos.tests.conftest import ROOT

    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--fail-on-warn", "--file", str(out))
    if connection.vendor == "sqlite":  # the document describes the default set-up (integer bounds follow the DB)
        assert out.read_text() == (ROOT / "docs" / "openapi.yaml").read_text()


@pytest.mark.parametrize(
    "path", ["/api/v1/videos/not-a-uuid/", "/api/v1/tasks/123/status", "/api/v1/nope", "/api/nope"]
)
def test_unmatched_api_paths_are_json_404_with_debug_on(db, api, settings, path):
    settings.DEBUG = True
    assert_error(api.get(path), 404, "not_found")


def test_nested_validation_errors_read_as_sentences(db, api):
    response = api.post("/api/v1/compositions/", {"videos": [str(uuid.uuid4()), "xyz"]}, format="json")
    body = assert_error(response, 400, "invalid")
    assert body["errors"] == {"videos": ["item 2: Must be a valid UUID."]}
    assert body["detail"] == "videos: item 2: Must be a valid UUID."


@pytest.mark.parametrize("query", ["status=bogus", "kind=nope", "status=pending,bogus"])
def test_unknown_list_filters_are_400(db, api, query):
    body = assert_error(api.get(f"/api/v1/tasks/?{query}"), 400, "invalid")
    assert "bogus" in body["detail"] or "nope" in body["detail"]


def test_the_status_poll_answers_what_the_serializer_would(db, user, api, django_assert_max_num_queries):
    """GET .../tasks/<id>/ is built from one query without the serializer; the document must not drift."""
    from videos import selectors
    from videos.api.serializers import task_progress

    running = finished_task(user, status="completed", result={"ok": 1}, progress=100.0)
    ProcessingTask.objects.filter(pk=running.pk).update(
        attempts_log=[
            {"attempt": 1, "started_at": "2026-01-01T00:00:00+00:00", "ended_at": "2026-01-01T00:00:01+00:00"}
            | {"stage": "gate", "outcome": "interrupted", "host": "h", "pids": [1], "detail": "d"},
            {"attempt": 2, "started_at": "2026-01-01T00:00:02+00:00", "ended_at": None, "stage": "gate"}
            | {"outcome": "running", "host": "h", "pids": []},
        ]
    )
    pending = task_submit(owner=user, kind="test_noop")
    for task in (running, pending):
        api.get(f"/api/v1/tasks/{task.pk}/")  # warm: token and throttle rows
        with django_assert_max_num_queries(8):  # auth 1, throttle (database cache) 5-6, the task 1
            body = api.get(f"/api/v1/tasks/{task.pk}/").json()
        expected = json.loads(json.dumps(task_progress(selectors.task_get(owner=user, task_id=task.pk)), default=str))
        assert body == expected


def test_webhook_bodies_carry_what_the_serializer_would(db, user):
    """Webhook bodies build TaskProgress from the loaded task without the serializer; it must not drift either."""
    from videos import selectors
    from videos.api.serializers import task_progress, task_progress_of

    done = finished_task(user, status="failed", error_message="boom", progress=40.0)
    stepless = ProcessingTask.objects.create(owner=user, kind="test_noop", status="cancelled")
    for task in (done, task_submit(owner=user, kind="test_noop"), stepless):
        loaded = ProcessingTask.objects.prefetch_related("subtasks").get(pk=task.pk)
        assert task_progress_of(loaded) == task_progress(selectors.task_get(owner=user, task_id=task.pk))
    assert task_progress_of(ProcessingTask.objects.get(pk=stepless.pk))["subtasks"] == []
