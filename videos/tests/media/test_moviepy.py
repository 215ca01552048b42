"""The MoviePy engine: the same composition as the ffmpeg engine, with progress and cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from videos.engines.subtitles import parse_srt
from videos.engines.transcription.base import Segment, Word
from videos.media.ffmpeg import MediaCancelled
from videos.media.moviepy_render import compose_moviepy
from videos.media.plan import plan_composition
from videos.media.probe import probe
from videos.tests.clips import cached_clip
from videos.tests.media import framecheck as fc
from videos.tests.media.helpers import Background, ffmpeg_children


def moviepy(paths: list[Path], output: Path, *, trims=None, size="first", subtitles="none", segments=(), **kw):  # noqa: ANN001, ANN201
    """Plan as the job does for the MoviePy engine, then render."""
    clips = fc.clips_of(paths, trims)
    plan = plan_composition(clips, size=size, subtitles=subtitles, smart=False)
    return compose_moviepy(paths, clips, plan, output, clip_segments=segments, **{"preset": "ultrafast", **kw})


def mixed_clips() -> list[Path]:
    return [
        cached_clip(seconds=1, width=320, height=240, fps=25),
        cached_clip(seconds=1, width=640, height=360, fps=30, audio=False),
        cached_clip(seconds=1.5, width=240, height=320, fps=24, tone_hz=660),
    ]


def test_moviepy_output_matches_the_ffmpeg_engine(tmp_path: Path) -> None:
    paths = mixed_clips()
    seen: list[float] = []
    ours = moviepy(paths, tmp_path / "mp" / "out.mp4", on_progress=seen.append).probe
    reference = fc.render(paths, tmp_path / "ff.mp4").probe
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
    result = moviepy([a, a], tmp_path / "out.mp4", size=(160, 90)).probe
    assert (result.width, result.height) == (160, 90) and abs(result.duration_s - 2.0) <= 0.15


def test_moviepy_cancel_stops_the_render_and_leaves_nothing(tmp_path: Path) -> None:
    paths = [cached_clip(seconds=20, width=640, height=480), cached_clip(seconds=1)]
    out_dir = tmp_path / "out"
    cancel, started = threading.Event(), threading.Event()
    job = Background(
        moviepy, paths, out_dir / "out.mp4", cancel=cancel, preset="slow",
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


def test_moviepy_trims_and_carries_captions_as_a_track(tmp_path: Path) -> None:
    a, b = cached_clip(seconds=2), cached_clip(seconds=2, tone_hz=880)
    cue = Segment(1.2, 1.6, "late words", (Word(1.2, 1.4, "late"), Word(1.4, 1.6, "words")))
    done = moviepy(
        [a, b], tmp_path / "out.mp4", trims=[(0.4, 1.4), (0.0, None)], subtitles="soft", segments=[[], [cue]]
    )
    assert abs(done.probe.duration_s - 3.0) <= 0.1
    track = parse_srt(fc.subtitle_track(tmp_path / "out.mp4"))
    assert [(round(c.start, 2), round(c.end, 2), c.text) for c in track] == [(2.2, 2.6, "late words")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_moviepy_burns_captions_into_the_bottom(tmp_path: Path) -> None:
    a = cached_clip(seconds=1)
    cue = Segment(
        0.2, 0.8, "Drawn by MoviePy", (Word(0.2, 0.4, "Drawn"), Word(0.4, 0.6, " by"), Word(0.6, 0.8, " MoviePy"))
    )
    moviepy([a], tmp_path / "plain.mp4")
    moviepy([a], tmp_path / "burned.mp4", subtitles="burn", segments=[[cue]])
    crops = [fc.grey_frames(tmp_path / n, "iw:ih/4:0:ih*3/4") for n in ("plain.mp4", "burned.mp4")]
    diffs = [fc.difference(x, y) for x, y in zip(*crops, strict=True)]
    assert min(diffs[6:19]) > 2 and max(diffs[:4] + diffs[22:]) < 0.5, diffs
