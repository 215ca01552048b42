"""Serving a stored file over HTTP: the whole file (200), one byte Range (206) or 416, to any Accept header."""

from __future__ import annotations

import mimetypes
import re
from pathlib import PurePath
from typing import IO

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, JsonResponse
from django.http.response import HttpResponseBase
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request

from videos.models import Video

STREAM_BLOCK_BYTES = 256 * 1024


class RangeNotSatisfiable(Exception):
    """The Range header names no byte of the file (416)."""


_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single `bytes=` range, or None to send the whole file.

    Other units, multiple ranges and malformed headers are ignored (RFC 9110: a full 200 is the answer
    to them); a well-formed range that names no byte of the file raises RangeNotSatisfiable.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _RANGE_SPEC.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = (_position(text) for text in match.groups())
    if first_text == "":  # suffix: the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        raise RangeNotSatisfiable(header)
    return first, min(last, size - 1)


def _position(digits: str) -> str:
    """A byte position capped past any file (int() refuses over 4,300 digits: "bytes=999...9-" was a 500)."""
    significant = digits.lstrip("0") or ("0" if digits else "")
    return significant if len(significant) <= 19 else "9" * 19


class _FileSlice:
    """Reads at most `length` bytes of `fh` from `first` on (FileResponse streams it and closes it)."""

    def __init__(self, fh: IO[bytes], first: int, length: int) -> None:
        fh.seek(first)
        self._fh = fh
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data = self._fh.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._fh.close()


class _StreamResponse(FileResponse):
    block_size = STREAM_BLOCK_BYTES


def file_response(request: Request, field: FieldFile, download_name: str) -> HttpResponseBase:
    """200 with the whole file, or 206 with one byte range, or 416; always advertises byte ranges."""
    try:
        size = field.size
    except OSError:  # the row outlived its file (removed by hand): say so instead of a 500
        raise exceptions.NotFound("The file of this video is missing from storage.") from None
    content_type = mimetypes.guess_type(download_name)[0] or "application/octet-stream"
    try:
        wanted = byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        refused = JsonResponse(
            {"detail": f"The requested range is outside the file ({size} bytes).", "code": "range_not_satisfiable"},
            status=status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
        )
        refused["Content-Range"] = f"bytes */{size}"
        refused["Accept-Ranges"] = "bytes"
        return refused
    fh = field.storage.open(field.name or "", "rb")
    if wanted is None:
        response = _StreamResponse(fh, content_type=content_type, filename=download_name)
        response["Content-Length"] = str(size)
    else:
        first, last = wanted
        response = _StreamResponse(
            _FileSlice(fh, first, last - first + 1),
            status=status.HTTP_206_PARTIAL_CONTENT,
            content_type=content_type,
            filename=download_name,
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=0"
    return response


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """File views answer any Accept header (a <video> asks for video/*); their errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):  # noqa: ANN001, ANN201
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


def download_name(video: Video, field: FieldFile) -> str:
    """A friendly, header-safe file name: the title (or id) plus the stored extension."""
    stem = re.sub(r"[^\w.-]+", "_", video.title).strip("._") or str(video.pk)
    return f"{stem[:80]}{PurePath(field.name or '').suffix}"
