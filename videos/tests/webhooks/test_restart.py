"""Deliveries outlive a SIGKILL: pending (even claimed) ones are sent after restart, once per event."""

import signal
import subprocess
import threading

import pytest

from videos.models import ProcessingTask
from videos.services.tasks import task_submit
from videos.tests.conftest import PYTHON, ROOT, subprocess_env
from videos.tests.taskmanager.helpers import popen_logged, stop_processes, wait_for
from videos.tests.webhooks.receiver import Received, Receiver
from videos.webhooks.models import WebhookDelivery
from videos.webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.slow
TASKS = 10


def runworker(tmp_path, name: str) -> subprocess.Popen:  # noqa: ANN001
    env = subprocess_env(
        TASK_POLL_SECONDS="0.1",
        WEBHOOK_POLL_SECONDS="0.1",
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="1",  # the receiver is on loopback
        WEBHOOK_TIMEOUT_S="5",
        WEBHOOK_RETRY_BASE_S="0.5",
    )
    return popen_logged(
        [PYTHON, "manage.py", "runworker"], tmp_path / f"{name}.log", cwd=ROOT, env=env, start_new_session=True
    )


def test_sigkill_mid_delivery_then_two_workers_send_every_event_exactly_once(
    transactional_db, user, tmp_path, settings
):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 100
    hang = threading.Event()
    hang.set()
    answered: list[str] = []  # webhook-ids that got a real 200

    def respond(request: Received) -> tuple[int, float, bytes]:
        if hang.is_set():
            return 200, 60.0, b""  # never answers in time: the sender is stuck mid-attempt
        answered.append(request.headers["webhook-id"])
        return 200, 0.0, b"ok"

    with Receiver(respond=respond) as receiver:
        webhook_endpoint_create(owner=user, url=receiver.url)
        tasks = [task_submit(owner=user, kind="test_noop") for _ in range(TASKS)]
        first = runworker(tmp_path, "first")
        try:
            assert wait_for(lambda: ProcessingTask.objects.filter(status="completed").count() == TASKS, 30)
            assert wait_for(lambda: len(receiver.received) >= 1, 15), (tmp_path / "first.log").read_text()[-2000:]
            claimed = WebhookDelivery.objects.exclude(lock_token="").count()
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        deliveries = set(WebhookDelivery.objects.values_list("pk", flat=True))
        assert len(deliveries) == TASKS and claimed >= 1  # a batch was claimed by the process that died
        assert not WebhookDelivery.objects.filter(status="succeeded").exists()
        hang.clear()
        workers = [runworker(tmp_path, f"after{i}") for i in range(2)]
        try:
            done = wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == TASKS, 30, 0.1)
        finally:
            stop_processes(workers)
        assert done, [p.read_text()[-2000:] for p in tmp_path.glob("after*.log")]
    assert sorted(answered) == sorted(str(pk) for pk in deliveries)  # each event once, none twice
    assert {str(t.pk) for t in tasks} == {str(t) for t in WebhookDelivery.objects.values_list("task_id", flat=True)}
