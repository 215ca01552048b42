"""Logs each API request's duration; warns above SLOW_REQUEST_MS."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from videos.api.errors import api_exception_response, is_api

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


class ApiErrorMiddleware:
    """Errors that escape a view under /api/ answer the contract's JSON, also with DEBUG=1."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return api_exception_response(request, exception) if is_api(request) else None
