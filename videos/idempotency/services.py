"""Claim, complete, release and purge Idempotency-Key rows. The unique (owner, key) index decides races."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from videos.exceptions import IdempotencyInProgressError, IdempotencyKeyReusedError
from videos.idempotency.models import IdempotencyKey
from videos.models import ProcessingTask
from videos.taskmanager import rows

log = logging.getLogger("montage.idempotency")
# A claim older than this belongs to a request that died (starting requests answer in well under a
# second once their body is in): taken over when no task was linked to it, else answered from that task.
STALE_CLAIM_SECONDS = 300
# The claim of the request this thread is answering, so the task it creates is linked to it.
_current_claim: ContextVar[IdempotencyKey | None] = ContextVar("idempotency_claim", default=None)


def idempotency_claim(*, owner: User, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """(row, True) when this request now owns the key; (row, False) when a stored answer must be replayed.

    Raises 422 for a key seen with another request, 409 while the first request is still being answered.
    """
    for _ in range(5):
        now = timezone.now()
        try:
            # One autocommitted INSERT; a savepoint only inside a caller's transaction (which a failed
            # INSERT would otherwise break).
            with transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext():
                row = IdempotencyKey.objects.create(
                    owner=owner,
                    key=key,
                    fingerprint=fingerprint,
                    locked_at=now,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS),
                )
            return row, True
        except IntegrityError:
            pass
        existing = IdempotencyKey.objects.filter(owner=owner, key=key).first()
        if existing is None:  # released or purged in between: claim again
            continue
        if existing.expires_at <= now:
            IdempotencyKey.objects.filter(pk=existing.pk, expires_at=existing.expires_at).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError()
        if existing.state == IdempotencyKey.State.DONE:
            return existing, False
        if existing.locked_at < now - timedelta(seconds=STALE_CLAIM_SECONDS):
            if existing.task_id is not None:  # its task committed; its answer never was: answer from the task
                return existing, False
            took = IdempotencyKey.objects.filter(
                pk=existing.pk, state=IdempotencyKey.State.IN_PROGRESS, locked_at=existing.locked_at, task=None
            ).update(locked_at=now)
            if took:
                existing.locked_at = now
                return existing, True
            continue
        raise IdempotencyInProgressError(retry_after=1)
    raise IdempotencyInProgressError(retry_after=1)


@contextmanager
def claim_context(record: IdempotencyKey) -> Iterator[None]:
    """While answering the request that holds `record`, link the task it creates (see link_created_task)."""
    token = _current_claim.set(record)
    try:
        yield
    finally:
        _current_claim.reset(token)


def link_created_task(task: ProcessingTask, event: str) -> None:
    """Transition hook: a task created while a claim is held is linked to it, in the creating transaction."""
    record = _current_claim.get()
    if record is not None and event == "queued":
        rows.update(IdempotencyKey, {"pk": record.pk, "task": None}, task=task.pk)


def idempotency_complete(*, record: IdempotencyKey, status: int, body: Any, location: str) -> None:
    """Keep a 2xx answer for replays."""
    rows.update(
        IdempotencyKey,
        {"pk": record.pk},
        state=IdempotencyKey.State.DONE,
        response_status=status,
        response_body=body,
        response_location=location,
    )


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget a claim whose request was refused or failed (and started nothing): the key may be sent again."""
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS, task=None).delete()


def idempotency_purge() -> int:
    """Delete expired keys (IDEMPOTENCY_TTL_HOURS after their first use)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lt=timezone.now()).delete()
    if deleted:
        log.info("idempotency.purged count=%s", deleted)
    return deleted
