"""Composition endpoints: start (202 at once), progress with `output`, cancel."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos import selectors
from videos.api.serializers import AsyncTaskResponseSerializer, TaskProgressSerializer, accepted
from videos.models import ProcessingTask
from videos.services.compositions import ENGINES, KIND, check_clip_count, composition_output, composition_start
from videos.services.tasks import task_cancel

OutputSchema = inline_serializer(
    "CompositionOutput",
    {
        "video_id": serializers.UUIDField(),
        "file_url": serializers.CharField(),
        "size_bytes": serializers.IntegerField(),
        "duration_s": serializers.FloatField(),
        "width": serializers.IntegerField(allow_null=True),
        "height": serializers.IntegerField(allow_null=True),
        "title": serializers.CharField(),
        "engine": serializers.CharField(),
        "mode": serializers.CharField(),
    },
    allow_null=True,
)


class CompositionProgressSerializer(TaskProgressSerializer):
    """TaskProgress plus the composed video (`output`, null until the task completed)."""

    output = serializers.SerializerMethodField()

    class Meta(TaskProgressSerializer.Meta):
        fields = [*TaskProgressSerializer.Meta.fields, "output"]

    @extend_schema_field(OutputSchema)
    def get_output(self, task: ProcessingTask) -> dict[str, Any] | None:
        return composition_output(task)


def _composition(request: Request, pk: Any) -> ProcessingTask:
    return selectors.task_get(owner=request.user, task_id=pk, kind=KIND)


class ClipListField(serializers.ListField):
    """Counts the items before validating each (10,000 ids are refused by their number, at once), with the
    contract's codes (too_few_videos, too_many_videos); the bounds are in the schema too."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list):
            check_clip_count(len(data))
        return super().to_internal_value(data)


class CompositionCreateApi(APIView):
    @extend_schema_serializer(component_name="CompositionCreate")
    class InputSerializer(serializers.Serializer):
        videos = ClipListField(
            child=serializers.UUIDField(), min_length=2, max_length=settings.MAX_COMPOSITION_CLIPS
        )
        title = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
        engine = serializers.ChoiceField(choices=ENGINES, default="ffmpeg")
        width = serializers.IntegerField(required=False, min_value=16, max_value=7680)
        height = serializers.IntegerField(required=False, min_value=16, max_value=4320)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            width, height = attrs.pop("width", None), attrs.pop("height", None)
            if (width is None) != (height is None):
                raise serializers.ValidationError("Give both width and height, or neither.")
            if width is not None and height is not None:
                if width % 2 or height % 2:
                    raise serializers.ValidationError("width and height must be even (H.264 4:2:0).")
                attrs["size"] = (width, height)
            return attrs

    @extend_schema(request=InputSerializer, responses={202: AsyncTaskResponseSerializer})
    def post(self, request: Request) -> Response:
        """Compose two or more of your videos, in order, into a new video (in the background)."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = composition_start(owner=request.user, **data.validated_data)
        count = len(data.validated_data["videos"])
        return accepted(task, message=f"Composition of {count} videos queued; poll status_url for progress.")


class CompositionDetailApi(APIView):
    @extend_schema(responses=CompositionProgressSerializer)
    def get(self, request: Request, pk: str) -> Response:
        """The composition's progress, and its `output` once completed."""
        return Response(CompositionProgressSerializer(_composition(request, pk)).data)


class CompositionCancelApi(APIView):
    @extend_schema(request=None, responses={202: CompositionProgressSerializer})
    def post(self, request: Request, pk: str) -> Response:
        """Cancel a pending or processing composition: ffmpeg is stopped and partial files removed."""
        task = task_cancel(task=_composition(request, pk))
        return Response(
            CompositionProgressSerializer(_composition(request, task.pk)).data, status=status.HTTP_202_ACCEPTED
        )
