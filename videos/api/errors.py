"""One exception handler: every 4xx/5xx body is {"detail", "code", ...}."""

from __future__ import annotations

from typing import Any

from django.core import signals
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.log import log_response
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
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


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _error(status_code: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


@csrf_exempt  # the catch-all answers 404 to every method: a POST must not meet the HTML CSRF page first
def not_found_handler(request, exception=None):  # noqa: ANN001, ANN201 - Django's handler signature
    """JSON 404 under /api/, Django's page elsewhere."""
    if is_api(request):
        return _error(status.HTTP_404_NOT_FOUND, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def bad_request_handler(request, exception=None):  # noqa: ANN001, ANN201
    """JSON 400 under /api/ (Django's own refusals: malformed multipart, too many fields)."""
    if is_api(request):
        return _error(status.HTTP_400_BAD_REQUEST, "invalid", "The request is malformed.")
    return defaults.bad_request(request, exception)


def server_error_handler(request):  # noqa: ANN001, ANN201
    """JSON 500 under /api/ (the error shape holds for every 4xx/5xx)."""
    if is_api(request):
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error", "Internal server error.")
    return defaults.server_error(request)


def csrf_failure(request, reason=""):  # noqa: ANN001, ANN201 - settings.CSRF_FAILURE_VIEW
    """JSON 403 under /api/ (session clients without the token), Django's page elsewhere."""
    if is_api(request):
        return _error(status.HTTP_403_FORBIDDEN, "permission_denied", f"CSRF check failed: {reason}")
    return csrf.csrf_failure(request, reason)


def api_exception_response(request: HttpRequest, exc: Exception) -> JsonResponse:
    """What an exception that escaped a view answers under /api/, whatever DEBUG says.

    With DEBUG on Django would render its debug page (settings, paths, code) instead of the contract's
    JSON; the error is still logged and `got_request_exception` still fires, as Django does.
    """
    if isinstance(exc, Http404):
        return _error(status.HTTP_404_NOT_FOUND, "not_found", "Not found.")
    if isinstance(exc, PermissionDenied):
        return _error(status.HTTP_403_FORBIDDEN, "permission_denied", "You do not have permission to do this.")
    if isinstance(exc, RequestDataTooBig):
        return _error(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "request_too_large", str(exc))
    if isinstance(exc, SuspiciousOperation):
        response = _error(status.HTTP_400_BAD_REQUEST, "invalid", "The request is malformed.")
        log_response("Bad request: %s", request.path, response=response, request=request, exception=exc)
        return response
    signals.got_request_exception.send(sender=None, request=request)
    response = server_error_handler(request)
    log_response(
        "Internal Server Error: %s", request.path, response=response, request=request, exception=exc
    )
    return response
