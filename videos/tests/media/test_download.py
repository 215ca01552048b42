"""yt-dlp as a library against local servers (127.0.0.1 only): direct links byte for byte, HLS made by
ffmpeg, a page with a <video>, refusals, the size limit as bytes arrive, cancel, stall, redirects."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from videos.media import process
from videos.media.download import DownloadCancelled, DownloadError, DownloadTooLargeError, download
from videos.net import url_guard
from videos.tests import clips
from videos.tests.media_server import MediaServer

FFMPEG = "/usr/bin/ffmpeg"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "hls").mkdir(parents=True)
    clips.make_clip(root / "clip.mp4", seconds=2)
    clips.make_clip(root / "long.mp4", seconds=8)
    subprocess.run(
        [FFMPEG, "-y", "-loglevel", "error", "-i", str(root / "long.mp4"), "-c:v", "libx264", "-preset", "veryfast",
         "-g", "50", "-c:a", "aac", "-f", "hls",
         "-hls_time", "2", "-hls_playlist_type", "vod", str(root / "hls" / "index.m3u8")],
        check=True,
    )  # fmt: skip
    (root / "page.html").write_text(
        "<html><head><title>Our talk</title></head><body><video controls src='/clip.mp4'></video></body></html>"
    )
    (root / "plain.html").write_text("<html><head><title>Nothing</title></head><body><p>No media.</p></body></html>")
    return root


def fetch(url: str, work: Path, **kw) -> object:  # noqa: ANN003
    options = {"max_bytes": 50 * 1024 * 1024, "stall_s": 10, "allow_private": True, "ffmpeg": FFMPEG, **kw}
    return download(url, work_dir=work, **options)


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout)


def test_a_direct_link_is_stored_byte_for_byte_with_progress(site, tmp_path):  # noqa: ANN001
    seen: list[float] = []
    with MediaServer(site) as server:
        got = fetch(server.url("clip.mp4"), tmp_path / "w", on_progress=seen.append)
    assert got.direct and got.path.read_bytes() == (site / "clip.mp4").read_bytes()
    assert got.size_bytes == (site / "clip.mp4").stat().st_size
    assert seen == sorted(seen) and seen[-1] >= 0.99


def test_an_hls_playlist_made_by_ffmpeg_becomes_one_file(site, tmp_path):  # noqa: ANN001
    children: list[int] = []
    with MediaServer(site) as server, process.attempt_scope("task-x:1", children.append):
        got = fetch(server.url("hls/index.m3u8"), tmp_path / "w")
        fragments = [item.path for item in server.log if item.path.endswith(".ts")]
    assert not got.direct and len(fragments) == 4
    assert abs(probe_duration(got.path) - 8.0) < 0.3
    assert children  # the ffmpeg that remuxed the fragments started as the attempt's recorded child


def test_a_page_with_an_embedded_video_is_found_by_the_generic_extractor(site, tmp_path):  # noqa: ANN001
    with MediaServer(site) as server:
        got = fetch(server.url("page.html"), tmp_path / "w")
    assert got.path.read_bytes() == (site / "clip.mp4").read_bytes()
    assert got.title.startswith("Our talk")


def test_a_404_and_a_page_without_media_fail_with_human_messages(site, tmp_path):  # noqa: ANN001
    with MediaServer(site) as server:
        with pytest.raises(DownloadError, match="404"):
            fetch(server.url("missing.mp4"), tmp_path / "a")
        with pytest.raises(DownloadError, match="No video or audio was found at http://127.0.0.1"):
            fetch(server.url("plain.html"), tmp_path / "b")


def test_a_file_over_the_limit_stops_as_its_bytes_arrive(site, tmp_path):  # noqa: ANN001
    (site / "huge.mp4").write_bytes(b"\0" * (64 * 1024 * 1024))  # far more than the socket buffers hold
    with MediaServer(site) as server:
        with pytest.raises(DownloadTooLargeError, match="file_too_large"):
            fetch(server.url("huge.mp4"), tmp_path / "w", max_bytes=1024 * 1024)
        time.sleep(0.3)  # let the server notice the closed connection
        served = server.bytes_sent("/huge.mp4")
    assert served < 16 * 1024 * 1024, served
    assert not (tmp_path / "w").exists()


def test_an_hls_download_over_the_limit_stops_between_fragments(site, tmp_path):  # noqa: ANN001
    with MediaServer(site) as server:
        with pytest.raises(DownloadTooLargeError):
            fetch(server.url("hls/index.m3u8"), tmp_path / "w", max_bytes=100 * 1024)
        fragments = [item.path for item in server.log if item.path.endswith(".ts")]
    assert len(fragments) < 4


def test_cancel_stops_a_slow_download_within_a_second_and_removes_the_partial_file(site, tmp_path):  # noqa: ANN001
    cancel = threading.Event()
    work = tmp_path / "w"
    with MediaServer(site, rate=64 * 1024, chunk=8 * 1024) as server:
        asked: list[float] = []
        timer = threading.Timer(1.0, lambda: (asked.append(time.monotonic()), cancel.set()))
        timer.start()
        with pytest.raises(DownloadCancelled):
            fetch(server.url("long.mp4"), work, cancel=cancel)
        elapsed = time.monotonic() - asked[0]
    assert elapsed < 1.0, elapsed  # stopped within a second of the cancel
    assert 0 < server.bytes_sent("/long.mp4") < (site / "long.mp4").stat().st_size
    assert not work.exists()


@pytest.mark.parametrize("stall_after", [1, 64 * 1024])  # while yt-dlp looks at the URL; mid-download
def test_a_stalled_download_fails_with_a_clear_message(site, tmp_path, stall_after):  # noqa: ANN001
    with MediaServer(site, stall_after=stall_after, chunk=1 if stall_after == 1 else 16 * 1024) as server:
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match=r"stalled: no data arrived for 1\.5 s"):
            fetch(server.url("long.mp4"), tmp_path / "w", stall_s=1.5)
        elapsed = time.monotonic() - t0
        assert max(item.sent for item in server.log) == stall_after
    assert elapsed < 8


def test_a_part_file_is_continued_with_a_range_request(site, tmp_path):  # noqa: ANN001
    work = tmp_path / "w"
    work.mkdir()
    data = (site / "long.mp4").read_bytes()
    (work / "media.mp4.part").write_bytes(data[:100_000])  # what an interrupted attempt left
    with MediaServer(site) as server:
        got = fetch(server.url("long.mp4"), work)
        ranges = [item.range_start for item in server.log if item.path == "/long.mp4" and item.range_start]
    assert got.path.read_bytes() == data
    assert ranges == [100_000]


def test_private_addresses_are_refused_unless_allowed(site, tmp_path):  # noqa: ANN001
    with MediaServer(site) as server:
        with pytest.raises(DownloadError, match="127.0.0.1 is a loopback address"):
            fetch(server.url("clip.mp4"), tmp_path / "w", allow_private=False)
        assert server.log == []  # refused before connecting


def test_a_redirect_to_loopback_is_refused_with_the_allow_setting_off(site, tmp_path, monkeypatch):  # noqa: ANN001
    """127.0.0.2 stands in for a public host (a stub classifier); the hop to 127.0.0.1 is judged for real."""
    real = url_guard.non_public_reason
    monkeypatch.setattr(url_guard, "non_public_reason", lambda a: None if str(a) == "127.0.0.2" else real(a))
    with MediaServer(site, host="127.0.0.2") as public, MediaServer(site) as target:
        with pytest.raises(DownloadError, match=r"Refused to connect: .*127\.0\.0\.1 is a loopback address"):
            fetch(f"{public.url('redirect')}?to={target.url('clip.mp4')}", tmp_path / "w", allow_private=False)
        assert [(item.path, item.status) for item in public.log] == [("/redirect", 302)]
        assert target.log == []  # the hop was refused before it connected


def test_yt_dlp_may_not_start_an_ffmpeg_that_fetches_a_url_itself(tmp_path):  # noqa: ANN001
    from videos.media.download import _ChildPopen

    with pytest.raises(PermissionError, match="fetch it by itself"):
        _ChildPopen([FFMPEG, "-i", "http://127.0.0.1:9/x.m3u8", str(tmp_path / "o.mp4")])
    done = _ChildPopen.run([FFMPEG, "-version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert done[2] == 0 and done[0].startswith(b"ffmpeg version")
