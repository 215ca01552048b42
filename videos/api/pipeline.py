"""Pipeline endpoints on one video: reprocess (POST/GET), run_sync, transcribe, retranscribe, segments."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos import selectors
from videos.api.serializers import (
    AsyncTaskResponseSerializer,
    TaskProgressSerializer,
    accepted,
    task_progress,
    task_progress_placeholder,
)
from videos.engines.paragraphs.text import to_txt
from videos.engines.subtitles import Cue, to_srt, to_vtt
from videos.engines.transcription import ENGINE_NAMES
from videos.exceptions import InvalidInputError
from videos.models import ProcessingTask, Video
from videos.services.pipeline import REPROCESS, reprocess_start, transcription_start
from videos.services.transcripts import video_segments


# Renderers: DRF picks them by ?format=srt|vtt (its own `format` parameter) or by the Accept header.
class _SubtitleRenderer(BaseRenderer):
    charset = "utf-8"
    writer: Callable[[list[Cue]], str]

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        cues = [Cue(index=row["index"], start=row["start"], end=row["end"], text=row["text"]) for row in data or []]
        # Never empty: DRF drops the Content-Type of an empty body, and a file with no cues is still a file.
        return type(self).writer(cues).encode("utf-8") or b"\n"


class SrtRenderer(_SubtitleRenderer):
    """Segments as a SubRip file."""

    media_type = "application/x-subrip"
    format = "srt"
    writer = staticmethod(to_srt)


class VttRenderer(_SubtitleRenderer):
    """Segments as a WebVTT file."""

    media_type = "text/vtt"
    format = "vtt"
    writer = staticmethod(to_vtt)


class TxtRenderer(_SubtitleRenderer):
    """Segments as plain text in paragraphs."""

    media_type = "text/plain"
    format = "txt"
    writer = staticmethod(to_txt)


def _video(request: Request, pk: str) -> Video:
    return get_object_or_404(selectors.video_list(owner=request.user), pk=pk)


class StartInputSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Cancel the active task on this video and start anew.")
    engine = serializers.ChoiceField(choices=ENGINE_NAMES, required=False, help_text="Transcription engine.")
    language = serializers.CharField(
        required=False,
        max_length=16,
        help_text="'auto' (default: detected, or the model's only language) or an ISO 639-1 code such as 'en'.",
    )


START_FIELDS = ("force", "engine", "language")


def start_input(request: Request) -> dict[str, Any]:
    """`force`/`engine`/`language` from the JSON (or form) body, or from the query string (?force=true)."""
    body = request.data
    if not isinstance(body, Mapping):  # e.g. a JSON array: refuse it rather than start work without options
        raise InvalidInputError("The request body must be a JSON object (or form fields).")
    raw = {key: body[key] for key in START_FIELDS if key in body}
    for key in START_FIELDS:
        if key in request.query_params:
            raw[key] = request.query_params[key]
    data = StartInputSerializer(data=raw)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


START_PARAMETERS = [
    OpenApiParameter("force", OpenApiTypes.BOOL, description="Replace an active task (also accepted in the body)."),
    OpenApiParameter("engine", OpenApiTypes.STR, enum=list(ENGINE_NAMES), description="Transcription engine."),
    OpenApiParameter("language", OpenApiTypes.STR, description="'auto' or an ISO 639-1 code (also in the body)."),
]


class VideoReprocessApi(APIView):
    @extend_schema(responses=TaskProgressSerializer)
    def get(self, request: Request, pk: str) -> Response:
        """Progress of the video's latest reprocess task; an all-pending placeholder if it never ran."""
        video = _video(request, pk)
        task = selectors.video_latest_task(video=video, kind=REPROCESS)
        if task is None:
            return Response(task_progress_placeholder(kind=REPROCESS, video_id=video.pk))
        return Response(task_progress(task))

    @extend_schema(
        request=StartInputSerializer, parameters=START_PARAMETERS, responses={202: AsyncTaskResponseSerializer}
    )
    def post(self, request: Request, pk: str) -> Response:
        """Run the pipeline on the video in the background (409 task_conflict if one is active; force replaces it)."""
        return _start(
            request, pk, reprocess_start, "Reprocessing queued; poll status_url (or GET this URL) for progress."
        )


def _start(request: Request, pk: str, start: Callable[..., ProcessingTask], message: str) -> Response:
    """Parse force/engine, start the work on the user's video, answer 202."""
    task = start(owner=request.user, video=_video(request, pk), **start_input(request))
    return accepted(task, message=message)


class VideoRunSyncApi(APIView):
    @extend_schema(
        request=StartInputSerializer, parameters=START_PARAMETERS, responses={202: AsyncTaskResponseSerializer}
    )
    def post(self, request: Request, pk: str) -> Response:
        """The same as POST .../reprocess: asynchronous despite its name, kept for old clients."""
        return _start(request, pk, reprocess_start, "Reprocessing queued (run_sync is asynchronous); poll status_url.")


class VideoTranscribeApi(APIView):
    @extend_schema(
        request=StartInputSerializer, parameters=START_PARAMETERS, responses={202: AsyncTaskResponseSerializer}
    )
    def post(self, request: Request, pk: str) -> Response:
        """Transcribe the video (400 unsupported_media: no audio; 400 unsupported_language); replaces a transcript."""
        return _start(request, pk, transcription_start, "Transcription queued; poll status_url for progress.")


class VideoRetranscribeApi(APIView):
    @extend_schema(
        request=StartInputSerializer, parameters=START_PARAMETERS, responses={202: AsyncTaskResponseSerializer}
    )
    def post(self, request: Request, pk: str) -> Response:
        """Transcribe the video again; its old segments are replaced when the new ones are ready."""
        return _start(request, pk, transcription_start, "Transcription queued; poll status_url for progress.")


SegmentSchema = inline_serializer(
    "Segment",
    {
        "index": serializers.IntegerField(),
        "start": serializers.FloatField(),
        "end": serializers.FloatField(),
        "text": serializers.CharField(),
        "words": inline_serializer(
            "SegmentWord",
            {
                "start": serializers.FloatField(),
                "end": serializers.FloatField(),
                "word": serializers.CharField(),
                "probability": serializers.FloatField(allow_null=True),
            },
            many=True,
        ),
    },
    many=True,
)


class VideoSegmentsApi(APIView):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, SrtRenderer, VttRenderer, TxtRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "srt", "vtt", "txt"])],
        responses={
            (200, "application/json"): SegmentSchema,
            (200, "application/x-subrip"): OpenApiTypes.STR,
            (200, "text/vtt"): OpenApiTypes.STR,
            (200, "text/plain"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, pk: str) -> Response:
        """The video's subtitle segments in time order: JSON (with word times), or ?format=srt|vtt|txt files."""
        video = _video(request, pk)
        rows = list(video_segments(video=video).values("index", "start", "end", "text", "words"))
        fmt = getattr(request.accepted_renderer, "format", "json")
        headers = {}
        if fmt in ("srt", "vtt", "txt"):
            stem = re.sub(r"[^\w.-]+", "_", video.title).strip("._") or str(video.pk)
            # RFC 6266 filename* for non-ASCII titles (a plain header would be MIME-encoded by Django)
            headers["Content-Disposition"] = content_disposition_header(False, f"{stem[:80]}.{fmt}")
        return Response(rows, headers=headers)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # Errors stay JSON even when a subtitle file was asked for.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response
