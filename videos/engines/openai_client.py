"""The one place that builds OpenAI clients, retries transient failures and words their errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import openai
from django.conf import settings

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is retried on 429, 5xx, timeouts and connection errors."""

    attempts: int = 5  # tries in all, the first included
    base_delay: float = 1.0  # seconds before the first retry, doubled each time
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds before retry `retry` (0-based): doubling backoff or the server's longer Retry-After, capped."""
        backoff = self.base_delay * (2**retry)
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return min(self.max_delay, backoff)


class OpenAICallError(Exception):
    """An OpenAI call failed for good (retries exhausted, or an answer not worth retrying)."""

    def __init__(self, what: str, description: str, *, attempts: int, status: int | None) -> None:
        self.description = description
        self.attempts = attempts
        self.status = status
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{what} failed{tries}: {description}")


class OpenAICallCancelled(Exception):
    """The cancel Event was set while waiting to retry."""


def make_client(*, api_key: str | None = None, base_url: str | None = None, timeout: float = 600.0) -> openai.OpenAI:
    """An OpenAI client from settings, with the client's own retries off (we retry ourselves: with
    backoff we control, cancellable, and logged).

    OPENAI_API_TYPE=azure builds the official AzureOpenAI client instead: the endpoint, key and API
    version from AZURE_OPENAI_*, and each call's model (a deployment name) goes into the URL
    (`/openai/deployments/<name>/audio/transcriptions?api-version=...`).
    """
    if settings.OPENAI_API_TYPE == "azure":
        return openai.AzureOpenAI(
            api_key=api_key or settings.AZURE_OPENAI_API_KEY or settings.OPENAI_API_KEY,
            azure_endpoint=base_url or settings.AZURE_OPENAI_ENDPOINT,
            api_version=settings.AZURE_OPENAI_API_VERSION,
            max_retries=0,
            timeout=timeout,
        )
    return openai.OpenAI(
        api_key=api_key or settings.OPENAI_API_KEY,
        base_url=base_url or settings.OPENAI_BASE_URL or None,
        max_retries=0,
        timeout=timeout,
    )


def status_of(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def is_retryable(exc: BaseException) -> bool:
    """429, 5xx, timeouts and connection errors are worth another try; other 4xx are not."""
    status = status_of(exc)
    if status is not None:
        return status == 429 or status >= 500
    return isinstance(exc, openai.APIConnectionError)  # APITimeoutError is one too


def describe(exc: BaseException) -> str:
    """A short human account of an OpenAI client error: status and the server's own message."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else body
        text = str(message or exc.message).strip()
        return f"HTTP {exc.status_code}: {text[:300]}"
    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"could not connect ({cause or exc.message})"
    return f"{type(exc).__name__}: {exc}"


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, openai.APIStatusError):
        try:
            return float(exc.response.headers.get("retry-after", ""))
        except ValueError:
            return None
    return None


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    cancel: threading.Event | None = None,
) -> T:
    """Run `call`, retrying transient OpenAI failures with exponential backoff.

    Raises OpenAICallError when it gives up and OpenAICallCancelled when `cancel` is set while
    waiting for the next try (the wait itself returns as soon as the Event is set).
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except openai.OpenAIError as exc:
            if not is_retryable(exc) or attempt == policy.attempts:
                raise OpenAICallError(what, describe(exc), attempts=attempt, status=status_of(exc)) from exc
            delay = policy.delay(attempt - 1, _retry_after(exc))
            logger.warning("%s: %s; retry %d in %.1fs", what, describe(exc), attempt, delay)
            if cancel is None:
                time.sleep(delay)
            elif cancel.wait(delay):
                raise OpenAICallCancelled(what) from exc
    raise AssertionError("unreachable")  # the loop returns or raises
