"""POST /api/v1/videos/import: a video from a URL (download, probe, transcribe) as an `import` task."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos.api.serializers import AsyncTaskResponseSerializer, accepted
from videos.services.imports import MAX_URL_LENGTH, import_start


class VideoImportApi(APIView):
    class InputSerializer(serializers.Serializer):
        # A CharField: the URL rules (http/https, allowed addresses) are the service's, with its messages.
        url = serializers.CharField(max_length=MAX_URL_LENGTH)
        title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
        transcribe = serializers.BooleanField(required=False, default=True)
        language = serializers.CharField(max_length=16, required=False, allow_null=True, default=None)

    @extend_schema(request=InputSerializer, responses={202: AsyncTaskResponseSerializer})
    def post(self, request: Request) -> Response:
        """Import a video from a URL (a media file, an HLS playlist or a page yt-dlp understands)."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = import_start(owner=request.user, **data.validated_data)
        return accepted(task, "Import queued; the video is downloading. Poll status_url for progress.")
