"""The outbox: deliveries written inside the transaction that changes a task, so none is lost or invented."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from videos.models import ProcessingTask, SubTask
from videos.taskmanager import rows
from videos.webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint


def event_body(event: str, data: dict[str, Any], timestamp: datetime | None = None) -> str:
    """The JSON every attempt sends (and signs) byte for byte."""
    body = {"type": event, "timestamp": timestamp or timezone.now(), "data": data}
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))


def task_progress_many(tasks: list[ProcessingTask]) -> dict[Any, dict[str, Any]]:
    """TaskProgress of each task (the API's shape, defined once), their steps read in one query."""
    from videos.api.serializers import task_progress_of

    steps: dict[Any, list[SubTask]] = {task.pk: [] for task in tasks}
    for step in rows.select(SubTask, {"task_id__in": list(steps)}, order_by=("task_id", "position")):
        steps[step.task_id].append(step)
    return {task.pk: task_progress_of(task, steps[task.pk]) for task in tasks}


def with_result(data: dict[str, Any], task: ProcessingTask, event: str) -> dict[str, Any]:
    """task.completed adds the task's `result` to TaskProgress."""
    from videos.api.serializers import shown_result

    return {**data, "result": shown_result(task)} if event == "task.completed" else data


def task_event_data(task: ProcessingTask, event: str) -> dict[str, Any]:
    """TaskProgress, plus `result` for task.completed."""
    return with_result(task_progress_many([task])[task.pk], task, event)


def record_task_event(task: ProcessingTask, event: str) -> list[WebhookDelivery]:
    """One pending delivery per enabled endpoint of the task's owner subscribed to `event`.

    Call inside the transaction of the state change: the deliveries commit (or roll back) with it.
    """
    # Once per final transition: a query written without the ORM's compiler (taskmanager.rows).
    subscribed = rows.select(WebhookEndpoint, {"owner_id": task.owner_id, "enabled": True})
    endpoints = [endpoint for endpoint in subscribed if event in endpoint.events]
    if not endpoints:
        return []
    now = timezone.now()
    # A final state never changes, so its body is built by the sender (see fill_payloads), keeping the
    # transaction that finishes the task short; progress is a moment and is captured now.
    payload = event_body(event, task_event_data(task, event), timestamp=now) if event == "task.progress" else ""
    with transaction.atomic(savepoint=False):  # the caller's transaction (no savepoint: all or nothing)
        deliveries = rows.insert(
            [
                WebhookDelivery(endpoint=endpoint, event=event, task=task, payload=payload, next_attempt_at=now)
                for endpoint in endpoints
            ]
        )
    endpoint_ids = {endpoint.pk for endpoint in endpoints}
    transaction.on_commit(lambda: wake_senders(endpoint_ids))
    return deliveries


def fill_payloads(deliveries: list[WebhookDelivery]) -> None:
    """Give each delivery its body: kept, or built once from its task (two queries for the lot).

    Deterministic (timestamp = created_at, a finished task no longer changes), so a rebuild after a
    crash sends the same bytes.
    """
    empty = [d for d in deliveries if not d.payload]
    if not empty:
        return
    tasks = rows.select(ProcessingTask, {"pk__in": list({d.task_id for d in empty if d.task_id})})
    by_id = {task.pk: task for task in tasks}
    progress = task_progress_many(tasks)
    for delivery in empty:
        task = by_id.get(delivery.task_id) if delivery.task_id else None
        if task is None:  # purged before its event went out
            data: dict[str, Any] = {"task_id": None, "status": "deleted"}
        else:
            data = with_result(progress[task.pk], task, delivery.event)
        delivery.payload = event_body(delivery.event, data, timestamp=delivery.created_at)


def on_task_transition(task: ProcessingTask, event: str) -> None:
    """Transition hook (registered in AppConfig.ready): a task that reached a final status emits task.<status>."""
    if task.status in ProcessingTask.FINISHED:
        event = f"task.{task.status}"
        if event in EVENTS:
            record_task_event(task, event)


class ProgressGate:
    """Per process: who subscribes to task.progress (looked up at most every few seconds) and when each
    task last emitted one, so progress writes (several a second) cost a dict lookup, not a query."""

    SUBSCRIBERS_TTL_S = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[Any, tuple[float, bool]] = {}
        self._last: dict[Any, float] = {}

    def due(self, task_id: Any, owner_id: Any) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(task_id)
            if last is not None and now - last < settings.WEBHOOK_PROGRESS_INTERVAL_S:
                return False
            checked = self._subscribers.get(owner_id)
        if checked is None or now - checked[0] > self.SUBSCRIBERS_TTL_S:
            wanted = any(
                "task.progress" in events
                for events in WebhookEndpoint.objects.filter(owner_id=owner_id, enabled=True).values_list(
                    "events", flat=True
                )
            )
            checked = (now, wanted)
            with self._lock:
                self._subscribers[owner_id] = checked
        if not checked[1]:
            return False
        with self._lock:
            if len(self._last) > 10_000:  # forget tasks long finished
                horizon = now - 10 * settings.WEBHOOK_PROGRESS_INTERVAL_S
                self._last = {k: v for k, v in self._last.items() if v > horizon}
            self._last[task_id] = now
        return True

    def forget(self) -> None:
        with self._lock:
            self._subscribers.clear()
            self._last.clear()


progress_gate = ProgressGate()


def on_task_progress(task_id: Any, owner_id: Any) -> None:
    """Progress hook: a task.progress event at most every WEBHOOK_PROGRESS_INTERVAL_S per task, if anyone asked."""
    if progress_gate.due(task_id, owner_id):
        task = ProcessingTask.objects.filter(pk=task_id).first()
        if task is not None:
            record_task_event(task, "task.progress")


def wake_senders(endpoint_ids: set[Any] | None = None) -> None:
    from videos.webhooks.sender import wake_all

    wake_all(endpoint_ids)
