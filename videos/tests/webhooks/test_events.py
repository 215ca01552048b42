"""The outbox: finished tasks write their deliveries in the transaction that finishes them."""

import json
import time

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from videos.exceptions import NotCancellableError
from videos.models import ProcessingTask
from videos.services.tasks import task_cancel, task_submit
from videos.taskmanager import store
from videos.webhooks.events import fill_payloads
from videos.webhooks.models import WebhookAttempt, WebhookDelivery
from videos.webhooks.sender import retry_delay, send_due
from videos.webhooks.services import webhook_endpoint_create, webhook_ping


@pytest.fixture
def endpoint(user, receiver):  # noqa: ANN001, ANN201
    return webhook_endpoint_create(owner=user, url=receiver.url)


def test_completed_task_is_delivered_signed_with_taskprogress_and_result(
    transactional_db, immediate_backend, user, endpoint, receiver
):
    task = task_submit(owner=user, kind="test_noop")
    [delivery] = WebhookDelivery.objects.filter(task=task)
    assert delivery.event == "task.completed" and delivery.status == "pending"
    assert send_due() == 1
    [request] = receiver.received
    body = Webhook(endpoint.secret).verify(request.body, request.headers)  # the reference verifier
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == str(delivery.pk)
    assert body["type"] == "task.completed" and body["timestamp"]
    data = body["data"]
    assert data["task_id"] == str(task.pk) and data["status"] == "completed" and data["progress"] == 100
    assert data["result"] == {"ok": True} and data["subtasks"][0]["name"] == "run"
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.response_status == 200 and delivery.attempts == 1


def test_failed_and_cancelled_tasks_emit_their_events_once(transactional_db, immediate_backend, user, endpoint):
    failed = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.0, "fail_in": "first"})
    pending = ProcessingTask.objects.create(owner=user, kind="test_noop")  # no worker sees it: cancel it pending
    assert store.cancel_pending(pending.pk)
    with pytest.raises(NotCancellableError):
        task_cancel(task=pending)  # already cancelled: refused, no second event
    assert not store.force_cancel(pending.pk, "again")
    events = sorted(WebhookDelivery.objects.values_list("event", "task_id"))
    assert events == sorted([("task.failed", failed.pk), ("task.cancelled", pending.pk)])
    delivery = WebhookDelivery.objects.get(task=failed)
    assert delivery.payload == ""  # built by the sender, outside the transaction that failed the task
    fill_payloads([delivery])
    rebuilt = WebhookDelivery.objects.get(pk=delivery.pk)
    fill_payloads([rebuilt])
    assert rebuilt.payload == delivery.payload  # a rebuild (after a crash) sends the same bytes
    payload = json.loads(delivery.payload)
    assert payload["timestamp"].startswith(delivery.created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert payload["data"]["status"] == "failed" and "failing on purpose" in payload["data"]["error_message"]
    assert "result" not in payload["data"]


def test_a_rolled_back_transition_leaves_no_delivery(transactional_db, user, endpoint):
    task = ProcessingTask.objects.create(owner=user, kind="test_noop")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert store.cancel_pending(task.pk)
        assert WebhookDelivery.objects.filter(task=task).count() == 1  # written with the change ...
        raise RuntimeError("the state change is rolled back")
    assert WebhookDelivery.objects.count() == 0  # ... and gone with it
    assert ProcessingTask.objects.get(pk=task.pk).status == "pending"


def test_only_subscribed_enabled_endpoints_of_the_owner_get_deliveries(
    transactional_db, immediate_backend, user, other_user, receiver
):
    wants_failed = webhook_endpoint_create(owner=user, url=receiver.url, events=["task.failed"])
    disabled = webhook_endpoint_create(owner=user, url=receiver.url)
    disabled.enabled = False
    disabled.save()
    others = webhook_endpoint_create(owner=other_user, url=receiver.url)
    task_submit(owner=user, kind="test_noop")
    assert WebhookDelivery.objects.count() == 0
    failed = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.0, "fail_in": "second"})
    assert list(WebhookDelivery.objects.values_list("endpoint_id", "task_id")) == [(wants_failed.pk, failed.pk)]
    assert not WebhookDelivery.objects.filter(endpoint__in=[disabled, others]).exists()


def test_500_then_200_is_retried_with_the_same_webhook_id(transactional_db, immediate_backend, user, receiver):
    receiver.script = [(500, 0.0, b"boom"), (200, 0.0, b"fine")]
    webhook_endpoint_create(owner=user, url=receiver.url)
    task_submit(owner=user, kind="test_noop")
    assert send_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.response_status == 500
    assert delivery.error == "The receiver answered 500."
    wait = (delivery.next_attempt_at - delivery.created_at).total_seconds()
    assert 0.1 < wait < 1.0  # WEBHOOK_RETRY_BASE_S=0.2 with jitter
    time.sleep(wait + 0.1)
    assert send_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    assert receiver.ids() == [str(delivery.pk)] * 2
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "response_status"))
    assert attempts == [(1, 500), (2, 200)]
    assert WebhookAttempt.objects.get(number=1).response_body == "boom"


def test_attempts_stop_at_the_maximum_with_growing_delays(transactional_db, settings, user, receiver):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_RETRY_BASE_S = 0.05
    receiver.script = [(503, 0.0, b"")]
    delivery = webhook_ping(endpoint=webhook_endpoint_create(owner=user, url=receiver.url))
    delays = []
    for _ in range(3):
        delivery.refresh_from_db()
        time.sleep(max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds()) + 0.02)
        before = timezone.now()
        assert send_due() == 1
        delivery.refresh_from_db()
        if delivery.next_attempt_at:
            delays.append((delivery.next_attempt_at - before).total_seconds())
    assert delivery.status == "failed" and delivery.attempts == 3 and delivery.next_attempt_at is None
    assert len(receiver.received) == 3
    assert delays[1] > delays[0]  # x4 each time; the jitter (+-25%) cannot reverse that


def test_retry_delays_grow_with_jitter_and_the_first_comes_within_10_s(settings):
    settings.WEBHOOK_RETRY_BASE_S = 5
    firsts = [retry_delay(1) for _ in range(200)]
    assert max(firsts) <= 10 and min(firsts) >= 3.75 and len(set(firsts)) > 100
    assert all(retry_delay(n + 1) > retry_delay(n) for n in range(1, 6) for _ in range(20))


def test_redirects_are_not_followed_and_the_answer_is_kept_capped(transactional_db, user, receiver):
    receiver.script = [(302, 0.0, b"x" * 100_000)]
    endpoint = webhook_endpoint_create(owner=user, url=receiver.url)
    delivery = webhook_ping(endpoint=endpoint)
    send_due()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.response_status == 302  # a redirect is not a delivery
    assert len(receiver.received) == 1
    assert len(WebhookAttempt.objects.get().response_body) == 4096


def test_the_address_is_checked_again_at_delivery(transactional_db, settings, user, receiver):
    endpoint = webhook_endpoint_create(owner=user, url=receiver.url)  # allowed when registered
    delivery = webhook_ping(endpoint=endpoint)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    send_due()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "loopback" in delivery.error
    assert receiver.received == []  # never connected


def test_progress_events_are_opt_in_and_at_most_one_per_interval(
    transactional_db, immediate_backend, settings, user, other_user, receiver
):
    from videos.webhooks.events import progress_gate

    settings.WEBHOOK_PROGRESS_INTERVAL_S = 0.3
    settings.TASK_PROGRESS_INTERVAL = 0.05
    progress_gate.forget()
    webhook_endpoint_create(owner=user, url=receiver.url, events=["task.progress"])
    webhook_endpoint_create(owner=other_user, url=receiver.url)  # the default events: no progress
    task = task_submit(owner=user, kind="test_sleep", args={"seconds": 0.75})
    task_submit(owner=other_user, kind="test_sleep", args={"seconds": 0.3})
    rows = list(WebhookDelivery.objects.filter(event="task.progress").order_by("created_at"))
    assert {r.task_id for r in rows} == {task.pk} and not WebhookDelivery.objects.filter(endpoint__owner=user).exclude(
        event="task.progress"
    )
    assert 3 <= len(rows) <= 7, len(rows)  # 1.5 s of work, one per 0.3 s at most
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]
    # The gate counts on a monotonic clock; created_at is stamped a moment later, after the body is built.
    assert min(gaps) >= 0.2, gaps  # unthrottled, they would come every 0.05 s (TASK_PROGRESS_INTERVAL)
    progress = [json.loads(r.payload)["data"]["progress"] for r in rows]
    assert progress == sorted(progress) and 0 < progress[-1] < 100
    assert WebhookDelivery.objects.filter(endpoint__owner=other_user, event="task.completed").count() == 1
