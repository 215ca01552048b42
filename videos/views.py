"""Browser pages: thin views that render selectors' reads; every write goes through the API from the page's JS."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.utils.http import urlencode

from videos import selectors
from videos.api.serializers import shown_result, task_progress
from videos.media.plan import SIZE_CHOICES, SUBTITLE_MODES
from videos.models import ProcessingTask, Video
from videos.services.compositions import ENGINES
from videos.text import single_line
from videos.webhooks import selectors as webhook_selectors
from videos.webhooks.models import EVENTS, FINAL_EVENTS

PER_PAGE = settings.REST_FRAMEWORK["PAGE_SIZE"]  # the API's page size, so page N is the same videos in both
SEGMENTS_SHOWN = 2000  # a page holds a long transcript; the SRT/VTT downloads hold every cue
SEARCH_MAX_CHARS = 200
TASK_KINDS = {"composition": "Composition", "transcription": "Transcription", "reprocess": "Reprocessing",
              "srt_media": "Paragraphs", "import": "Import"}  # fmt: skip


def _me(request: HttpRequest) -> User:
    """The logged-in user: every page is behind login_required, so never the anonymous one."""
    return cast(User, request.user)


def _rows(tasks: Any) -> list[tuple[ProcessingTask, dict[str, Any]]]:
    """Each task with its TaskProgress, the same shape the page's JS later polls."""
    return [(task, task_progress(task)) for task in tasks]


def _filters(request: HttpRequest, *names: str) -> dict[str, str]:
    """The page's search and filter parameters (absent ones as ''), and `query`: them again for pager links."""
    # One clean line: a NUL reaching PostgreSQL is a 500, and nobody's title holds control characters.
    values = {name: single_line(request.GET.get(name, ""))[:SEARCH_MAX_CHARS] for name in names}
    return {**values, "query": urlencode({k: v for k, v in values.items() if v})}


@login_required
def library(request: HttpRequest) -> HttpResponse:
    """My videos (searched by title, filtered by status, 20 a page like the API) and the upload drop zone."""
    filters = _filters(request, "q", "status")
    videos = selectors.video_search(owner=_me(request), q=filters["q"], status=filters["status"])
    page = Paginator(videos, PER_PAGE).get_page(request.GET.get("page"))
    sources = selectors.composition_sources(owner=_me(request), video_ids=[video.pk for video in page])
    context = {
        "page": page,
        "rows": [(video, sources.get(str(video.pk))) for video in page],
        "filters": filters,
        "statuses": Video.Status.values,
        "max_upload_mb": settings.MAX_UPLOAD_MB,
    }
    return render(request, "videos/library.html", context)


@login_required
def compose(request: HttpRequest) -> HttpResponse:
    """Pick, order and trim two or more of my videos (those with a picture), choose size and captions, start."""
    videos = selectors.video_list(owner=_me(request)).filter(width__gt=0)  # audio-only files cannot be composed
    return render(
        request,
        "videos/compose.html",
        {"videos": videos, "engines": ENGINES, "sizes": SIZE_CHOICES, "subtitle_modes": SUBTITLE_MODES},
    )


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    """My active tasks (few: the limits hold them) and the finished ones 20 a page, searched and filtered."""
    filters = _filters(request, "q", "status", "kind")
    tasks = selectors.task_search(owner=_me(request), q=filters["q"], status=filters["status"], kind=filters["kind"])
    page = Paginator(tasks.filter(status__in=ProcessingTask.FINISHED), PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "active": _rows(tasks.filter(status__in=ProcessingTask.ACTIVE)),
        "finished": _rows(page),
        "page": page,
        "filters": filters,
        "statuses": ProcessingTask.Status.values,
        "kinds": TASK_KINDS,
        "show_active": filters["status"] in ("", *ProcessingTask.ACTIVE),
    }
    return render(request, "videos/tasks.html", context)


def clock(seconds: float | None) -> str:
    """A timestamp people read: m:ss.s, or h:mm:ss.s past an hour."""
    tenths = round(max(seconds or 0.0, 0.0) * 10)
    minutes, tenths = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    secs = f"{tenths // 10:02d}.{tenths % 10}"
    return f"{hours}:{minutes:02d}:{secs}" if hours else f"{minutes}:{secs}"


def _timed(items: Any) -> list[dict[str, Any]]:
    """Cues or paragraphs (models or dicts) with their start and end as clock strings."""
    rows = []
    for item in items:
        row = item if isinstance(item, dict) else {f: getattr(item, f) for f in ("index", "start", "end", "text")}
        rows.append({**row, "start_clock": clock(row.get("start")), "end_clock": clock(row.get("end"))})
    return rows


def _segments(video: Video | None) -> list[dict[str, Any]]:
    return _timed(video.segments.all()[:SEGMENTS_SHOWN]) if video is not None else []


def _result_context(task: ProcessingTask) -> dict[str, Any]:
    """What the result block shows: the task's result, its video, and the transcript or paragraphs."""
    result = shown_result(task) if isinstance(task.result, dict) else {}
    attempts = task.attempts_log or []
    return {
        "task": task,
        "retry_blocker": selectors.task_retry_blocker(task=task),
        "failure_detail": next((a["detail"] for a in reversed(attempts) if a.get("detail")), ""),
        "video": task.video,
        "result": result,
        "segments": _segments(task.video) if task.kind in ("transcription", "reprocess") else [],
        "paragraphs": _timed(result.get("paragraphs") or []),
    }


@login_required
def task_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """One task: overall and per-step progress, cancel/retry, the error or the result."""
    task = get_object_or_404(selectors.task_list(owner=_me(request)).select_related("video", "retry_of"), pk=pk)
    progress = task_progress(task)
    context = {
        "progress": progress,
        "retries": task.retries.order_by("-created_at")[:5],
        "attempts": progress["attempts_log"],
        "inputs": _composition_inputs(task),
    }
    return render(request, "videos/task_detail.html", {**_result_context(task), **context})


def _composition_inputs(task: ProcessingTask) -> list[dict[str, Any]]:
    """A composition's inputs, in order, each with its title and whether it still exists."""
    if task.kind != "composition":
        return []
    ids = selectors.composition_input_ids(task.args)
    found = selectors.video_list(owner=task.owner).filter(pk__in=selectors.valid_uuids(ids))
    titles = {str(v.pk): str(v) for v in found}
    return [{"id": vid, "title": titles.get(vid, "a deleted video"), "exists": vid in titles} for vid in ids]


@login_required
def task_result(request: HttpRequest, pk: str) -> HttpResponse:
    """The task page's result block alone, fetched by its JS when the task finishes (no reload)."""
    task = get_object_or_404(selectors.task_list(owner=_me(request)).select_related("video"), pk=pk)
    return render(request, "videos/_task_result.html", _result_context(task))


@login_required
def video_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """One video: player (with captions once transcribed), metadata, transcribe/reprocess, its tasks."""
    video: Video = get_object_or_404(selectors.video_list(owner=_me(request)), pk=pk)
    tasks = _rows(selectors.task_list(owner=_me(request)).filter(video=video)[:10])
    stored = list(video.segments.all()[:SEGMENTS_SHOWN])
    paragraphs, paragraphs_task = selectors.video_paragraphs(video=video, segments=stored)
    context = {
        "video": video,
        "tasks": tasks,
        "segments": _timed(stored),
        "paragraphs": _timed(paragraphs),
        "paragraphs_task": paragraphs_task,
        "source": selectors.composition_sources(owner=_me(request), video_ids=[video.pk]).get(str(video.pk)),
    }
    return render(request, "videos/video_detail.html", context)


@login_required
def webhooks(request: HttpRequest) -> HttpResponse:
    """My webhook endpoints (with their secrets) and their recent deliveries; writes go through the API."""
    context = {
        "endpoints": webhook_selectors.endpoint_list(owner=_me(request)),
        "deliveries": webhook_selectors.recent_deliveries(owner=_me(request)),
        "events": EVENTS,
        "default_events": FINAL_EVENTS,
    }
    return render(request, "videos/webhooks.html", context)


def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on pages without our <link rel="icon"> (the admin's): our SVG."""
    return HttpResponsePermanentRedirect(static("videos/favicon.svg"))
