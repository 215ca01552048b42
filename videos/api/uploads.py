"""Uploads the API takes: written to disk by storage-aware handlers, refused early when over MAX_UPLOAD_MB."""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest

from videos.exceptions import FileTooLargeError
from videos.services.uploads import StorageAwareUploadHandler
from videos.services.videos import too_large_error, upload_limit_bytes

# Multipart boundaries, part headers and a title: what a request may carry beyond the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024


class UploadLimitHandler(FileUploadHandler):
    """Refuse an oversize upload early: by Content-Length before reading, then by the bytes streamed."""

    def __init__(self, request: HttpRequest, *, limit: int, others: list[FileUploadHandler]) -> None:
        super().__init__(request)
        self.limit = limit
        self.others = others  # the handlers that write the file, whose partial output we discard

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):  # noqa: ANN001, ANN201, N803
        if content_length and content_length > self.limit + FORM_OVERHEAD_BYTES:
            raise self._refuse(content_length)
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:  # a lying or absent Content-Length
            raise self._refuse(None)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _refuse(self, size: int | None) -> FileTooLargeError:
        for handler in self.others:
            partial = getattr(handler, "file", None)
            if partial is not None:
                partial.close()  # a temporary upload file deletes itself on close
        return too_large_error(size)


def limited_upload_handlers(request: HttpRequest) -> list[FileUploadHandler]:
    """The handlers of a POST that carries media: always on disk (ffprobe needs a path), within the limit."""
    writer = StorageAwareUploadHandler(request)
    return [UploadLimitHandler(request, limit=upload_limit_bytes(), others=[writer]), writer]
