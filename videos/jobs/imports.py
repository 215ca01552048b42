"""The `import` job: download a URL (yt-dlp), probe and store it as the video's file, then transcribe it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings

from videos.exceptions import UnsupportedMediaError
from videos.jobs.reprocess import THUMBNAIL_NAME, transcribe_and_save_step
from videos.jobs.transcription import extract_step
from videos.media.audio import thumbnail
from videos.media.download import DownloadCancelled, DownloadError, download, remove_partial
from videos.media.ffmpeg import MediaError
from videos.media.probe import ProbeResult
from videos.services.imports import video_attach_download
from videos.services.pipeline import PipelineInputError, pipeline_video, video_thumbnail_replace
from videos.services.videos import end_decodes_or_refuse, probe_or_refuse, upload_limit_bytes
from videos.taskmanager.context import JobContext
from videos.taskmanager.registry import job

# Stage names are API.md's. Weights by expected time (docs/BENCHMARKS.md, "Import from a URL"): the
# download and the engine are the time; probing (with the end-decode check and a poster frame) and
# audio extraction take a fraction of a second per minute of media.
STEPS: dict[str, float] = {"downloading": 45, "probing": 3, "extracting_audio": 4, "transcribing": 48}
DOWNLOAD_DIR = "download"
SUMMARY_KEYS = ("segments", "words", "language", "language_probability", "engine", "model")


@job("import", steps=STEPS, video_group="segments")  # it writes the video's file and its segments
def import_url(
    ctx: JobContext, *, url: str, transcribe: bool = True, language: str | None = None, title: str = "", **_: Any
) -> dict[str, Any]:
    """Download the URL, store it as the task's video, and (unless told not to) transcribe it."""
    fetched = ctx.run_step("downloading", download_step, ctx, url)
    stored = ctx.run_step("probing", probe_step, ctx, url, fetched, title)
    transcript: dict[str, Any] = {}
    if transcribe and stored["has_audio"]:
        audio = ctx.run_step("extracting_audio", extract_step, ctx)
        transcript = ctx.run_step("transcribing", transcribe_and_save_step, ctx, audio, None, language)
    else:  # nothing to do in these steps: they complete at once, so the bar reaches 100
        ctx.run_step("extracting_audio", skipped_step, ctx)
        ctx.run_step("transcribing", skipped_step, ctx)
    return {**stored, "transcribed": bool(transcript), **{key: transcript.get(key) for key in SUMMARY_KEYS}}


def download_step(ctx: JobContext, url: str) -> dict[str, Any]:
    """yt-dlp into the task's scratch dir; a .part left by an interrupted attempt is continued."""
    try:
        got = download(
            url,
            work_dir=ctx.tmp_dir / DOWNLOAD_DIR,
            max_bytes=upload_limit_bytes(),
            stall_s=settings.IMPORT_STALL_TIMEOUT_S,
            allow_private=settings.IMPORT_ALLOW_PRIVATE_NETWORKS,
            ffmpeg=shutil.which(settings.FFMPEG_BINARY),
            on_progress=ctx.progress,
            cancel=ctx.cancel_event,
        )
    except DownloadCancelled:
        ctx.checkpoint()
        raise
    except DownloadError as exc:
        raise PipelineInputError(str(exc)) from None
    return {
        "path": str(got.path),
        "title": got.title,
        "extractor": got.extractor,
        "direct": got.direct,
        "size_bytes": got.size_bytes,
    }


def probe_step(ctx: JobContext, url: str, fetched: dict[str, Any], title: str) -> dict[str, Any]:
    """ffprobe the download (and decode its end), then move it into storage as the video's file."""
    path = Path(fetched["path"])
    if not path.is_file():  # the scratch dir is gone (another host resumed the task): fetch it again
        fetched = download_step(ctx, url)
        path = Path(fetched["path"])
    try:
        info = probe_or_refuse(path)
        end_decodes_or_refuse(path, info)
    except UnsupportedMediaError as exc:
        raise PipelineInputError(f"The URL did not give decodable media: {exc.detail}") from None
    ctx.checkpoint()
    video = video_attach_download(
        video=pipeline_video(ctx.video_id), path=path, probe=info, title=title or fetched["title"]
    )
    remove_partial(ctx.tmp_dir / DOWNLOAD_DIR)
    ctx.progress(0.7)
    poster = _poster(ctx, video, info)
    ctx.progress(1.0)
    return {
        "video_id": str(video.pk),
        "size_bytes": video.size_bytes,
        "duration_s": info.duration_s,
        "width": info.width,
        "height": info.height,
        "has_audio": bool(info.has_audio),
        "source_url": url,
        "title": video.title,
        "direct": fetched["direct"],
        "extractor": fetched["extractor"],
        "has_thumbnail": poster,
    }


def _poster(ctx: JobContext, video: Any, info: ProbeResult) -> bool:
    """A poster frame for the library card (none for audio); a frame that cannot be taken is no failure."""
    if not info.has_video:
        return False
    try:
        image = thumbnail(Path(video.file.path), ctx.tmp_dir / THUMBNAIL_NAME)
    except MediaError:
        return False
    video_thumbnail_replace(video=video, image=image)
    return True


def skipped_step(ctx: JobContext) -> dict[str, Any]:
    ctx.progress(1.0)
    return {"skipped": True}
