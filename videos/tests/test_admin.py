"""Django admin: staff see every user's tasks and videos; the cancel and retry actions do what they say."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.services.tasks import task_cancel, task_submit
from videos.taskmanager.backends import run_pending_inline
from videos.tests import jobs_for_tests
from videos.tests.taskmanager.helpers import wait_status

CHANGELIST = "/admin/videos/processingtask/"


@pytest.fixture
def staff(make_user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(make_user("operator", is_staff=True, is_superuser=True))
    return client


def act(client: Client, action: str, *tasks: ProcessingTask) -> list[str]:
    """Run an admin action on the tasks; the messages it reported."""
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [str(t.pk) for t in tasks]}, follow=True)
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_changelist_shows_every_users_tasks_with_a_progress_bar(staff, user, other_user) -> None:  # noqa: ANN001
    mine, theirs = task_submit(owner=user, kind="test_noop"), task_submit(owner=other_user, kind="test_sleep")
    html = staff.get(CHANGELIST).content.decode()
    assert str(mine.pk)[:8] in html and str(theirs.pk)[:8] in html
    assert html.count('title="0.0%"') == 2  # the progress column
    for facet in ("status", "kind", "owner"):
        assert f"By {facet}" in html


def test_filters_and_search(staff, user, other_user) -> None:  # noqa: ANN001
    a = task_submit(owner=user, kind="test_noop")
    b = task_submit(owner=other_user, kind="test_sleep")
    ProcessingTask.objects.filter(pk=b.pk).update(status="failed", error_message="ffmpeg exited with code 1")

    def ids(query: str) -> set[str]:
        response = staff.get(f"{CHANGELIST}?{query}")
        assert response.status_code == 200
        return {str(t.pk) for t in response.context["cl"].result_list}

    assert ids("status__exact=failed") == {str(b.pk)}
    assert ids("kind__exact=test_noop") == {str(a.pk)}
    assert ids(f"owner__id__exact={other_user.pk}") == {str(b.pk)}
    assert ids("q=mallory") == {str(b.pk)}
    assert ids("q=exited+with+code") == {str(b.pk)}
    assert ids(f"q={a.pk}") == {str(a.pk)}  # a whole id, dashes and all
    assert ids(f"q={str(a.pk)[:8]}") == {str(a.pk)}


def test_change_page_shows_subtasks_read_only(staff, user) -> None:  # noqa: ANN001
    task = task_submit(owner=user, kind="test_sleep")
    response = staff.get(f"{CHANGELIST}{task.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "first" in html and "second" in html
    assert 'name="subtasks-0-name"' not in html  # shown, not editable
    assert staff.get("/admin/videos/processingtask/add/").status_code == 403


def test_cancel_action_cancels_a_running_and_a_pending_task_and_reports_a_finished_one(
    staff,
    user,
    task_manager,  # noqa: ANN001
) -> None:
    done = task_submit(owner=user, kind="test_noop")
    wait_status(done.pk, "completed")
    running = task_submit(owner=user, kind="test_gate", args={"gate_name": "admin-cancel"})
    blocker = task_submit(owner=user, kind="test_gate", args={"gate_name": "admin-blocker"})
    assert jobs_for_tests.started("admin-cancel").wait(10) and jobs_for_tests.started("admin-blocker").wait(10)
    # Both workers are busy: it stays pending (a gate job, so that if the worker the cancel frees claims it
    # before the action reaches it, it is still cancelled rather than completed in a millisecond).
    waiting = task_submit(owner=user, kind="test_gate", args={"gate_name": "admin-waiting"})
    assert ProcessingTask.objects.get(pk=waiting.pk).status == "pending"

    messages = act(staff, "cancel_tasks", done, running, waiting)

    assert wait_status(running.pk, "cancelled", "failed", "completed") == "cancelled"
    assert ProcessingTask.objects.get(pk=waiting.pk).status == "cancelled"
    assert ProcessingTask.objects.get(pk=done.pk).status == "completed"
    assert f"Task {running.pk} (test_gate): cancelled." in messages  # the action waits briefly for the worker to stop
    assert f"Task {waiting.pk} (test_gate): cancelled." in messages
    assert any(m.startswith(f"Task {done.pk} (test_noop): not cancelled. The task is completed") for m in messages)
    jobs_for_tests.gate("admin-blocker").set()
    assert wait_status(blocker.pk, "completed") == "completed"  # the other task was left alone


def test_retry_action_queues_a_new_task_for_failed_and_cancelled_only(staff, user, transactional_db) -> None:  # noqa: ANN001
    failed = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.02, "fail_in": "first"})
    run_pending_inline()
    failed.refresh_from_db()
    assert failed.status == "failed"
    cancelled = task_cancel(task=task_submit(owner=user, kind="test_noop", args={"n": 1}))
    active = task_submit(owner=user, kind="test_noop")
    messages = act(staff, "retry_tasks", failed, cancelled, active)
    new = ProcessingTask.objects.get(retry_of=failed)
    again = ProcessingTask.objects.get(retry_of=cancelled)
    assert again.args == {"n": 1} and f"Task {cancelled.pk} (test_noop): retried as {again.pk}." in messages
    assert new.kind == "test_sleep" and new.args == failed.args and new.status == "pending" and new.owner == user
    assert f"Task {failed.pk} (test_sleep): retried as {new.pk}." in messages
    assert any(m.startswith(f"Task {active.pk} (test_noop): not retried.") for m in messages)
    assert not ProcessingTask.objects.filter(retry_of=active).exists()
    run_pending_inline()
    new.refresh_from_db()
    assert new.status == "failed" and "failing on purpose in first" in (new.error_message or "")


def test_only_finished_tasks_can_be_deleted(staff, user) -> None:  # noqa: ANN001
    active = task_submit(owner=user, kind="test_noop")
    assert staff.get(f"{CHANGELIST}{active.pk}/delete/").status_code == 403
    ProcessingTask.objects.filter(pk=active.pk).update(status="cancelled")
    assert staff.get(f"{CHANGELIST}{active.pk}/delete/").status_code == 200
    assert "delete_selected" not in staff.get(CHANGELIST).content.decode()


def test_video_admin_lists_everyones_videos_with_segments_inline(staff, user, other_user) -> None:  # noqa: ANN001
    mine = Video.objects.create(owner=user, title="Alice's", file="videos/a.mp4", duration_s=3.0, width=320, height=240)
    Video.objects.create(owner=other_user, title="Mallory's", file="videos/m.mp4")
    SubtitleSegment.objects.create(video=mine, index=1, start=0.5, end=1.5, text="Hello admin")
    task_submit(owner=user, kind="test_noop", video=mine)
    listing = staff.get("/admin/videos/video/").content.decode()
    assert "Alice&#x27;s" in listing and "Mallory&#x27;s" in listing and "320×240" in listing
    change = staff.get(f"/admin/videos/video/{mine.pk}/change/").content.decode()
    assert "Hello admin" in change and 'name="segments-0-text"' not in change  # the transcript, read-only
    assert 'name="status"' not in change and 'name="title"' in change  # the status belongs to the tasks
    assert "test_noop" in change  # its tasks, read-only


def test_branding_says_montage(staff) -> None:  # noqa: ANN001
    html = staff.get("/admin/").content.decode()
    assert "<title>Tasks, videos and webhooks | Montage admin</title>" in html
    assert ">Montage</a>" in html and "Django administration" not in html


def test_task_column_is_readable_and_json_is_pretty_and_read_only(staff, user) -> None:  # noqa: ANN001
    video = Video.objects.create(owner=user, title="Beach day", file="videos/b.mp4")
    on_video = task_submit(owner=user, kind="test_noop", video=video)
    composed = task_submit(owner=user, kind="test_noop", args={"title": "Summer reel", "video_ids": ["a", "b"]})
    ProcessingTask.objects.filter(pk=composed.pk).update(kind="composition", result={"video_id": "x", "size_bytes": 9})
    listing = staff.get(CHANGELIST).content.decode()
    assert f"Test noop “Beach day” · {str(on_video.pk)[:8]}" in listing
    assert f"Composition “Summer reel” · {str(composed.pk)[:8]}" in listing
    assert staff.get(f"{CHANGELIST}?q=Summer+reel").context["cl"].result_count == 1
    assert staff.get(f"{CHANGELIST}?q=Beach").context["cl"].result_count == 1
    change = staff.get(f"{CHANGELIST}{composed.pk}/change/").content.decode()
    assert "<pre" in change and "&quot;title&quot;: &quot;Summer reel&quot;," in change  # indented, one key a line
    assert "&quot;size_bytes&quot;: 9" in change
    assert 'name="args"' not in change and 'name="result"' not in change


def test_admin_is_for_staff_only(client, user) -> None:  # noqa: ANN001
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
