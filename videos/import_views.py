"""The library's "Import from URL" form without JavaScript: start the import, then show its task page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from videos.exceptions import MontageError
from videos.services.imports import import_start


@login_required
@require_POST
def video_import(request: HttpRequest) -> HttpResponse:
    """POST url (+ transcribe): the task page on success, the library with the reason otherwise."""
    try:
        task = import_start(
            owner=request.user,  # type: ignore[arg-type]
            url=request.POST.get("url", ""),
            transcribe=request.POST.get("transcribe") == "1",
        )
    except MontageError as exc:
        messages.error(request, exc.detail, extra_tags="import")
        return redirect("library")
    return redirect("task", pk=task.pk)
