"""OpenAPI: each route documented once (its trailing-slash form, though both answer), with its errors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


def drop_slashless_twins(endpoints, **kwargs):  # noqa: ANN001, ANN003, ANN201 - drf-spectacular hook
    with_slash = {path for path, *_ in endpoints if path.endswith("/")}
    return [e for e in endpoints if e[0].endswith("/") or f"{e[0]}/" not in with_slash]


class ErrorSerializer(serializers.Serializer):
    """Every 4xx/5xx body (API.md "Errors"); some add fields, e.g. `task_id`, `line`, `errors`."""

    detail = serializers.CharField(help_text="A sentence for people.")
    code = serializers.CharField(help_text="A snake_case code for programs, e.g. `invalid`, `task_conflict`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, help_text="Field -> messages."
    )


ERROR_MEANINGS = {
    400: "Invalid input (`invalid`, or a specific code such as `too_many_videos`).",
    401: "No or bad credentials (`not_authenticated`, `authentication_failed`).",
    403: "Not allowed (`permission_denied`, e.g. a session without its CSRF token).",
    404: "No such resource of yours (`not_found`; also a malformed id or page).",
    406: "No representation for the Accept header (`not_acceptable`).",
    409: "Conflicts with the task's or video's state (`task_conflict`, `not_cancellable`, `not_completed`, ...).",
    413: "Body or upload too large (`file_too_large`, `request_too_large`).",
    415: "Unsupported Content-Type (`unsupported_media_type`).",
    416: "The Range names no byte of the file (`range_not_satisfiable`).",
    429: "Too many requests (`throttled`) or active tasks (`user_task_limit`); see Retry-After.",
    500: "The work failed (`processing_failed`, with `task_id`).",
    503: "The server runs as many tasks as it can (`server_busy`); see Retry-After.",
    504: "The work outlasted SYNC_PROCESS_TIMEOUT_SECONDS (`timeout`, with `task_id`).",
}
# Answers particular to a few operations: (path suffix, method) -> codes.
_EXTRA_ERRORS = {
    ("/result/", "get"): {409},
    ("/srt_media/sync/", "post"): {409, 500, 504},
    ("/file/", "get"): {416},
    ("/thumbnail/", "get"): {416},
}


class MontageAutoSchema(AutoSchema):
    """drf-spectacular's schema plus every error answer each operation can give, decided in one place."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):  # noqa: ANN001, ANN201
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error_ref = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        for code in sorted(self._error_codes(path, method.lower(), operation)):
            responses.setdefault(
                str(code),
                {"description": ERROR_MEANINGS[code], "content": {"application/json": {"schema": error_ref}}},
            )
        return operation

    def _map_basic_serializer(self, serializer, direction):  # noqa: ANN001, ANN202
        """A model's output always carries every field (null or not): mark them all required.

        drf-spectacular marks only fields that are required on input, so a task's `status` or a video's
        `title` (model fields with defaults) looked optional in answers.
        """
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response" and isinstance(serializer, serializers.ModelSerializer):
            schema["required"] = sorted(schema.get("properties", {}))
        return schema

    def _error_codes(self, path: str, method: str, operation: dict[str, Any]) -> set[int]:
        codes = {406, 429}  # any DRF view: content negotiation and the request throttles
        if self.get_auth():
            codes |= {401, 403}
        if "{" in path:
            codes.add(404)
        if operation.get("requestBody") or method in ("post", "put", "patch"):
            codes |= {400, 413, 415}
        if any(p.get("in") == "query" for p in operation.get("parameters", [])):
            codes.add(400)
        if any(p.get("name") == "page" for p in operation.get("parameters", [])):
            codes.add(404)  # a page past the end
        responses = operation.get("responses", {})
        if "202" in responses or method == "delete":
            codes.add(409)  # a task in the way, or one that cannot be cancelled
        if "AsyncTaskResponse" in str(responses.get("202", "")):
            codes.add(503)  # starts work: the task limits apply
        for (suffix, verb), extra in _EXTRA_ERRORS.items():
            if path.endswith(suffix) and method == verb:
                codes |= extra
        return codes
