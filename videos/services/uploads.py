"""Upload temporary files: in a folder the project owns, named after their process, swept at start-up.

They live beside the media (MEDIA_ROOT/tmp/uploads unless UPLOAD_TMP_DIR says otherwise), so storing
an upload is a rename on the same disk, never a copy that can run out of room half-way. A request
killed mid-upload leaves its file behind; the next process to start removes every file whose process
is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler

from videos.exceptions import InsufficientStorageError, is_storage_error
from videos.taskmanager.recovery import pid_alive

log = logging.getLogger("montage.videos")
MAX_AGE_S = 24 * 3600  # even a live pid's file this old is a leftover (pids are reused)


def upload_tmp_dir() -> Path:
    folder = Path(settings.UPLOAD_TMP_DIR or Path(settings.MEDIA_ROOT) / "tmp" / "uploads")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def owned_tempfile(suffix: str = ".upload") -> tempfile._TemporaryFileWrapper[bytes]:
    """A self-deleting temporary file in upload_tmp_dir() whose name starts with our pid."""
    return tempfile.NamedTemporaryFile(prefix=f"{os.getpid()}-", suffix=suffix, dir=upload_tmp_dir())


class OwnedTemporaryUploadedFile(TemporaryUploadedFile):
    def __init__(self, name: str, content_type: str, size: int, charset: str | None, content_type_extra=None):  # noqa: ANN001
        ext = os.path.splitext(name)[1]
        UploadedFile.__init__(
            self, owned_tempfile(".upload" + ext), name, content_type, size, charset, content_type_extra
        )


class StorageAwareUploadHandler(TemporaryFileUploadHandler):
    """Streams to an owned temporary file; a full disk removes it and answers 507 insufficient_storage."""

    def new_file(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super(TemporaryFileUploadHandler, self).new_file(*args, **kwargs)
        try:
            self.file = OwnedTemporaryUploadedFile(
                self.file_name, self.content_type, 0, self.charset, self.content_type_extra
            )
        except OSError as exc:
            raise self._refuse(exc) from exc

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        try:
            self.file.write(raw_data)
        except OSError as exc:
            raise self._refuse(exc) from exc

    def file_complete(self, file_size: int) -> UploadedFile:
        try:
            self.file.flush()
        except OSError as exc:
            raise self._refuse(exc) from exc
        return super().file_complete(file_size)

    def _refuse(self, exc: OSError) -> Exception:
        partial = getattr(self, "file", None)
        if partial is not None:
            with contextlib.suppress(OSError):
                partial.close()  # deletes the temporary file
        if is_storage_error(exc):
            log.warning("upload.storage_full error=%s", exc)
            return InsufficientStorageError()
        return exc


def sweep_upload_tmp() -> int:
    """Remove upload temporary files left by processes that are gone (or very old ones); returns how many."""
    folder = upload_tmp_dir()
    removed = 0
    now = time.time()
    for path in folder.iterdir():
        owner = path.name.split("-", 1)[0]
        pid = int(owner) if owner.isdigit() else None
        try:
            old = now - path.stat().st_mtime > MAX_AGE_S
            gone = pid is not None and pid != os.getpid() and not pid_alive(pid)
            if (old or gone) and path.is_file():
                path.unlink()
                removed += 1
        except OSError:
            continue
    if removed:
        log.info("upload.tmp_swept removed=%s folder=%s", removed, folder)
    return removed
