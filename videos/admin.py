"""Django admin: operators see and steer every user's tasks and videos (writes go through the services)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from videos.exceptions import MontageError
from videos.models import ProcessingTask, SubTask, SubtitleSegment, Video
from videos.services.tasks import task_cancel, task_retry


def progress_bar(value: float, status: str) -> str:
    """An HTML progress bar with its percentage, for list columns (no extra CSS needed)."""
    colour = {"completed": "#1e7d45", "failed": "#b3261e", "cancelled": "#c9a227"}.get(status, "#2f6fde")
    return format_html(
        '<div title="{}%" style="display:flex;align-items:center;gap:.4em;min-width:9em">'
        '<span style="flex:1;height:.6em;background:#e8ebf0;border-radius:1em;overflow:hidden">'
        '<span style="display:block;height:100%;width:{}%;background:{}"></span></span>'
        '<span style="font-variant-numeric:tabular-nums">{}%</span></div>',
        f"{value:.1f}",
        f"{value:.1f}",
        colour,
        f"{value:.0f}",
    )


admin.site.site_header = "Montage"
admin.site.site_title = "Montage admin"
admin.site.index_title = "Tasks, videos and webhooks"

PRETTY_MAX_CHARS = 20_000  # a composition of 10,000 clips has long args: show the start, the API has the rest
KIND_LABELS = {"srt_media": "Paragraphs", "reprocess": "Reprocessing"}


def pretty_json(value: Any) -> str:
    """JSON indented in a <pre>, cut past PRETTY_MAX_CHARS, for read-only fields."""
    if value in (None, "", [], {}):
        return "–"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > PRETTY_MAX_CHARS:
        text = text[:PRETTY_MAX_CHARS] + f"\n… ({len(text) - PRETTY_MAX_CHARS} more characters)"
    return format_html('<pre style="margin:0;white-space:pre-wrap;max-height:30em;overflow:auto">{}</pre>', text)


def task_label(task: ProcessingTask) -> str:
    """What a person calls a task: its kind, what it works on, and the start of its id."""
    kind = KIND_LABELS.get(task.kind, task.kind.replace("_", " ").capitalize())
    if task.kind == "composition":
        subject = (task.args or {}).get("title") or ""
    else:
        subject = str(task.video) if task.video_id else ""
    return f"{kind} “{subject}” · {str(task.pk)[:8]}" if subject else f"{kind} · {str(task.pk)[:8]}"


SUBTASK_FIELDS = ("position", "name", "weight", "status", "progress_column", "started_at", "finished_at")
VIDEO_TASK_FIELDS = ("kind", "status", "stage", "progress", "created_at", "finished_at")


class SubTaskInline(admin.TabularInline):
    model = SubTask
    extra = 0
    can_delete = False
    fields = SUBTASK_FIELDS
    readonly_fields = SUBTASK_FIELDS
    ordering = ["position"]

    @admin.display(description="progress")
    def progress_column(self, sub: SubTask) -> str:
        return progress_bar(sub.progress * 100, sub.status)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ProcessingTask)
class ProcessingTaskAdmin(admin.ModelAdmin):
    list_display = [
        "task_column", "kind", "owner", "status", "progress_column", "stage", "eta", "attempts", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "kind", ("owner", admin.RelatedOnlyFieldListFilter), "cancel_requested"]
    search_fields = ["id", "owner__username", "kind", "video__title", "args__title", "error_message"]
    list_select_related = ["owner", "video"]
    date_hierarchy = "created_at"
    inlines = [SubTaskInline]
    actions = ["cancel_tasks", "retry_tasks"]
    readonly_fields = [
        "id", "owner", "kind", "status", "stage", "progress_column", "eta_seconds", "video_link", "retry_of",
        "args_pretty", "result_pretty", "error_message", "cancel_requested", "attempts", "attempts_pretty", "worker_id",
        "heartbeat_at", "created_at", "started_at", "updated_at", "finished_at",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["id", "owner", "kind", "status", "stage", "progress_column", "eta_seconds"]}),
        ("Work", {"fields": ["video_link", "retry_of", "args_pretty", "result_pretty", "error_message"]}),
        ("Runs", {"fields": ["cancel_requested", "attempts", "attempts_pretty", "worker_id", "heartbeat_at"]}),
        ("Times", {"fields": ["created_at", "started_at", "updated_at", "finished_at"]}),
    ]

    @admin.display(description="task", ordering="created_at")
    def task_column(self, task: ProcessingTask) -> str:
        return task_label(task)

    @admin.display(description="arguments")
    def args_pretty(self, task: ProcessingTask) -> str:
        return pretty_json(task.args)

    @admin.display(description="result")
    def result_pretty(self, task: ProcessingTask) -> str:
        return pretty_json(task.result)

    @admin.display(description="attempts log")
    def attempts_pretty(self, task: ProcessingTask) -> str:
        return pretty_json(task.attempts_log)

    @admin.display(description="progress", ordering="progress")
    def progress_column(self, task: ProcessingTask) -> str:
        return progress_bar(task.shown_progress, task.status)

    @admin.display(description="ETA", ordering="eta_seconds")
    def eta(self, task: ProcessingTask) -> str:
        return f"{task.eta_seconds:.0f} s" if task.eta_seconds is not None and task.is_active else "–"

    @admin.display(description="video")
    def video_link(self, task: ProcessingTask) -> str:
        if task.video_id is None:
            return "–"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:videos_video_change", args=[task.video_id]), task.video
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are started by the API, pages and commands, which enforce the limits

    def has_delete_permission(self, request: HttpRequest, obj: ProcessingTask | None = None) -> bool:
        # Deleting a running task's row would orphan its worker; cancel it first.
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_finished)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete skips the per-task check above
        return actions

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[ProcessingTask]) -> None:
        for task in queryset.order_by("created_at"):
            try:
                task = task_cancel(task=task)
            except MontageError as exc:
                self.message_user(
                    request, f"Task {task.pk} ({task.kind}): not cancelled. {exc.detail}", messages.WARNING
                )
                continue
            if task.status == ProcessingTask.Status.CANCELLED:
                self.message_user(request, f"Task {task.pk} ({task.kind}): cancelled.", messages.SUCCESS)
            else:
                self.message_user(
                    request,
                    f"Task {task.pk} ({task.kind}): cancel requested; it stops at its next checkpoint.",
                    messages.INFO,
                )

    @admin.action(description="Retry selected tasks (failed or cancelled)")
    def retry_tasks(self, request: HttpRequest, queryset: QuerySet[ProcessingTask]) -> None:
        for task in queryset.select_related("owner", "video").order_by("created_at"):
            try:
                new = task_retry(task=task)
            except MontageError as exc:
                self.message_user(request, f"Task {task.pk} ({task.kind}): not retried. {exc.detail}", messages.WARNING)
                continue
            self.message_user(request, f"Task {task.pk} ({task.kind}): retried as {new.pk}.", messages.SUCCESS)


class SubtitleSegmentInline(admin.TabularInline):
    """The transcript, read-only: it is replaced whole by a transcription, never edited line by line here."""

    model = SubtitleSegment
    extra = 0
    can_delete = False
    fields = ["index", "start", "end", "text"]
    readonly_fields = fields
    ordering = ["index"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskOnVideoInline(admin.TabularInline):
    model = ProcessingTask
    fk_name = "video"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = VIDEO_TASK_FIELDS
    readonly_fields = VIDEO_TASK_FIELDS
    ordering = ["-created_at"]
    verbose_name_plural = "tasks on this video"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ["title_or_id", "owner", "status", "duration", "size", "resolution", "segment_count", "created_at"]
    list_filter = ["status", ("owner", admin.RelatedOnlyFieldListFilter), "has_audio"]
    search_fields = ["id", "title", "original_name", "owner__username"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    inlines = [SubtitleSegmentInline, TaskOnVideoInline]
    # Status belongs to the tasks (services keep it right) and the probe to ffprobe: only the title is edited here.
    readonly_fields = [
        "id", "owner", "status", "language", "file", "original_name", "duration_s", "width", "height", "fps",
        "video_codec", "audio_codec", "has_audio", "size_bytes", "probe_pretty", "thumbnail", "created_at",
        "updated_at",
    ]  # fmt: skip
    exclude = ["probe"]

    @admin.display(description="probe")
    def probe_pretty(self, video: Video) -> str:
        return pretty_json(video.probe)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Video]:
        return super().get_queryset(request).annotate(segment_total=Count("segments"))

    @admin.display(description="video", ordering="title")
    def title_or_id(self, video: Video) -> str:
        return str(video)

    @admin.display(description="duration", ordering="duration_s")
    def duration(self, video: Video) -> str:
        return f"{video.duration_s:.1f} s" if video.duration_s is not None else "–"

    @admin.display(description="size", ordering="size_bytes")
    def size(self, video: Video) -> str:
        return filesizeformat(video.size_bytes)

    @admin.display(description="resolution")
    def resolution(self, video: Video) -> str:
        return f"{video.width}×{video.height}" if video.width else "audio"

    @admin.display(description="segments", ordering="segment_total")
    def segment_count(self, video: Video) -> int:
        return video.segment_total  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads are probed and stored by the API's service, not typed in here


from videos.webhooks import admin as webhooks_admin  # noqa: E402, F401 - registers the webhook and key admins
