"""The TaskManager's sender threads: a hanging receiver holds up neither tasks nor other endpoints, and
threads never claim for the same endpoint."""

import time

import pytest
from django.utils import timezone

from videos.models import ProcessingTask
from videos.services.tasks import task_submit
from videos.tests.taskmanager.helpers import wait_for
from videos.tests.webhooks.receiver import Receiver
from videos.webhooks import sender as sender_module
from videos.webhooks.models import WebhookDelivery
from videos.webhooks.sender import WebhookSender
from videos.webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.slow
BURST = 20


def drain(user, count: int) -> float:  # noqa: ANN001
    """Seconds for `count` short tasks to be submitted and finish on the running TaskManager."""
    started = time.monotonic()
    tasks = [task_submit(owner=user, kind="test_sleep", args={"seconds": 0.02}) for _ in range(count)]
    ids = [t.pk for t in tasks]
    assert wait_for(lambda: ProcessingTask.objects.filter(pk__in=ids, status="completed").count() == count, 60, 0.02)
    return time.monotonic() - started


def test_a_receiver_that_hangs_past_the_timeout_slows_neither_tasks_nor_other_endpoints(
    task_manager, settings, user, other_user
):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 100
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 100
    baseline = min(drain(user, BURST) for _ in range(2))  # no endpoint yet
    with Receiver([(200, 30.0, b"")]) as hanging, Receiver() as fast:
        webhook_endpoint_create(owner=user, url=hanging.url)  # answers after 30 s; WEBHOOK_TIMEOUT_S is 2
        webhook_endpoint_create(owner=other_user, url=fast.url)
        with_hook = drain(user, BURST)
        # Wrong behaviour (a worker waiting on the receiver) would cost 2 s per task: 40 s for the burst.
        assert with_hook < max(3 * baseline, baseline + 3.0), (with_hook, baseline)
        assert wait_for(lambda: len(hanging.received) >= 1, 10)
        # While the hanging endpoint holds a sender thread, another user's endpoint is served at once.
        sent = time.monotonic()
        other = task_submit(owner=other_user, kind="test_noop")
        assert wait_for(lambda: len(fast.received) == 1, 10)
        assert time.monotonic() - sent < 1.5  # not queued behind the 2-s timeouts
        assert fast.ids() == [str(WebhookDelivery.objects.get(task=other).pk)]
        # The hanging endpoint's deliveries time out one at a time and are retried later, none lost.
        assert WebhookDelivery.objects.filter(endpoint__owner=user).count() == BURST
        assert wait_for(
            lambda: WebhookDelivery.objects.filter(endpoint__owner=user, error__startswith="No answer").exists(), 10
        )


def test_the_task_managers_senders_deliver_each_event_once(task_manager, settings, user, receiver):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 100
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 100
    webhook_endpoint_create(owner=user, url=receiver.url)
    webhook_endpoint_create(owner=user, url=receiver.url + "?second")
    drain(user, 30)
    assert wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 60, 20)
    ids = receiver.ids()
    assert len(ids) == 60 and len(set(ids)) == 60


def test_a_processs_threads_never_claim_the_same_endpoint_so_no_batch_is_given_back(
    transactional_db, monkeypatch, user, receiver
):
    endpoint = webhook_endpoint_create(owner=user, url=receiver.url)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, event="ping", payload="{}", next_attempt_at=timezone.now())
        for _ in range(100)
    )
    given_back: list[int] = []
    monkeypatch.setattr(sender_module, "release", lambda batch: given_back.append(len(batch)))
    sender = WebhookSender("test:1:0", threads=4)
    sender.start()
    try:
        for _ in range(4):  # every thread looks at once: each would claim a batch of the one endpoint
            sender.wake()
        assert wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 100, 20)
    finally:
        sender.stop()
    assert given_back == []
    assert sorted(receiver.ids()) == sorted(str(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True))
