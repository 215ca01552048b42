"""Montage's own errors: plain data (status, code, detail) that api/errors.py renders. No DRF here."""

import errno
from typing import Any

# "The disk is full", "read-only", "over quota": what a write can run into that is no fault of the request.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})
STORAGE_FULL_MESSAGE = "Not enough disk space for the output (the server's storage is full or not writable)."


def describe_storage_failure(exc: BaseException) -> tuple[str, str] | None:
    """A task's failure message for a full or read-only disk (the OS's own words kept as detail)."""
    return (STORAGE_FULL_MESSAGE, str(exc)) if is_storage_error(exc) else None


def is_storage_error(exc: BaseException) -> bool:
    """An OSError (anywhere in the cause chain) that means no room or no write access on the disk."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in STORAGE_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class MontageError(Exception):
    status_code = 400
    code = "invalid"
    default_detail = "The request is invalid."

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra  # extra body fields, e.g. task_id
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidInputError(MontageError):
    status_code = 400
    code = "invalid"
    default_detail = "The request is invalid."

    def __init__(self, detail: str | None = None, errors: dict | None = None, **extra: Any) -> None:
        if errors:
            extra["errors"] = errors
        super().__init__(detail, **extra)


class TooFewVideosError(MontageError):
    status_code = 400
    code = "too_few_videos"
    default_detail = "A composition needs at least 2 videos."


class UnsupportedMediaError(MontageError):
    status_code = 400
    code = "unsupported_media"
    default_detail = "The file is not a video or audio file that can be decoded."


class UnsupportedLanguageError(MontageError):
    """The configured transcription model cannot do the language asked for (body adds `languages`)."""

    status_code = 400
    code = "unsupported_language"
    default_detail = "The transcription model cannot transcribe this language."


class FileTooLargeError(MontageError):
    status_code = 413
    code = "file_too_large"
    default_detail = "The file is larger than the upload limit."


class InsufficientStorageError(MontageError):
    """No room (or no write access) on the media disk; whatever the request wrote is removed again."""

    status_code = 507
    code = "insufficient_storage"
    default_detail = "There is not enough disk space on the server to store this; nothing was kept."


class TooManyVideosError(MontageError):
    status_code = 400
    code = "too_many_videos"
    default_detail = "A composition takes at most MAX_COMPOSITION_CLIPS videos."


class OutputTooLongError(MontageError):
    status_code = 400
    code = "output_too_long"
    default_detail = "The composed video would be longer than MAX_OUTPUT_DURATION_S."


class RequestTooLargeError(MontageError):
    """A request body (not an upload) over DATA_UPLOAD_MAX_MEMORY_SIZE."""

    status_code = 413
    code = "request_too_large"
    default_detail = "The request body is too large."


class VideoGoneError(MontageError):
    """The video was deleted while the request that names it was being answered."""

    status_code = 404
    code = "not_found"
    default_detail = "The video no longer exists."


class TaskConflictError(MontageError):
    status_code = 409
    code = "task_conflict"
    default_detail = "A task of this kind is already active on this video."


class NotCancellableError(MontageError):
    status_code = 409
    code = "not_cancellable"
    default_detail = "Only pending or processing tasks can be cancelled."


class NotCompletedError(MontageError):
    status_code = 409
    code = "not_completed"
    default_detail = "The task has not completed."


class NotRetryableError(MontageError):
    status_code = 409
    code = "not_retryable"
    default_detail = "Only failed or cancelled tasks can be retried."


class _RetryLaterError(MontageError):
    def __init__(self, detail: str | None = None, retry_after: int = 5, **extra: Any) -> None:
        self.retry_after = retry_after
        super().__init__(detail, **extra)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UserTaskLimitError(_RetryLaterError):
    status_code = 429
    code = "user_task_limit"
    default_detail = "You have too many active tasks; wait for one to finish."


class ServerBusyError(_RetryLaterError):
    status_code = 503
    code = "server_busy"
    default_detail = "The server is running as many tasks as it can; try again shortly."


class ProcessingFailedError(MontageError):
    """Work done inline for an old synchronous endpoint failed (the task keeps the details)."""

    status_code = 500
    code = "processing_failed"
    default_detail = "The processing failed."


class TaskCancelledError(MontageError):
    """Work done inline for an old synchronous endpoint was cancelled before it finished."""

    status_code = 409
    code = "task_cancelled"
    default_detail = "The task was cancelled before it finished."


class SyncTimeoutError(MontageError):
    status_code = 504
    code = "timeout"
    default_detail = "The work did not finish within the time limit; use the asynchronous endpoint."


class AlreadyRetriedError(MontageError):
    status_code = 409
    code = "already_retried"
    default_detail = "This task was already retried; retry the retry instead (its id is task_id)."


class IdempotencyInProgressError(_RetryLaterError):
    status_code = 409
    code = "idempotency_in_progress"
    default_detail = "A request with this Idempotency-Key is still being answered; send it again shortly."


class IdempotencyKeyReusedError(MontageError):
    status_code = 422
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request (method, path or body)."
