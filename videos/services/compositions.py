"""Compositions: start one (validate, queue), gather its inputs, store its output as a new Video."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from videos.exceptions import (
    InvalidInputError,
    OutputTooLongError,
    TooFewVideosError,
    TooManyVideosError,
    UnsupportedMediaError,
)
from videos.models import ProcessingTask, Video
from videos.services.tasks import lock_owner_tasks, task_submit
from videos.services.videos import video_file_url, video_store
from videos.text import single_line

if TYPE_CHECKING:
    from videos.media.ffmpeg import ProbeResult

log = logging.getLogger("montage.compositions")
KIND = "composition"
ENGINES = ("ffmpeg", "moviepy")
OUTPUT_NAMESPACE = UUID("6d6f6e74-6167-4520-8f75-747075747321")  # uuid5 namespace of composition outputs


class CompositionInputError(Exception):
    """An input video vanished or lost its file between the request and the work."""


def composition_start(
    *,
    owner: User,
    videos: Sequence[UUID | str],
    title: str = "",
    engine: str = "ffmpeg",
    size: tuple[int, int] | None = None,
) -> ProcessingTask:
    """Check the inputs (2 or more of the owner's videos, repeats allowed) and queue a composition task.

    Only rows are read here, never media, so the request answers at once whatever the files' size.
    """
    ids = [str(v) for v in videos]
    check_clip_count(len(ids))
    if engine not in ENGINES:
        raise InvalidInputError(f"Unknown engine {engine!r}; use one of {', '.join(ENGINES)}.")
    args: dict[str, Any] = {"video_ids": ids, "title": single_line(title), "engine": engine}
    if size is not None:
        args["size"] = list(size)
    with transaction.atomic():
        lock_owner_tasks(owner.pk)  # an input cannot be deleted between this check and the task's insert
        owned = {
            str(row["pk"]): row
            for row in Video.objects.filter(owner=owner, pk__in=set(ids)).values(
                "pk", "title", "duration_s", "probe"
            )
        }
        unknown = [vid for vid in ids if vid not in owned]
        if unknown:
            raise InvalidInputError(
                f"No video {unknown[0]} among your videos.", errors={"videos": [f"Unknown video id {unknown[0]}."]}
            )
        _check_inputs([owned[vid] for vid in ids])
        return task_submit(owner=owner, kind=KIND, args=args)


def check_clip_count(count: int) -> None:
    """2 to MAX_COMPOSITION_CLIPS items (checked before anything else is read)."""
    if count < 2:
        raise TooFewVideosError(f"A composition needs at least 2 videos; got {count}.")
    if count > settings.MAX_COMPOSITION_CLIPS:
        raise TooManyVideosError(
            f"A composition takes at most {settings.MAX_COMPOSITION_CLIPS} videos; got {count}.",
            errors={"videos": [f"At most {settings.MAX_COMPOSITION_CLIPS} items."]},
        )


def _has_picture(row: dict[str, Any]) -> bool:
    """What the stored probe says (the job composes from it); a row stored without one is probed by the job."""
    probe = row["probe"] or {}
    return bool(probe.get("has_video") and probe.get("width")) if probe else True


def _check_inputs(rows: list[dict[str, Any]]) -> None:
    """Every clip has a picture, and the output (the clips' summed length) stays within MAX_OUTPUT_DURATION_S."""
    for number, row in enumerate(rows, 1):
        if not _has_picture(row):
            raise UnsupportedMediaError(
                f"Video {row['pk']} ({row['title']!r}, item {number}) has no video stream; compose videos, not audio.",
                video_id=str(row["pk"]),
                errors={"videos": [f"Item {number}: video {row['pk']} has no video stream."]},
            )
    total = sum(row["duration_s"] or (row["probe"] or {}).get("duration_s") or 0.0 for row in rows)
    if total > settings.MAX_OUTPUT_DURATION_S:
        raise OutputTooLongError(
            f"The composition would last {total:.0f} s; the limit is {settings.MAX_OUTPUT_DURATION_S} s.",
            duration_s=round(total, 3),
        )


def composition_inputs(*, owner_id: Any, video_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Each input's local path and its upload-time probe (JSON), in order; a vanished input is an error."""
    videos = {str(v.pk): v for v in Video.objects.filter(owner_id=owner_id, pk__in=set(video_ids))}
    inputs = []
    for vid in video_ids:
        video = videos.get(str(vid))
        if video is None:
            raise CompositionInputError(f"Input video {vid} no longer exists (deleted after the composition started).")
        try:
            path = Path(video.file.path)
        except NotImplementedError:  # remote storage: ffmpeg needs local files
            raise CompositionInputError(f"Input video {vid} is not on local storage; ffmpeg cannot read it.") from None
        if not path.is_file():
            raise CompositionInputError(f"The file of input video {vid} is missing from storage.")
        inputs.append({"video_id": str(vid), "path": str(path), "probe": video.probe or None})
    return inputs


def composition_output_id(task_id: Any) -> UUID:
    """The output video's id, fixed by the task: an attempt that stored it and died is not stored twice."""
    return uuid5(OUTPUT_NAMESPACE, str(task_id))


def composition_existing_output(*, task_id: Any, engine: str, mode: str) -> dict[str, Any] | None:
    """`output` of a video an earlier attempt of this task already stored (it died before recording it)."""
    video = Video.objects.filter(pk=composition_output_id(task_id)).first()
    return _output(video, engine, mode) if video is not None else None


def composition_attach_output(
    *,
    task_id: Any,
    owner_id: Any,
    path: Path,
    probe: ProbeResult,
    title: str,
    clip_count: int,
    engine: str,
    mode: str,
) -> dict[str, Any]:
    """Move the composed file into storage as a new ready Video of the task's owner; returns `output`."""
    owner = get_user_model().objects.get(pk=owner_id)
    video = video_store(
        owner=owner,
        source=path,
        probe=probe,
        title=title or f"Composition of {clip_count} clips",
        original_name=path.name,
        status=Video.Status.READY,
        move=True,
        video_id=composition_output_id(task_id),
    )
    log.info("composition.output video_id=%s engine=%s mode=%s", video.pk, engine, mode)
    return _output(video, engine, mode)


def _output(video: Video, engine: str, mode: str) -> dict[str, Any]:
    return {
        "video_id": str(video.pk),
        "file_url": video_file_url(video.pk),
        "size_bytes": video.size_bytes,
        "duration_s": video.duration_s,
        "width": video.width,
        "height": video.height,
        "title": video.title,
        "engine": engine,
        "mode": mode,
    }


def composition_output(task: ProcessingTask) -> dict[str, Any] | None:
    """The API's `output` object: the task's result once completed, else None."""
    if task.kind != KIND or task.status != ProcessingTask.Status.COMPLETED:
        return None
    return task.result
