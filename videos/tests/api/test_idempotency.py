"""Idempotency-Key on the starting POSTs: replay, 422, 409 in progress, refusals not kept, per user, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from videos.api.idempotency import request_fingerprint
from videos.idempotency.models import IdempotencyKey
from videos.idempotency.services import STALE_CLAIM_SECONDS, idempotency_claim, idempotency_purge
from videos.models import ProcessingTask, Video
from videos.services.tasks import task_submit
from videos.tests.api.test_tasks_api import assert_error, finished_task
from videos.tests.taskmanager.test_concurrency import in_threads


def retry(api, task, key=None, **extra):  # noqa: ANN001, ANN003, ANN201
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(f"/api/v1/tasks/{task.pk}/retry", **headers, **extra)


def test_the_same_request_again_replays_the_first_answer(db, user, api):
    old = finished_task(user)
    first = retry(api, old, "k-1")
    assert first.status_code == 202 and "Idempotent-Replayed" not in first
    again = api.post(f"/api/v1/tasks/{old.pk}/retry/", HTTP_IDEMPOTENCY_KEY="k-1")  # with the slash: same path
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert ProcessingTask.objects.filter(retry_of=old).count() == 1
    assert IdempotencyKey.objects.get().state == "done"


def test_the_same_key_with_another_request_is_422(db, user, api):
    old, other = finished_task(user), finished_task(user)
    assert retry(api, old, "k-2").status_code == 202
    assert_error(retry(api, other, "k-2"), 422, "idempotency_key_reused")  # another path
    body = {"videos": [], "title": "a"}
    api.post("/api/v1/compositions/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")  # 400: not kept
    assert_error(
        api.post("/api/v1/compositions/", {**body, "title": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"),
        422,
        "idempotency_key_reused",
    )


def test_a_refused_request_is_not_kept_and_may_be_sent_again(db, user, api, settings):
    old = finished_task(user)
    settings.MAX_CONCURRENT_TASKS_PER_USER = 1
    blocker = task_submit(owner=user, kind="test_sleep")
    assert_error(retry(api, old, "k-4"), 429, "user_task_limit")
    assert not IdempotencyKey.objects.exists()
    ProcessingTask.objects.filter(pk=blocker.pk).update(status="cancelled")
    assert retry(api, old, "k-4").status_code == 202


def fingerprint_of(user, task) -> str:  # noqa: ANN001
    request = APIRequestFactory().post(f"/api/v1/tasks/{task.pk}/retry")
    return request_fingerprint(Request(request))


def test_while_the_first_is_being_answered_a_twin_gets_409_in_progress(db, user, api):
    old = finished_task(user)
    claim, mine = idempotency_claim(owner=user, key="k-5", fingerprint=fingerprint_of(user, old))
    assert mine
    response = retry(api, old, "k-5")
    assert_error(response, 409, "idempotency_in_progress")
    assert response["Retry-After"]
    # A claim whose request died before its work committed is taken over after a while.
    IdempotencyKey.objects.filter(pk=claim.pk).update(
        locked_at=timezone.now() - timedelta(seconds=STALE_CLAIM_SECONDS + 1)
    )
    assert retry(api, old, "k-5").status_code == 202


def test_keys_are_per_user(db, user, other_user, api, other_api):
    mine, theirs = finished_task(user), finished_task(other_user)
    a = retry(api, mine, "shared")
    b = retry(other_api, theirs, "shared")
    assert a.status_code == b.status_code == 202 and a.json()["task_id"] != b.json()["task_id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_malformed_keys_are_400(db, user, api, key):
    assert_error(retry(api, finished_task(user), key), 400, "invalid")


def test_expired_keys_count_as_new_and_are_purged(db, user, api):
    old = finished_task(user)
    assert retry(api, old, "k-6").status_code == 202
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(retry(api, old, "k-6"), 409, "already_retried")  # run again, not replayed
    assert retry(api, finished_task(user), "k-7").status_code == 202
    assert retry(api, finished_task(user), "k-8").status_code == 202
    IdempotencyKey.objects.filter(key="k-7").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-8"]


def test_multipart_bodies_count_their_files_by_content(db, user, api):
    srt = b"1\n00:00:00,000 --> 00:00:01,000\nHello there.\n\n"

    def post(data: bytes, key: str):  # noqa: ANN202
        upload = SimpleUploadedFile("talk.srt", data, content_type="application/x-subrip")
        return api.post(
            "/api/v1/process/srt_media/", {"srt_file": upload}, format="multipart", HTTP_IDEMPOTENCY_KEY=key
        )

    first = post(srt, "k-7")
    assert first.status_code == 202, first.json()
    again = post(srt, "k-7")
    assert again["Idempotent-Replayed"] == "true" and again.json()["task_id"] == first.json()["task_id"]
    assert_error(post(srt.replace(b"Hello", b"Howdy"), "k-7"), 422, "idempotency_key_reused")
    assert ProcessingTask.objects.filter(kind="srt_media").count() == 1


def test_every_starting_post_documents_the_header(db, api):
    schema = api.get("/api/v1/schema/?format=json").json()
    starting = {
        path
        for path, ops in schema["paths"].items()
        if "post" in ops and "AsyncTaskResponse" in str(ops["post"]["responses"].get("202", ""))
    }
    documented = {
        path
        for path, ops in schema["paths"].items()
        if any(p.get("name") == "Idempotency-Key" for p in ops.get("post", {}).get("parameters", []))
    }
    assert starting and starting == documented


def test_20_concurrent_identical_posts_start_one_task(transactional_db, user, api, live_server):
    import json
    import urllib.error
    import urllib.request

    from rest_framework.authtoken.models import Token

    old = finished_task(user)
    token = Token.objects.get_or_create(user=user)[0].key

    def post(i: int) -> tuple[int, dict, str]:
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/tasks/{old.pk}/retry",
            method="POST",
            headers={"Authorization": f"Token {token}", "Idempotency-Key": "twenty"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read()), response.headers.get("Idempotent-Replayed", "")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read()), ""

    results = in_threads(20, post)
    accepted = [body["task_id"] for status, body, _ in results if status == 202]
    others = {body.get("code") for status, body, _ in results if status != 202}
    assert accepted and len(set(accepted)) == 1, results
    assert others <= {"idempotency_in_progress"}, results
    assert ProcessingTask.objects.filter(retry_of=old).count() == 1


def test_second_retry_is_409_already_retried_with_the_first_retrys_id(db, user, api):
    old = finished_task(user)
    first = retry(api, old).json()["task_id"]
    body = assert_error(retry(api, old), 409, "already_retried")
    assert body["task_id"] == first


def test_a_second_retry_is_409_already_retried_even_at_the_users_limit(db, user, api, settings):
    """The limit is counted after the insert, which the unique index on retry_of refuses first."""
    settings.MAX_CONCURRENT_TASKS_PER_USER = 1
    old, other = finished_task(user), finished_task(user)
    first = retry(api, old).json()["task_id"]  # now at the limit
    assert assert_error(retry(api, old), 409, "already_retried")["task_id"] == first
    assert_error(retry(api, other), 429, "user_task_limit")
    assert ProcessingTask.objects.filter(status="pending").count() == 1


def test_a_second_retry_is_409_already_retried_while_the_first_holds_the_video(db, user, api):
    """The first retry is active on the video: the second is named a second retry, not a task conflict."""
    video = Video.objects.create(owner=user, file="videos/x.mp4")
    old = finished_task(user, video=video)
    first = retry(api, old).json()["task_id"]
    assert assert_error(retry(api, old), 409, "already_retried")["task_id"] == first
    assert ProcessingTask.objects.filter(video=video, status="pending").count() == 1


def test_concurrent_retries_make_exactly_one(transactional_db, user, settings):
    from videos.services.tasks import task_retry

    settings.MAX_CONCURRENT_TASKS_PER_USER = 100
    old = finished_task(user)
    results = in_threads(10, lambda i: task_retry(task=ProcessingTask.objects.get(pk=old.pk)))
    made = [r for r in results if isinstance(r, ProcessingTask)]
    refused = [r for r in results if not isinstance(r, ProcessingTask)]
    assert len(made) == 1, results
    assert all(getattr(r, "code", None) == "already_retried" for r in refused), refused
    assert {r.extra["task_id"] for r in refused} <= {str(made[0].pk)}


def test_counts_has_all_five_statuses(db, user, api):
    task_submit(owner=user, kind="test_sleep")
    finished_task(user, status="failed")
    finished_task(user, status="cancelled")
    finished_task(user, status="cancelled")
    counts = api.get("/api/v1/users/me/tasks").json()["counts"]
    assert counts == {"pending": 1, "processing": 0, "completed": 0, "failed": 1, "cancelled": 2}


def test_a_request_that_died_after_its_task_committed_is_answered_from_that_task(db, user, api):
    """The task is linked to the claim in the transaction that creates it; the answer was never stored."""
    from videos.idempotency.services import claim_context

    old = finished_task(user)
    claim, _ = idempotency_claim(owner=user, key="k-9", fingerprint=fingerprint_of(user, old))
    with claim_context(claim):  # what the dying request got done: its task, linked
        from videos.services.tasks import task_retry

        started = task_retry(task=old)
    claim.refresh_from_db()
    assert claim.task_id == started.pk and claim.state == "in_progress"
    assert_error(retry(api, old, "k-9"), 409, "idempotency_in_progress")  # it may still be answering
    IdempotencyKey.objects.filter(pk=claim.pk).update(
        locked_at=timezone.now() - timedelta(seconds=STALE_CLAIM_SECONDS + 1)
    )
    response = retry(api, old, "k-9")
    assert response.status_code == 202 and response["Idempotent-Replayed"] == "true"
    assert response.json()["task_id"] == str(started.pk) and response["Location"].endswith(f"/{started.pk}/")
    assert ProcessingTask.objects.filter(retry_of=old).count() == 1
