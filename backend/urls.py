"""Root URLs: the API, the pages, the admin, health."""

from django.contrib import admin
from django.urls import include, path, re_path

from videos.api.errors import not_found_handler
from videos.api.tasks import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("videos.api.urls")),
    # Any other /api/ path (also a malformed id) is a JSON 404, with DEBUG on too.
    re_path(r"^api/", not_found_handler),
    path("healthz", healthz, name="healthz"),
    path("healthz/", healthz),
    path("", include("videos.urls")),
]

handler400 = "videos.api.errors.bad_request_handler"
handler404 = "videos.api.errors.not_found_handler"
handler500 = "videos.api.errors.server_error_handler"
