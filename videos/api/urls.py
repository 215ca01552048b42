"""/api/v1/ routes. Each area's module holds its views; this file only wires them.

Every POST that starts work is wrapped in `idempotent(...)` here, and only here (Idempotency-Key).
"""

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from videos.api import compositions, imports, pipeline, tasks, webhooks
from videos.api import srt_media as srt_media_api
from videos.api import videos as video_api
from videos.api.auth import TokenCreateApi
from videos.api.idempotency import idempotent
from videos.api.routing import both

urlpatterns = [
    *both("auth/token", TokenCreateApi.as_view(), name="api-token"),
    *both("schema", SpectacularAPIView.as_view(), name="api-schema"),
    *both("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *both("tasks", tasks.TaskListApi.as_view(), name="api-task-list"),
    *both("tasks/<uuid:pk>", tasks.TaskDetailApi.as_view(), name="api-task-detail"),
    *both("tasks/<uuid:pk>/status", tasks.TaskStatusApi.as_view(), name="api-task-status"),
    *both("tasks/<uuid:pk>/result", tasks.TaskResultApi.as_view(), name="api-task-result"),
    *both("tasks/<uuid:pk>/cancel", tasks.TaskCancelApi.as_view(), name="api-task-cancel"),
    *both("tasks/<uuid:pk>/retry", idempotent(tasks.TaskRetryApi).as_view(), name="api-task-retry"),
    *both("users/me/tasks", tasks.UserTasksApi.as_view(), name="api-user-tasks"),
    *both("videos", video_api.VideoListApi.as_view(), name="api-video-list"),
    *both("videos/import", idempotent(imports.VideoImportApi).as_view(), name="api-video-import"),
    *both("videos/<uuid:pk>", video_api.VideoDetailApi.as_view(), name="api-video-detail"),
    *both("videos/<uuid:pk>/status", video_api.VideoStatusApi.as_view(), name="api-video-status"),
    *both("videos/<uuid:pk>/file", video_api.VideoFileApi.as_view(), name="api-video-file"),
    *both("videos/<uuid:pk>/thumbnail", video_api.VideoThumbnailApi.as_view(), name="api-video-thumbnail"),
    *both("videos/<uuid:pk>/reprocess", idempotent(pipeline.VideoReprocessApi).as_view(), name="api-video-reprocess"),
    *both("videos/<uuid:pk>/run_sync", idempotent(pipeline.VideoRunSyncApi).as_view(), name="api-video-run-sync"),
    *both(
        "videos/<uuid:pk>/transcribe", idempotent(pipeline.VideoTranscribeApi).as_view(), name="api-video-transcribe"
    ),
    *both(
        "videos/<uuid:pk>/retranscribe",
        idempotent(pipeline.VideoRetranscribeApi).as_view(),
        name="api-video-retranscribe",
    ),
    *both("videos/<uuid:pk>/segments", pipeline.VideoSegmentsApi.as_view(), name="api-video-segments"),
    *both("compositions", idempotent(compositions.CompositionCreateApi).as_view(), name="api-composition-create"),
    *both("compositions/<uuid:pk>", compositions.CompositionDetailApi.as_view(), name="api-composition-detail"),
    *both("compositions/<uuid:pk>/cancel", compositions.CompositionCancelApi.as_view(), name="api-composition-cancel"),
    *both("process/srt_media", idempotent(srt_media_api.SrtMediaCreateApi).as_view(), name="api-srt-media"),
    *both("process/srt_media/sync", srt_media_api.SrtMediaSyncApi.as_view(), name="api-srt-media-sync"),
    *both("webhooks", webhooks.WebhookListApi.as_view(), name="api-webhook-list"),
    *both("webhooks/<uuid:pk>", webhooks.WebhookDetailApi.as_view(), name="api-webhook-detail"),
    *both("webhooks/<uuid:pk>/ping", webhooks.WebhookPingApi.as_view(), name="api-webhook-ping"),
    *both("webhooks/<uuid:pk>/deliveries", webhooks.WebhookDeliveryListApi.as_view(), name="api-webhook-deliveries"),
    *both(
        "webhooks/deliveries/<uuid:pk>/resend",
        webhooks.WebhookDeliveryResendApi.as_view(),
        name="api-webhook-delivery-resend",
    ),
]
