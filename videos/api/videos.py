"""Video endpoints: upload (size-limited, probed), list, detail, delete, status, owner-only download with Range."""

from __future__ import annotations

import mimetypes
import re
from pathlib import PurePath
from typing import IO, Any

from django.core.files.uploadhandler import FileUploadHandler
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos import selectors
from videos.api.pagination import StrictPageNumberPagination
from videos.api.serializers import TaskProgressSerializer, task_progress
from videos.exceptions import FileTooLargeError
from videos.models import Video
from videos.services.uploads import StorageAwareUploadHandler
from videos.services.videos import too_large_error, upload_limit_bytes, video_delete, video_file_url, video_upload

# Multipart boundaries, part headers and a title: what a request may carry beyond the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
STREAM_BLOCK_BYTES = 256 * 1024


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
        return reverse("api-video-thumbnail", kwargs={"pk": video.pk}) if video.thumbnail else None


# Upload size limit ----------------------------------------------------------------------------
class UploadLimitHandler(FileUploadHandler):
    """Refuse an oversize upload early: by Content-Length before reading, then by the bytes streamed."""

    def __init__(self, request: HttpRequest, *, limit: int, others: list[FileUploadHandler]) -> None:
        super().__init__(request)
        self.limit = limit
        self.others = others  # the handlers that write the file, whose partial output we discard

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):  # noqa: ANN001, ANN201, N803
        if content_length and content_length > self.limit + FORM_OVERHEAD_BYTES:
            raise self._refuse(content_length)
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:  # a lying or absent Content-Length
            raise self._refuse(None)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _refuse(self, size: int | None) -> FileTooLargeError:
        for handler in self.others:
            partial = getattr(handler, "file", None)
            if partial is not None:
                partial.close()  # a temporary upload file deletes itself on close
        return too_large_error(size)


# Download with Range --------------------------------------------------------------------------
class RangeNotSatisfiable(Exception):
    """The Range header names no byte of the file (416)."""


_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single `bytes=` range, or None to send the whole file.

    Other units, multiple ranges and malformed headers are ignored (RFC 9110: a full 200 is the answer
    to them); a well-formed range that names no byte of the file raises RangeNotSatisfiable.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _RANGE_SPEC.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = (_position(text) for text in match.groups())
    if first_text == "":  # suffix: the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        raise RangeNotSatisfiable(header)
    return first, min(last, size - 1)


def _position(digits: str) -> str:
    """A byte position capped past any file (int() refuses over 4,300 digits: "bytes=999...9-" was a 500)."""
    significant = digits.lstrip("0") or ("0" if digits else "")
    return significant if len(significant) <= 19 else "9" * 19


class _FileSlice:
    """Reads at most `length` bytes of `fh` from `first` on (FileResponse streams it and closes it)."""

    def __init__(self, fh: IO[bytes], first: int, length: int) -> None:
        fh.seek(first)
        self._fh = fh
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data = self._fh.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._fh.close()


class _StreamResponse(FileResponse):
    block_size = STREAM_BLOCK_BYTES


def file_response(request: Request, field: FieldFile, download_name: str) -> HttpResponseBase:
    """200 with the whole file, or 206 with one byte range, or 416; always advertises byte ranges."""
    try:
        size = field.size
    except OSError:  # the row outlived its file (removed by hand): say so instead of a 500
        raise exceptions.NotFound("The file of this video is missing from storage.") from None
    content_type = mimetypes.guess_type(download_name)[0] or "application/octet-stream"
    try:
        wanted = byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        refused = JsonResponse(
            {"detail": f"The requested range is outside the file ({size} bytes).", "code": "range_not_satisfiable"},
            status=status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
        )
        refused["Content-Range"] = f"bytes */{size}"
        refused["Accept-Ranges"] = "bytes"
        return refused
    fh = field.storage.open(field.name or "", "rb")
    if wanted is None:
        response = _StreamResponse(fh, content_type=content_type, filename=download_name)
        response["Content-Length"] = str(size)
    else:
        first, last = wanted
        response = _StreamResponse(
            _FileSlice(fh, first, last - first + 1),
            status=status.HTTP_206_PARTIAL_CONTENT,
            content_type=content_type,
            filename=download_name,
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=0"
    return response


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """File views answer any Accept header (a <video> asks for video/*); their errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):  # noqa: ANN001, ANN201
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


def download_name(video: Video, field: FieldFile) -> str:
    """A friendly, header-safe file name: the title (or id) plus the stored extension."""
    stem = re.sub(r"[^\w.-]+", "_", video.title).strip("._") or str(video.pk)
    return f"{stem[:80]}{PurePath(field.name or '').suffix}"


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
            writer = StorageAwareUploadHandler(request)  # always on disk: ffprobe needs a path
            request.upload_handlers = [UploadLimitHandler(request, limit=upload_limit_bytes(), others=[writer]), writer]
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
