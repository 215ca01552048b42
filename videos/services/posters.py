"""Poster frames made as a video is stored, so its library tile shows a picture at once (no reprocess needed)."""

from __future__ import annotations

import logging
from pathlib import Path

from videos.media.audio import thumbnail
from videos.media.ffmpeg import MediaError
from videos.media.probe import ProbeResult
from videos.models import Video
from videos.services.pipeline import video_thumbnail_replace
from videos.services.uploads import owned_tempfile

log = logging.getLogger("montage.videos")


def video_poster_make(*, video: Video, probe: ProbeResult) -> str | None:
    """Store a poster frame of a just-stored video (one ffmpeg seek); returns its storage name, None for audio.

    A frame that cannot be cut never refuses the upload: the file itself was checked already, and a
    reprocess makes the thumbnail again.
    """
    if not probe.has_video:
        return None
    try:
        source = Path(video.file.path)
    except NotImplementedError:  # remote storage: ffmpeg needs a local file; the reprocess step copes
        return None
    try:
        with owned_tempfile(".jpg") as scratch:
            image = thumbnail(source, Path(scratch.name), info=probe)
            return video_thumbnail_replace(video=video, image=image)
    except (MediaError, OSError) as exc:
        log.warning("video.poster_failed video_id=%s error=%s", video.pk, exc)
        return None
