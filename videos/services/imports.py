"""Imports from a URL: start one (the video exists at once, `downloading`), and the writes its steps make."""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from videos.exceptions import InvalidInputError
from videos.media.probe import ProbeResult
from videos.models import ProcessingTask, Video
from videos.net.url_guard import UnsafeURLError, check_url
from videos.services.pipeline import transcription_language, video_probe_refresh
from videos.services.tasks import task_submit
from videos.services.videos import _MovableFile, safe_extension
from videos.text import single_line

log = logging.getLogger("montage.imports")
IMPORT = "import"
MAX_URL_LENGTH = 2000


def import_url_check(url: str) -> str:
    """400 invalid unless the URL is http(s) and its host reaches only allowed addresses (the webhooks' rule)."""
    url = (url or "").strip()
    if len(url) > MAX_URL_LENGTH:
        message = f"The URL is longer than {MAX_URL_LENGTH} characters."
        raise InvalidInputError(message, errors={"url": [message]})
    try:
        check_url(url, allow_private=settings.IMPORT_ALLOW_PRIVATE_NETWORKS)
    except UnsafeURLError as exc:
        raise InvalidInputError(str(exc), errors={"url": [str(exc)]}) from None
    return url


def title_from_url(url: str) -> str:
    """A title until the download names one: the URL's last path part, else its host."""
    parts = urlsplit(url)
    return single_line(PurePosixPath(parts.path).name or parts.hostname or url)[:255] or "Imported video"


def import_start(
    *, owner: User, url: str, title: str = "", transcribe: bool = True, language: str | None = None
) -> ProcessingTask:
    """Queue an import: the video row (status `downloading`, no file yet) and its task commit together.

    A refused task (limits) leaves no video behind. `language` is checked like transcribe's.
    """
    url = import_url_check(url)
    args: dict[str, Any] = {"url": url, "transcribe": bool(transcribe)}
    if transcribe:
        chosen = transcription_language(engine=None, language=language)
        if chosen:
            args["language"] = chosen
    given = single_line(title or "")[:255]
    if given:
        args["title"] = given
    with transaction.atomic():
        video = Video.objects.create(
            owner=owner, title=given or title_from_url(url), status=Video.Status.DOWNLOADING, source_url=url
        )
        task = task_submit(owner=owner, kind=IMPORT, args=args, video=video)
    log.info("import.queued task_id=%s video_id=%s", task.pk, video.pk)
    return task


def video_attach_download(*, video: Video, path: Path, probe: ProbeResult, title: str = "") -> Video:
    """Move a downloaded, probed file into storage as the video's file (a rename on the media disk)."""
    video_probe_refresh(video=video, probe=probe)
    name = f"{video.pk}{safe_extension(path.name, probe)}"
    old = video.file.name
    with open(path, "rb") as fh:
        video.file.save(name, _MovableFile(path, fh), save=False)
    fields: dict[str, Any] = {"file": video.file.name, "original_name": single_line(path.name)[:255]}
    if title:
        fields["title"] = single_line(title)[:255]
    Video.objects.filter(pk=video.pk).update(**fields)
    if old and old != video.file.name:  # a resumed attempt that stored once already
        video.file.storage.delete(old)
    for key, value in fields.items():
        if key != "file":
            setattr(video, key, value)
    log.info("import.stored video_id=%s size=%s", video.pk, video.size_bytes)
    return video
