"""Browser pages, plus DRF's session login/logout for the browsable API (its "Log in" link)."""

from django.urls import include, path

from videos import import_views, views

urlpatterns = [
    path("", views.library, name="library"),
    path("compose/", views.compose, name="compose"),
    path("tasks/", views.task_list, name="tasks"),
    path("tasks/<uuid:pk>/", views.task_detail, name="task"),
    path("tasks/<uuid:pk>/result/", views.task_result, name="task-result"),
    path("videos/<uuid:pk>/", views.video_detail, name="video"),
    path("videos/import/", import_views.video_import, name="video-import"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("api-auth/", include("rest_framework.urls")),
]
