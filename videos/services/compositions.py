"""Compositions: start one (validate, queue), gather its inputs, store its output as a new Video."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from videos.engines.subtitles import Timed
from videos.exceptions import (
    InvalidInputError,
    OutputTooLongError,
    TooFewVideosError,
    TooManyVideosError,
    UnsupportedMediaError,
)
from videos.media.plan import SUBTITLE_MODES, TRIM_EPSILON_S, parse_size, size_text
from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.services.tasks import lock_owner_tasks, task_submit
from videos.services.transcripts import video_segments_replace
from videos.services.videos import video_store
from videos.text import single_line

if TYPE_CHECKING:
    from videos.media.probe import ProbeResult

log = logging.getLogger("montage.compositions")
KIND = "composition"
ENGINES = ("ffmpeg", "moviepy")
OUTPUT_NAMESPACE = UUID("6d6f6e74-6167-4520-8f75-747075747321")  # uuid5 namespace of composition outputs


class CompositionInputError(Exception):
    """An input video vanished or lost its file between the request and the work."""


def composition_start(
    *,
    owner: User,
    videos: Sequence[UUID | str | Mapping[str, Any]],
    title: str = "",
    engine: str = "ffmpeg",
    size: Any = "first",
    subtitles: str = "none",
) -> ProcessingTask:
    """Check the inputs (2 or more of the owner's videos, repeats allowed, each maybe trimmed) and queue a
    composition task.

    Only rows are read here, never media, so the request answers at once whatever the files' size.
    """
    check_clip_count(len(videos))
    items = [_item(number, value) for number, value in enumerate(videos, 1)]
    ids = [vid for vid, _, _ in items]
    if engine not in ENGINES:
        raise InvalidInputError(f"Unknown engine {engine!r}; use one of {', '.join(ENGINES)}.")
    if subtitles not in SUBTITLE_MODES:
        raise InvalidInputError(f"Unknown subtitles {subtitles!r}; use one of {', '.join(SUBTITLE_MODES)}.")
    try:
        size = parse_size(size)
    except ValueError as exc:
        raise InvalidInputError(str(exc).capitalize(), errors={"size": [str(exc)]}) from None
    args: dict[str, Any] = {
        "video_ids": ids,
        "title": single_line(title),
        "engine": engine,
        "size": size_text(size),
        "subtitles": subtitles,
    }
    if any(start or end is not None for _, start, end in items):
        args["trims"] = [[start, end] for _, start, end in items]
    with transaction.atomic():
        lock_owner_tasks(owner.pk)  # an input cannot be deleted between this check and the task's insert
        owned: dict[str, dict[str, Any]] = {
            str(row["pk"]): dict(row)
            for row in Video.objects.filter(owner=owner, pk__in=set(ids)).values(
                "pk", "title", "duration_s", "probe"
            )
        }
        unknown = [vid for vid in ids if vid not in owned]
        if unknown:
            raise InvalidInputError(
                f"No video {unknown[0]} among your videos.", errors={"videos": [f"Unknown video id {unknown[0]}."]}
            )
        _check_inputs([(owned[vid], start, end) for vid, start, end in items])
        return task_submit(owner=owner, kind=KIND, args=args)


def _item(number: int, value: UUID | str | Mapping[str, Any]) -> tuple[str, float, float | None]:
    """(video id, start, end) of one `videos` item: an id, or {"video": id, "start"?, "end"?}."""
    if not isinstance(value, Mapping):
        return _uuid(number, value), 0.0, None
    unknown = sorted(set(value) - {"video", "start", "end"})
    if unknown or "video" not in value:
        problem = f"unknown key {unknown[0]!r}" if unknown else "no 'video'"
        raise InvalidInputError(f"Item {number} of videos: {problem}; use {{'video': id, 'start'?: s, 'end'?: s}}.")
    start, end = _seconds(number, "start", value.get("start")), _seconds(number, "end", value.get("end"))
    if start is not None and end is not None and end <= start:
        raise InvalidInputError(
            f"Item {number}: end ({end:g} s) must come after start ({start:g} s).",
            errors={"videos": [f"Item {number}: end must be greater than start."]},
        )
    return _uuid(number, value["video"]), start or 0.0, end


def _uuid(number: int, value: Any) -> str:
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise InvalidInputError(
            f"Item {number} of videos is not a video id: {str(value)[:60]!r}.",
            errors={"videos": [f"Item {number}: not a valid UUID."]},
        ) from None


def _seconds(number: int, name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInputError(
            f"Item {number}: {name} must be a number of seconds, 0 or more; got {value!r}.",
            errors={"videos": [f"Item {number}: {name} must be a non-negative number."]},
        )
    return float(value)


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


def _check_inputs(items: list[tuple[dict[str, Any], float, float | None]]) -> None:
    """Every clip has a picture and a trim inside it, and the output (the trimmed lengths summed) stays
    within MAX_OUTPUT_DURATION_S."""
    total = 0.0
    for number, (row, start, end) in enumerate(items, 1):
        if not _has_picture(row):
            raise UnsupportedMediaError(
                f"Video {row['pk']} ({row['title']!r}, item {number}) has no video stream; compose videos, not audio.",
                video_id=str(row["pk"]),
                errors={"videos": [f"Item {number}: video {row['pk']} has no video stream."]},
            )
        duration = row["duration_s"] or (row["probe"] or {}).get("duration_s") or 0.0
        stop = duration if end is None else end
        if end is not None and end > duration + TRIM_EPSILON_S or start >= stop:
            raise InvalidInputError(
                f"Item {number}: the trim {start:g} s to {stop:g} s is not inside video {row['pk']} "
                f"({duration:g} s long); use 0 <= start < end <= {duration:g}.",
                errors={"videos": [f"Item {number}: trim outside the video's {duration:g} s."]},
            )
        total += min(stop, duration) - start
    if total > settings.MAX_OUTPUT_DURATION_S:
        raise OutputTooLongError(
            f"The composition would last {total:.0f} s; the limit is {settings.MAX_OUTPUT_DURATION_S} s.",
            duration_s=round(total, 3),
        )


def composition_inputs(*, owner_id: Any, video_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Each input's local path, its upload-time probe (JSON) and, at its first appearance, its transcript
    (`segments` with words, `language`), in order; a vanished input is an error."""
    videos = {str(v.pk): v for v in Video.objects.filter(owner_id=owner_id, pk__in=set(video_ids))}
    transcripts: dict[str, list[dict[str, Any]]] = {}
    for row in (
        SubtitleSegment.objects.filter(video_id__in=list(videos))
        .order_by("video_id", "index")
        .values("video_id", "start", "end", "text", "words")
    ):
        cue = dict(row)
        transcripts.setdefault(str(cue.pop("video_id")), []).append(cue)
    inputs, seen = [], set()
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
        item = {"video_id": str(vid), "path": str(path), "probe": video.probe or None}
        if str(vid) not in seen:  # a video used ten times carries its transcript once
            item.update(segments=transcripts.get(str(vid), []), language=video.language)
            seen.add(str(vid))
        inputs.append(item)
    return inputs


def composition_output_id(task_id: Any) -> UUID:
    """The output video's id, fixed by the task: an attempt that stored it and died is not stored twice."""
    return uuid5(OUTPUT_NAMESPACE, str(task_id))


def composition_existing_output(*, task_id: Any, engine: str, mode: str, plan: str = "") -> dict[str, Any] | None:
    """`output` of a video an earlier attempt of this task already stored (it died before recording it)."""
    video = Video.objects.filter(pk=composition_output_id(task_id)).first()
    return _output(video, engine, mode, plan) if video is not None else None


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
    plan: str = "",
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
    log.info("composition.output video_id=%s engine=%s mode=%s plan=%r", video.pk, engine, mode, plan)
    return _output(video, engine, mode, plan)


def composition_attach_captions(*, video_id: Any, segments: Iterable[Timed], language: str | None) -> int:
    """The composed video owns the clips' shifted cues as its transcript (also when an attempt repeats this)."""
    video = Video.objects.get(pk=video_id)
    return video_segments_replace(video=video, segments=list(segments), language=language)


def _output(video: Video, engine: str, mode: str, plan: str) -> dict[str, Any]:
    return {
        "video_id": str(video.pk),
        "size_bytes": video.size_bytes,
        "duration_s": video.duration_s,
        "width": video.width,
        "height": video.height,
        "title": video.title,
        "engine": engine,
        "mode": mode,
        "plan": plan,
    }


def composition_output(task: ProcessingTask) -> dict[str, Any] | None:
    """The API's `output` object: the task's result once completed, else None."""
    if task.kind != KIND or task.status != ProcessingTask.Status.COMPLETED:
        return None
    return task.result
