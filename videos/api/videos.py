"""Video endpoints: upload (size-limited, probed), list, detail, delete, status, owner-only download with Range."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos import selectors
from videos.api.files import AnyAcceptNegotiation, download_name, file_response
from videos.api.pagination import StrictPageNumberPagination
from videos.api.serializers import TaskProgressSerializer, task_progress, video_file_url, video_thumbnail_url
from videos.api.uploads import limited_upload_handlers
from videos.models import Video
from videos.services.videos import video_delete, video_upload


# Output ---------------------------------------------------------------------------------------
class VideoOutputSerializer(serializers.ModelSerializer):
    """The API's Video object (also used by other areas that return a video)."""

    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    language = serializers.SerializerMethodField(help_text="ISO 639-1 code of the transcript; null before one exists.")

    class Meta:
        model = Video
        fields = [
            "id",
            "title",
            "status",
            "duration_s",
            "width",
            "height",
            "fps",
            "has_audio",
            "language",
            "video_codec",
            "audio_codec",
            "size_bytes",
            "original_name",
            "source_url",
            "file_url",
            "thumbnail_url",
            "created_at",
            "updated_at",
        ]

    def get_file_url(self, video: Video) -> str:
        return video_file_url(video.pk)

    def get_language(self, video: Video) -> str | None:
        return video.language or None

    def get_thumbnail_url(self, video: Video) -> str | None:
        return video_thumbnail_url(video.pk) if video.thumbnail else None


# Views ----------------------------------------------------------------------------------------
class VideoListApi(APIView):
    parser_classes = [MultiPartParser]
    pagination_class = StrictPageNumberPagination  # named on the view so that the schema documents the page shape

    @extend_schema_serializer(component_name="VideoUpload")
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=False)
        title = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        if request.method == "POST":
            request.upload_handlers = limited_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(responses=VideoOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Your videos, newest first, paginated."""
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.video_list(owner=request.user), request, view=self)
        return paginator.get_paginated_response(VideoOutputSerializer(page, many=True).data)

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={201: VideoOutputSerializer})
    def post(self, request: Request) -> Response:
        """Upload a video or audio file (multipart `file`, optional `title`); it is probed, not processed."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        video = video_upload(owner=request.user, **data.validated_data)
        return Response(VideoOutputSerializer(video).data, status=status.HTTP_201_CREATED)


class VideoDetailApi(APIView):
    @extend_schema(responses=VideoOutputSerializer)
    def get(self, request: Request, pk: str) -> Response:
        """One of your videos."""
        video = get_object_or_404(selectors.video_list(owner=request.user), pk=pk)
        return Response(VideoOutputSerializer(video).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: str) -> Response:
        """Delete the video and its files (409 task_conflict while a task works on it)."""
        video_delete(video=get_object_or_404(selectors.video_list(owner=request.user), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class VideoStatusApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "VideoStatus",
            {
                "video_id": serializers.UUIDField(),
                "status": serializers.CharField(),
                "task": TaskProgressSerializer(allow_null=True),
            },
        )
    )
    def get(self, request: Request, pk: str) -> Response:
        """The video's status and its active (else latest) task."""
        video = get_object_or_404(selectors.video_list(owner=request.user), pk=pk)
        task = selectors.video_active_task(video=video)
        return Response(
            {"video_id": str(video.pk), "status": video.status, "task": task_progress(task) if task else None}
        )


class VideoFileApi(APIView):
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(
        responses={
            (code, media): bytes
            for code in (200, 206)
            for media in ("video/*", "audio/*", "application/octet-stream")  # the stored file's own type
        }
    )
    def get(self, request: Request, pk: str) -> HttpResponseBase:
        """Download your video's file; honours a single HTTP byte Range so players can seek."""
        video = get_object_or_404(selectors.video_list(owner=request.user), pk=pk)
        return file_response(request, video.file, download_name(video, video.file))


class VideoThumbnailApi(APIView):
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    def get(self, request: Request, pk: str) -> HttpResponseBase:
        """Your video's thumbnail image (404 when it has none)."""
        video = get_object_or_404(selectors.video_list(owner=request.user), pk=pk)
        if not video.thumbnail:
            raise exceptions.NotFound("This video has no thumbnail yet.")
        return file_response(request, video.thumbnail, download_name(video, video.thumbnail))
