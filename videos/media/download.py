"""Downloads from a URL through yt-dlp used as a library: direct media links, HLS playlists, pages it knows.

Every connection yt-dlp opens (so every redirect hop) goes through the outbound-URL guard
(`videos.net.url_guard.guarded_connection`); only its urllib handler is used, so no other HTTP stack
bypasses it, and no proxy. The ffmpeg it runs for merges and HLS fix-ups starts as our child (own
session, parent-death signal, attempt marker) like every other ffmpeg. yt-dlp runs on a helper thread
that the caller's thread watches: a cancel or a stall ends the wait at once, and the progress hook
raises at the helper's next block so yt-dlp stops too; the same hook stops a download once its bytes
pass the limit (at the first block when the server announces a larger size). A `.part` file left in
`work_dir` by an earlier attempt is continued with a Range request when the server allows it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yt_dlp
import yt_dlp.downloader.external
import yt_dlp.networking._urllib
import yt_dlp.postprocessor.ffmpeg
from yt_dlp.networking._urllib import UrllibRH
from yt_dlp.utils import Popen as YtdlpPopen

from videos.media import process
from videos.net.url_guard import UnsafeURLError, guarded_connection

OUTPUT_STEM = "media"  # work_dir/media.<ext>: the same name on every attempt, so a .part is continued
WATCH_INTERVAL_S = 0.1
STOP_WAIT_S = 0.5  # how long a stop waits for yt-dlp to notice (it may be inside a request)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DownloadError(Exception):
    """The URL gave no media: an HTTP error, no video found, a refused address, a stall (a human message)."""


class DownloadTooLargeError(DownloadError):
    """More bytes than the limit: stopped as they arrived."""


class DownloadCancelled(Exception):
    """The cancel Event was set; the partial file is removed."""


@dataclass
class Downloaded:
    path: Path
    title: str
    extractor: str
    direct: bool  # a direct media link, stored byte for byte
    size_bytes: int


@dataclass
class _State:
    """What the helper thread and the watching thread share."""

    abort: str | None = None  # "cancelled" | "stalled" | "too_large": the hook raises at the next block
    downloaded: dict[str, int] = field(default_factory=dict)  # bytes per file (a merge has two)
    fraction: float = 0.0
    last_bytes_at: float = field(default_factory=time.monotonic)
    refusal: str | None = None  # the guard's message when it refused an address
    too_large: bool = False
    children: list[int] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


class _Abort(Exception):
    pass


# The guard, installed into yt-dlp's urllib handler ------------------------------------------------
_policy = threading.local()


def _guarded_create_connection(address: tuple[str, int], timeout: Any = None, source_address: Any = None, **_: Any):  # noqa: ANN202
    """yt-dlp's create_connection with the address rule: refused unless every resolved address may be reached."""
    state: _State | None = getattr(_policy, "state", None)
    allow_private = bool(getattr(_policy, "allow_private", False))  # fail closed outside download()
    if state is not None:  # the stall clock runs from each connection (yt-dlp's start-up is not a stall)
        state.last_bytes_at = time.monotonic()
    try:
        return guarded_connection(address, timeout, source_address, allow_private=allow_private)
    except UnsafeURLError as exc:
        if state is not None and state.refusal is None:
            state.refusal = str(exc)
        raise OSError(str(exc)) from None  # what yt-dlp expects of a connection that cannot be made


yt_dlp.networking._urllib.create_connection = _guarded_create_connection


class _ChildPopen(YtdlpPopen):
    """yt-dlp's Popen, started as our child: own session, parent-death signal, attempt marker, recorded.

    A command that names a URL is refused: an ffmpeg fetching by itself (yt-dlp's fallback for streams
    its own downloaders cannot do) would open connections the address guard never sees.
    """

    def __init__(self, args: Any, *remaining: Any, **kwargs: Any) -> None:
        if any("://" in str(arg) for arg in (args if isinstance(args, list | tuple) else [args])):
            raise PermissionError("This stream needs ffmpeg to fetch it by itself, which imports do not allow.")
        super().__init__(args, *remaining, **process.child_popen_kwargs(kwargs))
        process.record_child(self.pid)


yt_dlp.postprocessor.ffmpeg.Popen = _ChildPopen
yt_dlp.downloader.external.Popen = _ChildPopen


class _GuardedYoutubeDL(yt_dlp.YoutubeDL):
    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        # Only the urllib handler: its connections are the guarded ones (requests/curl would bypass them).
        return super().build_request_director([UrllibRH], preferences)


class _Logger:
    """yt-dlp's messages: errors kept for the task's message, the rest dropped (quiet)."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def debug(self, msg: str) -> None:
        pass

    info = warning = debug

    def error(self, msg: str) -> None:
        self.state.messages.append(_ANSI.sub("", msg).removeprefix("ERROR: ").strip())


def _hook(state: _State, max_bytes: int) -> Callable[[dict[str, Any]], None]:
    def hook(d: dict[str, Any]) -> None:
        if state.abort:
            raise _Abort(state.abort)
        name = str(d.get("tmpfilename") or d.get("filename") or "")
        done = int(d.get("downloaded_bytes") or 0)
        if done > state.downloaded.get(name, 0):
            state.last_bytes_at = time.monotonic()
        state.downloaded[name] = done
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        if d.get("total_bytes") and int(d["total_bytes"]) > max_bytes or sum(state.downloaded.values()) > max_bytes:
            state.too_large = True
            state.abort = "too_large"  # every later block (the next fragment's too) raises as well
            raise _Abort("too_large")
        if d.get("status") == "finished":
            state.fraction = max(state.fraction, 0.99)
        elif total:
            state.fraction = max(state.fraction, min(0.99, done / float(total)))
        elif d.get("fragment_count"):
            state.fraction = max(state.fraction, min(0.99, (d.get("fragment_index") or 0) / d["fragment_count"]))

    return hook


def _options(work_dir: Path, state: _State, *, max_bytes: int, stall_s: float, ffmpeg: str | None) -> dict[str, Any]:
    return {
        "outtmpl": {"default": str(work_dir / f"{OUTPUT_STEM}.%(ext)s")},
        "paths": {"home": str(work_dir), "temp": str(work_dir)},
        "format": "bv*+ba/b",  # the best single file with audio and video, merged by ffmpeg when needed
        "continuedl": True,
        "nopart": False,
        "noplaylist": True,
        "playlistend": 1,
        "socket_timeout": stall_s,
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 1,
        "hls_prefer_native": True,  # fragments through our guarded connections, not an ffmpeg reading URLs
        "ffmpeg_location": ffmpeg,
        "proxy": "",
        "cachedir": False,
        "updatetime": False,
        "noprogress": True,
        "quiet": True,
        "no_warnings": False,
        "logger": _Logger(state),
        "progress_hooks": [_hook(state, max_bytes)],
        "check_formats": False,
    }


def download(
    url: str,
    *,
    work_dir: Path,
    max_bytes: int,
    stall_s: float,
    allow_private: bool,
    ffmpeg: str | None = None,
    on_progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> Downloaded:
    """Download `url` into `work_dir` (continuing a .part left there); raise DownloadError with a human message."""
    work_dir.mkdir(parents=True, exist_ok=True)
    state = _State()
    outcome: dict[str, Any] = {}
    scope = process.current_scope()

    def record(pid: int) -> None:
        state.children.append(pid)
        if scope is not None and scope[1] is not None:
            scope[1](pid)

    def run() -> None:
        _policy.allow_private, _policy.state = allow_private, state
        try:
            with process.attempt_scope(scope[0] if scope else "", record):
                with _GuardedYoutubeDL(
                    _options(work_dir, state, max_bytes=max_bytes, stall_s=stall_s, ffmpeg=ffmpeg)
                ) as ydl:
                    outcome["info"] = ydl.sanitize_info(ydl.extract_info(url, download=True))
        except BaseException as exc:  # handed to the watching thread
            outcome["error"] = exc
        finally:
            if state.abort in ("cancelled", "too_large"):  # stopped late: what it wrote meanwhile goes too
                remove_partial(work_dir)

    helper = threading.Thread(target=run, name="import-download", daemon=True)
    helper.start()
    reported = -1.0
    while helper.is_alive():
        helper.join(WATCH_INTERVAL_S)
        if on_progress is not None and state.fraction > reported:
            reported = state.fraction
            on_progress(state.fraction)
        if cancel is not None and cancel.is_set():
            _stop(helper, state, "cancelled", work_dir)
            raise DownloadCancelled()
        if state.too_large:
            _stop(helper, state, "too_large", work_dir)
            raise too_large(max_bytes)
        if time.monotonic() - state.last_bytes_at > stall_s:
            _stop(helper, state, "stalled", work_dir, keep_part=True)
            raise DownloadError(f"The download stalled: no data arrived for {stall_s:g} s (IMPORT_STALL_TIMEOUT_S).")
    return _result(url, work_dir, state, outcome, max_bytes)


def _stop(helper: threading.Thread, state: _State, why: str, work_dir: Path, *, keep_part: bool = False) -> None:
    """End yt-dlp's work: the hook raises at its next block, our ffmpeg children die now."""
    state.abort = why
    for pid in state.children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    helper.join(STOP_WAIT_S)
    if not keep_part:
        remove_partial(work_dir)


def remove_partial(work_dir: Path) -> None:
    """Remove what a download left in its folder (a cancelled or refused download keeps nothing)."""
    shutil.rmtree(work_dir, ignore_errors=True)


def _result(url: str, work_dir: Path, state: _State, outcome: dict[str, Any], max_bytes: int) -> Downloaded:
    error = outcome.get("error")
    info = outcome.get("info")
    if state.too_large:
        remove_partial(work_dir)
        raise too_large(max_bytes)
    if state.refusal is not None:
        remove_partial(work_dir)
        raise DownloadError(f"Refused to connect: {state.refusal}")
    if error is not None or not info:
        raise DownloadError(_human(error, state, url))
    path = _output_file(info, work_dir)
    if path is None:
        raise DownloadError(_human(None, state, url) if state.messages else "yt-dlp produced no file for this URL.")
    return Downloaded(
        path=path,
        title=str(info.get("title") or "")[:255],
        extractor=str(info.get("extractor_key") or info.get("extractor") or ""),
        direct=info.get("direct") is True,
        size_bytes=path.stat().st_size,
    )


def too_large(max_bytes: int) -> DownloadTooLargeError:
    """The failure API.md names: `file_too_large` in the task's error message."""
    return DownloadTooLargeError(
        f"file_too_large: the download is larger than the limit of {max_bytes / 1024 / 1024:g} MB (MAX_UPLOAD_MB)."
    )


def _output_file(info: dict[str, Any], work_dir: Path) -> Path | None:
    for item in info.get("requested_downloads") or []:
        candidate = Path(item.get("filepath") or item.get("_filename") or "")
        if candidate.is_file():
            return candidate
    found = [
        p
        for p in work_dir.glob(f"{OUTPUT_STEM}.*")
        if not p.name.endswith((".part", ".ytdl")) and ".part-Frag" not in p.name
    ]
    return found[0] if len(found) == 1 else None


def _human(error: BaseException | None, state: _State, url: str) -> str:
    """yt-dlp's own words, without its prefixes and colours; the URL is named when nothing else is."""
    text = state.messages[-1] if state.messages else _ANSI.sub("", str(error or "")).removeprefix("ERROR: ").strip()
    if "Unsupported URL" in text:
        return f"No video or audio was found at {url}."
    return text or f"The download of {url} failed."
