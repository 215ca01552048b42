"""Subtitle + media processing endpoints: start (202) and the synchronous variant old clients call (200/504)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos.api.parsers import BoundedJSONParser
from videos.api.serializers import AsyncTaskResponseSerializer, accepted
from videos.api.uploads import limited_upload_handlers
from videos.engines.paragraphs import ENGINE_NAMES
from videos.services.srt_media import srt_media_start
from videos.services.srt_media_sync import srt_media_run_sync

ParagraphSchema = inline_serializer(
    "SrtMediaParagraph",
    {
        "index": serializers.IntegerField(),
        "start": serializers.FloatField(),
        "end": serializers.FloatField(),
        "text": serializers.CharField(),
        "segment_indexes": serializers.ListField(child=serializers.IntegerField()),
    },
    many=True,
)


class SrtMediaInputSerializer(serializers.Serializer):
    srt_file = serializers.FileField(required=False, allow_empty_file=True)  # our parser names what is wrong
    media_file = serializers.FileField(required=False, allow_empty_file=False)
    video_id = serializers.UUIDField(required=False, allow_null=True)
    title = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    engine = serializers.ChoiceField(choices=ENGINE_NAMES, required=False, allow_null=True)
    force = serializers.BooleanField(required=False, default=False)


class _SrtMediaBase(APIView):
    parser_classes = [MultiPartParser, FormParser, BoundedJSONParser]
    InputSerializer = SrtMediaInputSerializer

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        if request.method == "POST":
            request.upload_handlers = limited_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    def inputs(self, request: Request) -> dict[str, Any]:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return {key: value for key, value in data.validated_data.items() if value is not None}


class SrtMediaCreateApi(_SrtMediaBase):
    @extend_schema(
        request={"multipart/form-data": SrtMediaInputSerializer}, responses={202: AsyncTaskResponseSerializer}
    )
    def post(self, request: Request) -> Response:
        """Group an SRT's lines (or the media's transcript) into paragraphs aligned to the media, in the background."""
        task = srt_media_start(owner=request.user, **self.inputs(request))
        return accepted(task, message="srt_media task queued; poll status_url, then fetch the result.")


class SrtMediaSyncApi(_SrtMediaBase):
    @extend_schema(
        request={"multipart/form-data": SrtMediaInputSerializer},
        responses={
            200: inline_serializer(
                "SrtMediaSyncResult",
                {
                    "paragraphs": ParagraphSchema,
                    "task_id": serializers.UUIDField(),
                    "video_id": serializers.UUIDField(allow_null=True),
                    "engine": serializers.CharField(),
                    "cues": serializers.IntegerField(),
                    "warnings": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        """The same work, waited for (SYNC_PROCESS_TIMEOUT_SECONDS; 504 past it, with the task cancelled)."""
        task = srt_media_run_sync(owner=request.user, **self.inputs(request))
        return Response({**(task.result or {}), "task_id": str(task.pk)})
