"""One exception handler: every 4xx/5xx body is {"detail", "code", ...}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from videos.exceptions import InsufficientStorageError, MontageError, is_storage_error

DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotFound: "not_found",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "invalid",
    exceptions.ValidationError: "invalid",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OSError) and is_storage_error(exc):  # a full disk anywhere is the server's, not a bug
        exc = InsufficientStorageError()
    if isinstance(exc, MontageError):
        body = {"detail": exc.detail, "code": exc.code, **exc.extra}
        return Response(body, status=exc.status_code, headers=exc.headers)
    if isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unknown errors stay 500s
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), None)
    if isinstance(exc, (Http404,)):
        code = "not_found"
    elif isinstance(exc, PermissionDenied):
        code = "permission_denied"
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": _first_message(exc.detail),
            "code": "invalid",
            "errors": _as_field_errors(exc.detail),
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = {"detail": str(detail), "code": code or getattr(detail, "code", None) or "error"}
    return response


def _as_field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(field): _flat(msgs) for field, msgs in detail.items()}
    return {"non_field_errors": _flat(detail)}


def _flat(detail: Any, prefix: str = "") -> list[str]:
    """Nested DRF errors (list items, nested objects) as plain sentences: "item 2: Must be a valid UUID."."""
    if isinstance(detail, dict):
        return [
            message
            for key, value in detail.items()
            for message in _flat(value, f"{prefix}{f'item {key + 1}' if isinstance(key, int) else key}: ")
        ]
    if isinstance(detail, list):
        return [message for item in detail for message in _flat(item, prefix)]
    return [f"{prefix}{detail}"]


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, msgs in detail.items():
            msg = _first_message(msgs)
            if field == "non_field_errors":
                return msg
            return f"{f'item {field + 1}' if isinstance(field, int) else field}: {msg}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail) or "The request is invalid."


def not_found_handler(request, exception=None):  # noqa: ANN001, ANN201 - Django's handler signature
    """JSON 404 under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def server_error_handler(request):  # noqa: ANN001, ANN201
    """JSON 500 under /api/ (the error shape holds for every 4xx/5xx)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
    return defaults.server_error(request)
