"""`idempotent(View)`: the Idempotency-Key behaviour of every starting POST, applied in api/urls.py.

The claim commits first, in a transaction of its own (the unique index lets one of any number of
concurrent twins have it; the others see "in progress"). The task the view creates is linked to the
claim inside the transaction that creates it, and the answer is stored when the view returns: a key
never starts a second task, even when its process dies between the two.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from videos.api.serializers import accepted
from videos.exceptions import IdempotencyInProgressError, InvalidInputError
from videos.idempotency.models import IdempotencyKey
from videos.idempotency.services import (
    claim_context,
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
)
from videos.models import ProcessingTask

HEADER = "Idempotency-Key"
KEY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="1-255 printable ASCII characters: the same request sent again with this key within "
    "IDEMPOTENCY_TTL_HOURS replays the first answer instead of starting the work twice.",
)


def check_key(key: str) -> str:
    if not 1 <= len(key) <= 255 or any(not 0x20 <= ord(ch) <= 0x7E for ch in key):
        message = "Idempotency-Key must be 1-255 printable ASCII characters."
        raise InvalidInputError(message, errors={HEADER: [message]})
    return key


def _file_digest(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def request_fingerprint(request: Request) -> str:
    """SHA-256 over method, path (slash or not), query and body; multipart files count by their SHA-256."""
    data = request.data
    if hasattr(data, "lists"):  # QueryDict: form or multipart, files included
        body: Any = {
            key: [_file_digest(v) if isinstance(v, UploadedFile) else str(v) for v in values]
            for key, values in sorted(data.lists())
        }
    else:
        body = data
    query = sorted(request.query_params.lists())
    canonical = json.dumps(
        [request.method, request.path.rstrip("/"), query, body], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def answer_idempotently(request: Request, handler: Callable[[], Response]) -> Response:
    """Run `handler` once per (user, Idempotency-Key); replay its 2xx answer to the same request."""
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    check_key(key)
    record, mine = idempotency_claim(owner=request.user, key=key, fingerprint=request_fingerprint(request))
    if not mine:
        return replay(record)
    try:
        with claim_context(record):
            response = handler()
    except BaseException:
        idempotency_release(record=record)
        raise
    if 200 <= response.status_code < 300:
        location = response.get("Location", "")
        idempotency_complete(record=record, status=response.status_code, body=response.data, location=location)
    else:
        idempotency_release(record=record)
    return response


def replay(record: IdempotencyKey) -> Response:
    """The stored answer; for a request that died after its task committed, the task's 202."""
    if record.state != IdempotencyKey.State.DONE:
        task = ProcessingTask.objects.filter(pk=record.task_id).first() if record.task_id else None
        if task is None:  # its task was purged meanwhile: nothing left to answer with
            raise IdempotencyInProgressError(retry_after=1)
        response = accepted(task)
        body, status, location = response.data, response.status_code, response["Location"]
    else:
        body, status, location = record.response_body, record.response_status, record.response_location
    headers = {"Idempotent-Replayed": "true"}
    if location:
        headers["Location"] = location
    return Response(body, status=status, headers=headers)


def idempotent(view: type[APIView]) -> type[APIView]:
    """`view` with its POST answered through answer_idempotently (and the header in the schema)."""
    original = view.post  # type: ignore[attr-defined]

    @functools.wraps(original)
    def post(self: APIView, request: Request, *args: Any, **kwargs: Any) -> Response:
        return answer_idempotently(request, lambda: original(self, request, *args, **kwargs))

    post.kwargs = dict(getattr(original, "kwargs", {}))  # type: ignore[attr-defined]  # own copy: the original keeps its schema
    post = extend_schema(parameters=[KEY_PARAMETER])(post)
    return type(view.__name__, (view,), {"post": post, "__doc__": view.__doc__, "__module__": view.__module__})
