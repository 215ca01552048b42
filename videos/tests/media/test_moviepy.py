"""The MoviePy engine: the same composition as the ffmpeg engine, with progress and cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from videos.media.composition import compose
from videos.media.ffmpeg import MediaCancelled, probe
from videos.media.moviepy_render import compose_moviepy
from videos.tests.clips import cached_clip
from videos.tests.media.helpers import Background, ffmpeg_children


def mixed_clips() -> list[Path]:
    return [
        cached_clip(seconds=1, width=320, height=240, fps=25),
        cached_clip(seconds=1, width=640, height=360, fps=30, audio=False),
        cached_clip(seconds=1.5, width=240, height=320, fps=24, tone_hz=660),
    ]


def test_moviepy_output_matches_the_ffmpeg_engine(tmp_path: Path) -> None:
    paths = mixed_clips()
    seen: list[float] = []
    ours = compose_moviepy(paths, tmp_path / "mp" / "out.mp4", on_progress=seen.append, preset="ultrafast")
    reference = compose(paths, [probe(p) for p in paths], tmp_path / "ff.mp4", preset="ultrafast")
    assert (ours.width, ours.height, ours.has_audio, ours.has_video) == (
        reference.width, reference.height, reference.has_audio, reference.has_video,
    )  # fmt: skip
    assert (ours.video_codec, ours.audio_codec, ours.fps) == ("h264", "aac", 25.0)
    assert abs(ours.duration_s - reference.duration_s) <= 0.15
    assert ours == probe(tmp_path / "mp" / "out.mp4")
    assert len(seen) > 10 and seen == sorted(seen) and seen[-1] == 1.0 and seen.count(1.0) == 1
    assert sorted(p.name for p in (tmp_path / "mp").iterdir()) == ["out.mp4"]  # no temp audio left
    assert ffmpeg_children() == set()  # every reader and writer closed


def test_moviepy_honours_a_requested_size(tmp_path: Path) -> None:
    a = cached_clip(seconds=1)
    result = compose_moviepy([a, a], tmp_path / "out.mp4", size=(160, 90), preset="ultrafast")
    assert (result.width, result.height) == (160, 90) and abs(result.duration_s - 2.0) <= 0.15


def test_moviepy_cancel_stops_the_render_and_leaves_nothing(tmp_path: Path) -> None:
    paths = [cached_clip(seconds=20, width=640, height=480), cached_clip(seconds=1)]
    out_dir = tmp_path / "out"
    cancel, started = threading.Event(), threading.Event()
    job = Background(
        compose_moviepy, paths, out_dir / "out.mp4", cancel=cancel, preset="slow",
        on_progress=lambda f: f > 0.15 and started.set(),
    )  # fmt: skip
    assert started.wait(120), "the render reported no frame progress"
    t0 = time.monotonic()
    cancel.set()
    assert job.join(2.0), "compose_moviepy did not return within 2 s of the cancel"
    assert time.monotonic() - t0 < 2.0
    assert isinstance(job.error, MediaCancelled), job.error
    assert list(out_dir.iterdir()) == []
    assert ffmpeg_children() == set()
