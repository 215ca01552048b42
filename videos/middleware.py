"""Logs each API request's duration; warns above SLOW_REQUEST_MS."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

log = logging.getLogger("montage.requests")


class RequestTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            elapsed_ms = (time.perf_counter() - started) * 1000
            level = logging.WARNING if elapsed_ms > settings.SLOW_REQUEST_MS else logging.INFO
            log.log(
                level,
                "request method=%s path=%s status=%s duration_ms=%.1f",
                request.method,
                request.path,
                response.status_code,
                elapsed_ms,
            )
            response["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        return response
