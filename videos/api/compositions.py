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
from videos.api.serializers import AsyncTaskResponseSerializer, TaskProgressSerializer, accepted, shown_result
from videos.media.plan import SUBTITLE_MODES, parse_size
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
        "mode": serializers.CharField(help_text="copy, smart, reencode (ffmpeg) or moviepy: the path that ran."),
        "plan": serializers.CharField(help_text="Which path ran and how many clips were copied and re-encoded."),
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
        return shown_result(task) if composition_output(task) is not None else None


def _composition(request: Request, pk: Any) -> ProcessingTask:
    return selectors.task_get(owner=request.user, task_id=pk, kind=KIND)


class ClipListField(serializers.ListField):
    """Counts the items before validating each (10,000 ids are refused by their number, at once), with the
    contract's codes (too_few_videos, too_many_videos); the bounds are in the schema too."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list):
            check_clip_count(len(data))
        return super().to_internal_value(data)


class TrimmedClipSerializer(serializers.Serializer):
    """One clip with its in and out points in seconds (`0 <= start < end <= duration`)."""

    video = serializers.UUIDField()
    start = serializers.FloatField(required=False, min_value=0)
    end = serializers.FloatField(required=False, min_value=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(f"Unknown key {unknown[0]!r}; use video, start and end.")
        if "start" in attrs and "end" in attrs and attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError("end must be greater than start.")
        return attrs


TRIMMED_CLIP_SCHEMA = {
    "type": "object",
    "properties": {
        "video": {"type": "string", "format": "uuid"},
        "start": {"type": "number", "minimum": 0, "description": "In point, seconds (default 0)."},
        "end": {"type": "number", "minimum": 0, "description": "Out point, seconds (default: the clip's end)."},
    },
    "required": ["video"],
    "additionalProperties": False,
}


@extend_schema_field({"oneOf": [{"type": "string", "format": "uuid"}, TRIMMED_CLIP_SCHEMA]})
class ClipItemField(serializers.Field):
    """A video id, or {"video": id, "start"?: s, "end"?: s}."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            clip = TrimmedClipSerializer(data=data)
            clip.is_valid(raise_exception=True)
            return {**clip.validated_data, "video": str(clip.validated_data["video"])}
        return str(serializers.UUIDField().to_internal_value(data))

    def to_representation(self, value: Any) -> Any:
        return value


class CompositionCreateApi(APIView):
    @extend_schema_serializer(component_name="CompositionCreate")
    class InputSerializer(serializers.Serializer):
        videos = ClipListField(child=ClipItemField(), min_length=2, max_length=settings.MAX_COMPOSITION_CLIPS)
        title = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
        engine = serializers.ChoiceField(choices=ENGINES, default="ffmpeg")
        size = serializers.CharField(
            required=False, max_length=16, help_text="first (default), largest, or WxH (even, 16..4096)."
        )
        subtitles = serializers.ChoiceField(choices=SUBTITLE_MODES, default="none")
        width = serializers.IntegerField(required=False, min_value=16, max_value=4096, help_text="Old form of size.")
        height = serializers.IntegerField(required=False, min_value=16, max_value=4096, help_text="Old form of size.")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            width, height = attrs.pop("width", None), attrs.pop("height", None)
            if (width is None) != (height is None):
                raise serializers.ValidationError("Give both width and height, or neither (or use size).")
            if width is not None:
                if "size" in attrs:
                    raise serializers.ValidationError("Give size or width and height, not both.")
                attrs["size"] = f"{width}x{height}"
            try:
                attrs["size"] = parse_size(attrs.get("size"))
            except ValueError as exc:
                raise serializers.ValidationError({"size": [str(exc)]}) from None
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
