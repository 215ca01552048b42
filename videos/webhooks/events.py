"""The outbox: deliveries written inside the transaction that changes a task, so none is lost or invented."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from videos.models import ProcessingTask
from videos.webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint


def event_body(event: str, data: dict[str, Any]) -> str:
    """The JSON every attempt sends (and signs) byte for byte."""
    body = {"type": event, "timestamp": timezone.now(), "data": data}
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"))


def task_event_data(task: ProcessingTask, event: str) -> dict[str, Any]:
    """TaskProgress, plus `result` for task.completed."""
    from videos.api.serializers import task_progress  # the API's TaskProgress shape, defined once

    data = dict(task_progress(task))
    if event == "task.completed":
        data["result"] = task.result
    return data


def record_task_event(task: ProcessingTask, event: str) -> list[WebhookDelivery]:
    """One pending delivery per enabled endpoint of the task's owner subscribed to `event`.

    Call inside the transaction of the state change: the deliveries commit (or roll back) with it.
    """
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(owner_id=task.owner_id, enabled=True)
        if event in endpoint.events
    ]
    if not endpoints:
        return []
    payload = event_body(event, task_event_data(task, event))
    now = timezone.now()
    with transaction.atomic():  # joins the caller's transaction
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(endpoint=endpoint, event=event, task=task, payload=payload, next_attempt_at=now)
            for endpoint in endpoints
        )
    transaction.on_commit(wake_senders)
    return deliveries


def on_task_transition(task: ProcessingTask) -> None:
    """Transition hook (registered in AppConfig.ready): a task that reached a final status emits task.<status>."""
    if task.status in ProcessingTask.FINISHED:
        event = f"task.{task.status}"
        if event in EVENTS:
            record_task_event(task, event)


def wake_senders() -> None:
    from videos.webhooks.sender import wake_all

    wake_all()
