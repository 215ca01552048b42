"""Writes to videos."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path, PurePath
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from videos.exceptions import (
    FileTooLargeError,
    InsufficientStorageError,
    TaskConflictError,
    UnsupportedMediaError,
    is_storage_error,
)
from videos.media import probe as media
from videos.media.probe import ProbeResult
from videos.media.verify import DecodeError, check_end_decodes
from videos.models import ProcessingTask, Video
from videos.services.posters import video_poster_make
from videos.services.tasks import lock_owner_tasks
from videos.services.uploads import owned_tempfile
from videos.text import single_line

# Kinds whose tasks decide a video's own status (uploaded -> processing -> ready | error; an import's
# video is downloading until its file is in).
STATUS_KINDS = ("reprocess", "transcription", "import")


def video_sync_status(task: ProcessingTask) -> None:
    """Put the video's status right after one of its tasks changed state (called in that transaction).

    A video is `processing` exactly while a reprocess/transcription/import task is active on it
    (`downloading` while an import has not stored its file yet), so a failed, cancelled or interrupted
    task never leaves it stuck.
    """
    if task.video_id is None or task.kind not in STATUS_KINDS:
        return
    tasks = ProcessingTask.objects.filter(video_id=task.video_id, kind__in=STATUS_KINDS)
    # An imported video has no file until its import stored one.
    awaiting_file = (
        tasks.filter(kind="import").exists() and not Video.objects.filter(pk=task.video_id).exclude(file="").exists()
    )
    if tasks.filter(status__in=ProcessingTask.ACTIVE).exists():
        status = Video.Status.DOWNLOADING if awaiting_file else Video.Status.PROCESSING
    elif awaiting_file:  # the import ended before its file was in: nothing to show but the error
        status = Video.Status.ERROR
    else:
        last = tasks.exclude(status=ProcessingTask.Status.CANCELLED).order_by("-finished_at", "-created_at").first()
        has_segments = Video.objects.filter(pk=task.video_id, segments__isnull=False).exists()
        stored_only = last is not None and last.kind == "import" and not (last.args or {}).get("transcribe", True)
        if last is not None and last.status == ProcessingTask.Status.FAILED:
            status = Video.Status.ERROR
        elif (last is not None and not stored_only) or has_segments:
            status = Video.Status.READY
        else:
            status = Video.Status.UPLOADED
    Video.objects.filter(pk=task.video_id).exclude(status=status).update(status=status)


# Uploads, stored outputs and deletion ---------------------------------------------------------
log = logging.getLogger("montage.videos")
# Container name (ffprobe's first format name) -> the extension we store it under.
FORMAT_EXTENSIONS = {
    "mov": ".mp4",
    "matroska": ".mkv",
    "webm": ".webm",
    "avi": ".avi",
    "mpegts": ".ts",
    "mpeg": ".mpg",
    "flv": ".flv",
    "ogg": ".ogg",
    "wav": ".wav",
    "mp3": ".mp3",
    "flac": ".flac",
    "aac": ".aac",
    "asf": ".wmv",
}
SAFE_EXTENSIONS = {ext for ext in FORMAT_EXTENSIONS.values()} | {
    ".mov",
    ".m4v",
    ".m4a",
    ".mpeg",
    ".oga",
    ".ogv",
    ".opus",
    ".3gp",
}


def upload_limit_bytes() -> int:
    return settings.MAX_UPLOAD_MB * 1024 * 1024


def too_large_error(size: int | None = None) -> FileTooLargeError:
    """413 file_too_large, naming the size when it is known and the limit."""
    got = f" ({size / 1024 / 1024:.1f} MB)" if size else ""
    return FileTooLargeError(
        f"The upload{got} is larger than the limit of {settings.MAX_UPLOAD_MB} MB (MAX_UPLOAD_MB).",
        max_upload_mb=settings.MAX_UPLOAD_MB,
    )


def safe_extension(original_name: str, probe: ProbeResult) -> str:
    """The stored file's extension: the user's if it is a known media one, else from the container."""
    ext = PurePath(original_name).suffix.lower()
    if ext in SAFE_EXTENSIONS:
        return ext
    container = (probe.format_name or "").split(",")[0]
    return FORMAT_EXTENSIONS.get(container, ".bin")


class _MovableFile(File):
    """A local file that storage may move instead of copy (Django moves anything with temporary_file_path)."""

    def __init__(self, path: Path, fh: IO[bytes]) -> None:
        super().__init__(fh, name=str(path))
        self.path = path

    def temporary_file_path(self) -> str:
        return str(self.path)


def probe_or_refuse(path: Path, *, shown_as: str = "") -> ProbeResult:
    """ffprobe the file; anything that is not decodable media is our 400 unsupported_media.

    `shown_as` replaces the file's own name in the message (an upload's temporary name means nothing to users).
    """
    try:
        return media.probe(path)
    except media.UnsupportedMediaError as exc:
        detail = str(exc).replace(path.name, PurePath(shown_as).name) if shown_as else str(exc)
        raise UnsupportedMediaError(detail or None) from None


def end_decodes_or_refuse(path: Path, probe: ProbeResult) -> None:
    """A file whose header promises more than its data holds (truncated) is refused at upload, not mid-task."""
    try:
        check_end_decodes(path, probe.duration_s)
    except DecodeError as exc:
        raise UnsupportedMediaError(
            f"The file is truncated or damaged: its last seconds do not decode ({exc}). Upload the complete file.",
            errors={"file": exc.lines[:3]},
        ) from None


def video_store(
    *,
    owner: User,
    source: Path,
    probe: ProbeResult,
    title: str = "",
    original_name: str = "",
    status: str = Video.Status.UPLOADED,
    move: bool = False,
    video_id: Any = None,
) -> Video:
    """Put a probed local file into storage under a generated name and create its Video row, with a poster frame.

    The stored name is the new row's uuid plus a safe extension, never anything the user chose. If the
    row cannot be created, the stored file is removed again: no file without a row.
    """
    video = Video(
        **({"id": video_id} if video_id is not None else {}),
        owner=owner,
        title=(single_line(title) or single_line(PurePath(original_name).stem) or "Untitled")[:255],
        original_name=single_line(PurePath(original_name).name)[:255],
        status=status,
        duration_s=probe.duration_s,
        width=probe.width,
        height=probe.height,
        fps=probe.fps,
        video_codec=(probe.video_codec or "")[:32],
        audio_codec=(probe.audio_codec or "")[:32],
        has_audio=bool(probe.has_audio),
        size_bytes=probe.size_bytes or source.stat().st_size,
        probe=probe.to_dict(),
    )
    name = f"{video.pk}{safe_extension(original_name or source.name, probe)}"
    try:
        with open(source, "rb") as fh:
            content = _MovableFile(source, fh) if move else File(fh)
            video.file.save(name, content, save=False)
    except OSError as exc:
        if not is_storage_error(exc):
            raise
        # A copy that ran out of room leaves a partial file under the generated name: remove it.
        with contextlib.suppress(OSError):
            video.file.storage.delete(video.file.field.generate_filename(video, name))
        log.warning("video.storage_full owner_id=%s error=%s", owner.pk, exc)
        raise InsufficientStorageError() from exc
    try:
        video.save()
    except BaseException:
        video.file.storage.delete(video.file.name or name)
        raise
    log.info("video.stored video_id=%s owner_id=%s size=%s", video.pk, owner.pk, video.size_bytes)
    video_poster_make(video=video, probe=probe)
    return video


def video_upload(*, owner: User, file: UploadedFile, title: str = "") -> Video:
    """Store an upload the parser already wrote to a temporary file: size check, probe, then store."""
    if file.size is not None and file.size > upload_limit_bytes():
        raise too_large_error(file.size)
    if not hasattr(file, "temporary_file_path"):  # in memory (another parser's handlers): spill it
        with owned_tempfile() as spill:
            for chunk in file.chunks():
                spill.write(chunk)
            spill.flush()
            return _store_upload(owner=owner, path=Path(spill.name), name=file.name or "", title=title, move=False)
    return _store_upload(
        owner=owner, path=Path(file.temporary_file_path()), name=file.name or "", title=title, move=True
    )


def _store_upload(*, owner: User, path: Path, name: str, title: str, move: bool) -> Video:
    result = probe_or_refuse(path, shown_as=name)
    end_decodes_or_refuse(path, result)
    return video_store(owner=owner, source=path, probe=result, title=title, original_name=name, move=move)


def video_import(*, owner: User, path: Path, title: str = "") -> Video:
    """Copy a local file (a shell user's) into storage as one of `owner`'s videos (MAX_UPLOAD_MB is for the web)."""
    result = probe_or_refuse(path)
    return video_store(owner=owner, source=path, probe=result, title=title, original_name=path.name)


def video_blocking_task(*, video: Video) -> ProcessingTask | None:
    """An active task that works on this video: one of its own, or a composition that reads it."""
    active = ProcessingTask.objects.filter(status__in=ProcessingTask.ACTIVE)
    own = active.filter(video=video).first()
    if own is not None:
        return own
    # Compositions have no video FK; their inputs are in args (few active tasks per user: scan them).
    for task in active.filter(owner_id=video.owner_id, kind="composition", video__isnull=True):
        if str(video.pk) in {str(v) for v in (task.args or {}).get("video_ids", [])}:
            return task
    return None


def video_delete(*, video: Video) -> None:
    """Delete a video, its file and thumbnail; refused (409) while a task works on it."""
    with transaction.atomic():
        lock_owner_tasks(video.owner_id)  # no task that would use it can be created between the check and the delete
        blocking = video_blocking_task(video=video)
        if blocking is not None:
            raise TaskConflictError(
                f"A {blocking.kind} task is {blocking.status} on this video; cancel it or wait, then delete.",
                task_id=str(blocking.pk),
            )
        names = [f.name for f in (video.file, video.thumbnail) if f and f.name]
        storage = video.file.storage
        video_id = video.pk
        video.delete()
        transaction.on_commit(lambda: _delete_files(storage, names))
    log.info("video.deleted video_id=%s", video_id)


def _delete_files(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:  # already gone or unreadable: the row is what matters
            log.warning("video.file_delete_failed name=%s", name, exc_info=True)
