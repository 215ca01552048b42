"""Sends due webhook deliveries: threads owned by the TaskManager (web processes and runworker alike).

Deliveries are claimed like tasks (a conditional UPDATE, SKIP LOCKED on PostgreSQL) in small batches
for one endpoint at a time; an endpoint being served by one of this process's threads is skipped by
the others, so a slow or dead receiver holds one thread and delays only its own deliveries.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from videos.net.url_guard import UnsafeURLError, check_url
from videos.taskmanager import rows
from videos.taskmanager.recovery import is_dead_local_worker
from videos.webhooks.events import fill_payloads
from videos.webhooks.models import WebhookAttempt, WebhookDelivery, unclaimed
from videos.webhooks.signing import signed_headers
from videos.webhooks.transport import Connections, pinned_target

log = logging.getLogger("montage.webhooks")
BATCH = 20  # deliveries one thread claims for one endpoint at a time
KEEP_BYTES = 4096  # of each response body, for the log
RECORD_EVERY_S = 1.0  # a batch's results are written together, at least this often
# After a batch smaller than BATCH, the thread keeps its endpoint this long before claiming again:
# deliveries arriving one per finished task then go out a few at a time, in fewer transactions.
LINGER_S = 0.25
MAX_DELAY_S = 6 * 3600
HEADERS = {"User-Agent": "Montage-Webhooks/1"}
Status = WebhookDelivery.Status


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: x4 each time, +-25% jitter."""
    base = settings.WEBHOOK_RETRY_BASE_S * 4 ** max(attempts - 1, 0)
    return min(base, MAX_DELAY_S) * random.uniform(0.75, 1.25)


def _due(now: Any) -> QuerySet[WebhookDelivery]:
    """Deliveries due now, unclaimed, to enabled endpoints."""
    return WebhookDelivery.objects.filter(
        Q(status=Status.PENDING, next_attempt_at__lte=now, endpoint__enabled=True) & unclaimed(now)
    )


def next_endpoint(*, busy: set[Any]) -> Any | None:
    """The endpoint of the oldest due delivery, not one in `busy`; a plain read, so an idle sender never
    takes SQLite's write lock."""
    due = _due(timezone.now()).exclude(endpoint_id__in=list(busy)).order_by("next_attempt_at", "created_at")
    return due.values_list("endpoint_id", flat=True).first()


def claim_batch(owner_id: str, endpoint_id: Any, *, limit: int = BATCH) -> list[WebhookDelivery]:
    """Take up to `limit` due deliveries of the endpoint for this thread (none if another took them first)."""
    now = timezone.now()
    due = _due(now).filter(endpoint_id=endpoint_id).order_by("next_attempt_at", "created_at")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    token = f"{owner_id}/{uuid.uuid4().hex[:12]}"
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_S * limit + 30)
    with transaction.atomic():
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        WebhookDelivery.objects.filter(Q(pk__in=ids, status=Status.PENDING) & unclaimed(now)).update(
            lock_token=token, locked_until=now + lease
        )
    return list(WebhookDelivery.objects.filter(lock_token=token).select_related("endpoint").order_by("next_attempt_at"))


def release(deliveries: list[WebhookDelivery]) -> None:
    """Give claimed deliveries back untried (the batch stopped at a failing receiver): one UPDATE."""
    if deliveries:
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries], lock_token=deliveries[0].lock_token).update(
            lock_token="", locked_until=None
        )


def release_dead_local_claims(worker_id: str) -> int:
    """Claims of processes on this host that died (or an earlier life of ours) are free at once."""
    host = worker_id.split(":")[0]
    tokens = (
        WebhookDelivery.objects.filter(status=Status.PENDING, lock_token__startswith=f"{host}:")
        .values_list("lock_token", flat=True)
        .distinct()
    )
    freed = 0
    for token in list(tokens):
        if is_dead_local_worker(token.split("/", 1)[0], worker_id):
            freed += WebhookDelivery.objects.filter(lock_token=token, status=Status.PENDING).update(
                lock_token="", locked_until=None
            )
    return freed


@dataclass
class Outcome:
    started_at: Any
    duration_ms: float
    status: int | None = None
    body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None


def post(pool: Connections, delivery: WebhookDelivery) -> Outcome:
    """One attempt: check the address again, POST the signed body (send_batch built it), keep the start of
    the answer."""
    started_at = timezone.now()
    t0 = time.monotonic()
    timeout = settings.WEBHOOK_TIMEOUT_S
    try:
        target = pinned_target(check_url(delivery.endpoint.url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS))
        body = delivery.payload.encode()
        headers = {**signed_headers(delivery.endpoint.secret, str(delivery.pk), int(time.time()), body), **HEADERS}
        status, kept = pool.post(target, body, headers, timeout=timeout, keep=KEEP_BYTES)
        elapsed = time.monotonic() - t0
        outcome = Outcome(started_at, elapsed * 1000, status, kept.decode("utf-8", "replace"))
        if elapsed > timeout:
            outcome.error = f"The answer took longer than WEBHOOK_TIMEOUT_S ({timeout:g} s)."
        elif not outcome.ok:
            outcome.error = f"The receiver answered {status}."
        return outcome
    except UnsafeURLError as exc:
        return Outcome(started_at, (time.monotonic() - t0) * 1000, error=str(exc))
    except TimeoutError:
        message = f"No answer within WEBHOOK_TIMEOUT_S ({timeout:g} s)."
        return Outcome(started_at, (time.monotonic() - t0) * 1000, error=message)
    except (OSError, http.client.HTTPException) as exc:
        message = f"{exc.__class__.__name__}: {exc}"[:500]
        return Outcome(started_at, (time.monotonic() - t0) * 1000, error=message)


def _next_state(delivery: WebhookDelivery, outcome: Outcome, now: Any) -> dict[str, Any]:
    number = delivery.attempts + 1
    fields: dict[str, Any] = dict(
        response_status=outcome.status,
        error=outcome.error,
        lock_token="",
        locked_until=None,
    )
    if outcome.ok:
        fields.update(status=Status.SUCCEEDED, delivered_at=now, next_attempt_at=None)
    elif number >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields.update(status=Status.FAILED, next_attempt_at=None)
    else:
        fields.update(next_attempt_at=now + timedelta(seconds=retry_delay(number)))
    return fields


def record(results: list[tuple[WebhookDelivery, Outcome]]) -> None:
    """Log the attempts and move each delivery on (succeeded, retry later, failed for good): one transaction."""
    if not results:
        return
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery_id=delivery.pk,
                number=delivery.attempts + 1,
                started_at=outcome.started_at,
                duration_ms=round(outcome.duration_ms, 1),
                response_status=outcome.status,
                response_body=outcome.body,
                error=outcome.error,
            )
            for delivery, outcome in results
        )
        # The body is kept as sent (unchanged if it was stored already; it is the same bytes whoever
        # builds it), so every later attempt and a resend send the same bytes: one statement, run per row.
        rows.update_each(WebhookDelivery, "payload", {delivery.pk: delivery.payload for delivery, _ in results})
        # The rest only while the claim is still ours; deliveries moving on alike share one UPDATE.
        alike: dict[tuple[str, tuple], list[Any]] = defaultdict(list)
        for delivery, outcome in results:
            state = tuple(sorted(_next_state(delivery, outcome, now).items()))
            alike[(delivery.lock_token, state)].append(delivery.pk)
        for (token, state), pks in alike.items():
            ours = WebhookDelivery.objects.filter(pk__in=pks, lock_token=token)
            ours.update(attempts=F("attempts") + 1, **dict(state))
    for delivery, outcome in results:
        log.info(
            "webhook.%s delivery=%s endpoint=%s event=%s attempt=%s status=%s ms=%.0f error=%s",
            "succeeded" if outcome.ok else "failed_attempt",
            delivery.pk,
            delivery.endpoint_id,
            delivery.event,
            delivery.attempts + 1,
            outcome.status,
            outcome.duration_ms,
            outcome.error,
        )


def send_batch(pool: Connections, batch: list[WebhookDelivery]) -> int:
    """Attempt the batch in order, recording results at least every RECORD_EVERY_S (one transaction each);
    after a failure the rest go back untried (same receiver)."""
    fill_payloads(batch)
    done: list[tuple[WebhookDelivery, Outcome]] = []
    last_record = time.monotonic()
    sent = 0
    for i, delivery in enumerate(batch):
        outcome = post(pool, delivery)
        done.append((delivery, outcome))
        sent += 1
        if not outcome.ok:
            record(done)
            release(batch[i + 1 :])
            return sent
        if time.monotonic() - last_record >= RECORD_EVERY_S:
            record(done)
            done, last_record = [], time.monotonic()
    record(done)
    return sent


def send_due(owner_id: str = "inline:0:0") -> int:
    """Send every due delivery now in this thread (tests, `manage.py` scripts); returns attempts made."""
    sent = 0
    with Connections() as pool:
        while (endpoint_id := next_endpoint(busy=set())) is not None:
            sent += send_batch(pool, claim_batch(owner_id, endpoint_id))
    return sent


class WebhookSender:
    """WEBHOOK_SENDER_THREADS threads that claim and send due deliveries until stopped."""

    def __init__(self, worker_id: str, threads: int | None = None) -> None:
        self.worker_id = worker_id
        self.threads = settings.WEBHOOK_SENDER_THREADS if threads is None else threads
        self._stop = threading.Event()
        # Wakes go to one idle thread each (not all of them): a finished task costs one look, not four.
        self._signal = threading.Condition()
        self._signals = 0
        self._lock = threading.Lock()
        self._busy: set[Any] = set()  # endpoints a thread of this process is sending to
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        try:
            freed = release_dead_local_claims(self.worker_id)
            if freed:
                log.info("webhook.claims_released count=%s", freed)
        except Exception:
            log.exception("webhook.release_failed")
        finally:
            close_old_connections()
        self._threads = [
            threading.Thread(target=self._loop, name=f"montage-webhook-{i}", daemon=True) for i in range(self.threads)
        ]
        for thread in self._threads:
            thread.start()
        with _senders_lock:
            _senders.add(self)

    def stop(self, timeout: float = 5.0) -> None:
        with _senders_lock:
            _senders.discard(self)
        self._stop.set()
        with self._signal:
            self._signal.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wake(self, endpoint_ids: set[Any] | None = None) -> None:
        """Something may be due (for these endpoints): let one idle thread look now.

        Not when a thread of ours is on every one of those endpoints: it claims them next by itself.
        """
        if endpoint_ids:
            with self._lock:
                if endpoint_ids <= self._busy:
                    return
        with self._signal:
            self._signals = min(self._signals + 1, self.threads)
            self._signal.notify()

    def _wait_for_work(self) -> None:
        with self._signal:
            if not self._signals and not self._stop.is_set():
                self._signal.wait(settings.WEBHOOK_POLL_SECONDS)
            self._signals = max(self._signals - 1, 0)

    def _loop(self) -> None:
        try:
            with Connections() as pool:
                while not self._stop.is_set():
                    if not self._one_batch(pool):
                        close_old_connections()
                        self._wait_for_work()
        finally:
            connections.close_all()

    def _one_batch(self, pool: Connections) -> bool:
        """Claim and send one batch; False when nothing was due.

        The endpoint is this thread's before its deliveries are claimed, so two threads of this process
        never claim for the same endpoint (one would have to give its batch back)."""
        try:
            with self._lock:
                busy = set(self._busy)
            endpoint_id = next_endpoint(busy=busy)
            if endpoint_id is None:
                return False
            with self._lock:
                if endpoint_id in self._busy:  # another thread took it meanwhile: look for another
                    return True
                self._busy.add(endpoint_id)
            try:
                batch = claim_batch(self.worker_id, endpoint_id)
                if len(batch) == BATCH:
                    self.wake()  # more may be due: let an idle thread look for other endpoints
                send_batch(pool, batch)
                if 0 < len(batch) < BATCH:  # still holding the endpoint: its next deliveries gather meanwhile
                    self._stop.wait(LINGER_S)
            finally:
                with self._lock:
                    self._busy.discard(endpoint_id)
            return True
        except Exception:
            log.exception("webhook.sender_failed")
            self._stop.wait(1.0)
            return False


_senders: set[WebhookSender] = set()
_senders_lock = threading.Lock()


def wake_all(endpoint_ids: set[Any] | None = None) -> None:
    """New deliveries committed: let this process's idle senders look now."""
    with _senders_lock:
        senders = list(_senders)
    for sender in senders:
        sender.wake(endpoint_ids)
