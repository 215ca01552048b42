"""Claim, complete, release and purge Idempotency-Key rows. The unique (owner, key) index decides races."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from videos.exceptions import IdempotencyInProgressError, IdempotencyKeyReusedError
from videos.idempotency.models import IdempotencyKey

log = logging.getLogger("montage.idempotency")
# A claim older than this belongs to a request that died before its work committed (the work and the
# stored answer commit together, so a live claim this old cannot have produced a task): take it over.
STALE_CLAIM_SECONDS = 300


def idempotency_claim(*, owner: User, key: str, fingerprint: str) -> tuple[IdempotencyKey, bool]:
    """(row, True) when this request now owns the key; (row, False) when a stored answer must be replayed.

    Raises 422 for a key seen with another request, 409 while the first request is still being answered.
    """
    for _ in range(5):
        now = timezone.now()
        try:
            with transaction.atomic():
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
            took = IdempotencyKey.objects.filter(
                pk=existing.pk, state=IdempotencyKey.State.IN_PROGRESS, locked_at=existing.locked_at
            ).update(locked_at=now)
            if took:
                existing.locked_at = now
                return existing, True
            continue
        raise IdempotencyInProgressError(retry_after=1)
    raise IdempotencyInProgressError(retry_after=1)


def idempotency_complete(*, record: IdempotencyKey, status: int, body: Any, location: str) -> None:
    """Keep a 2xx answer for replays; call inside the transaction that did the work."""
    IdempotencyKey.objects.filter(pk=record.pk).update(
        state=IdempotencyKey.State.DONE, response_status=status, response_body=body, response_location=location
    )


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget a claim whose request was refused or failed: the same key may be sent again."""
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS).delete()


def idempotency_purge() -> int:
    """Delete expired keys (IDEMPOTENCY_TTL_HOURS after their first use)."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lt=timezone.now()).delete()
    if deleted:
        log.info("idempotency.purged count=%s", deleted)
    return deleted
