"""plan_composition and compose() on real clips: stream copy when they match, one re-encode when not."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.media.composition import compose, filter_graph, plan_composition
from videos.media.ffmpeg import MediaCancelled, MediaError, ProbeResult, probe
from videos.tests.clips import cached_clip
from videos.tests.media.helpers import Background, ffmpeg_children, pid_gone

BASE = ProbeResult.from_dict(
    {
        "duration_s": 2.0, "size_bytes": 1000, "format_name": "mov,mp4", "has_video": True, "width": 320,
        "height": 240, "fps": 25.0, "video_codec": "h264", "pix_fmt": "yuv420p", "time_base": "1/12800",
        "has_audio": True, "audio_codec": "aac", "sample_rate": 48000, "channels": 2, "channel_layout": "stereo",
    }
)  # fmt: skip
CHANGES = {
    "width": 640, "height": 360, "fps": 30.0, "video_codec": "mpeg4", "pix_fmt": "yuv444p", "time_base": "1/15360",
    "audio_codec": "mp3", "sample_rate": 44100, "channel_layout": "mono", "has_audio": False,
}  # fmt: skip


def playable(path: Path) -> bool:
    """Decodes every frame of every stream without an error."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True)
    return done.returncode == 0 and not done.stderr.strip()


def test_identical_clips_plan_a_copy() -> None:
    plan = plan_composition([BASE, BASE, dataclasses.replace(BASE, duration_s=1.5)])
    assert (plan.mode, plan.width, plan.height, plan.fps, plan.expected_duration) == ("copy", 320, 240, 25.0, 5.5)
    assert "match" in plan.reason


@given(st.sampled_from(sorted(CHANGES)), st.integers(1, 3))
def test_any_difference_in_any_clip_plans_a_reencode_to_the_first_clip(field: str, index: int) -> None:
    clips = [BASE, BASE, BASE, BASE]
    clips[index] = dataclasses.replace(BASE, **{field: CHANGES[field]})
    plan = plan_composition(clips)
    assert plan.mode == "reencode" and (plan.width, plan.height, plan.fps) == (320, 240, 25.0)
    assert f"clip {index + 1}" in plan.reason


def test_a_requested_size_reencodes_to_even_dimensions() -> None:
    plan = plan_composition([BASE, BASE], size=(255, 145))
    assert (plan.mode, plan.width, plan.height) == ("reencode", 254, 144) and "requested" in plan.reason
    assert plan_composition([BASE, BASE], size=(320, 240)).mode == "copy"


def test_codecs_mp4_cannot_hold_are_reencoded_even_when_equal() -> None:
    odd = dataclasses.replace(BASE, audio_codec="pcm_s16le")
    assert plan_composition([odd, odd]).mode == "reencode"


def test_a_clip_without_video_is_refused() -> None:
    with pytest.raises(MediaError, match="Clip 2 has no video"):
        plan_composition([BASE, dataclasses.replace(BASE, has_video=False, width=None, height=None)])
    with pytest.raises(MediaError):
        plan_composition([])


def test_filter_graph_gives_silence_of_the_clip_length_where_audio_is_missing() -> None:
    mute = dataclasses.replace(BASE, has_audio=False, duration_s=1.25)
    graph = filter_graph([BASE, mute], plan_composition([BASE, mute]))
    assert "[1:a:0]" not in graph and "anullsrc=r=48000:cl=stereo,atrim=duration=1.250000" in graph
    assert graph.endswith("[v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a]")


def test_compatible_clips_are_copied_and_last_the_sum(tmp_path: Path) -> None:
    paths = [cached_clip(seconds=1), cached_clip(seconds=2, tone_hz=880), cached_clip(seconds=1.5, tone_hz=220)]
    clips = [probe(p) for p in paths]
    assert plan_composition(clips).mode == "copy"
    output = tmp_path / "out" / "joined.mp4"
    seen: list[float] = []
    result = compose(paths, clips, output, on_progress=seen.append)
    assert abs(result.duration_s - sum(c.duration_s for c in clips)) <= 0.1
    assert (result.width, result.height, result.has_audio) == (320, 240, True)
    assert result == probe(output) and playable(output)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert sorted(p.name for p in output.parent.iterdir()) == ["joined.mp4"]  # the concat list is gone


def test_mismatched_sizes_rates_and_missing_audio_reencode_into_one_playable_file(tmp_path: Path) -> None:
    paths = [
        cached_clip(seconds=1, width=320, height=240, fps=25),
        cached_clip(seconds=1, width=640, height=360, fps=30, audio=False),
        cached_clip(seconds=1.5, width=240, height=320, fps=24, tone_hz=660),
    ]
    clips = [probe(p) for p in paths]
    output = tmp_path / "mixed.mp4"
    seen: list[float] = []
    result = compose(paths, clips, output, on_progress=seen.append, preset="ultrafast")
    assert result.has_video and result.has_audio
    assert (result.width, result.height, result.fps) == (320, 240, 25.0)
    assert (result.video_codec, result.audio_codec, result.sample_rate, result.channels) == ("h264", "aac", 48000, 2)
    assert abs(result.duration_s - 3.5) <= 0.15
    assert playable(output)
    assert seen[-1] == 1.0 and seen == sorted(seen) and seen.count(1.0) == 1


def test_the_filter_graph_goes_to_ffmpeg_by_file_not_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """argv has hard limits (one argument at most 128 KB): 10,000 clips' graph was "Argument list too long"."""
    from videos.media import composition

    clip = cached_clip(seconds=0.2, width=64, height=48, fps=10)
    other = cached_clip(seconds=0.2, width=48, height=64, fps=10, audio=False)
    paths = [clip, other] * 30
    clips = [probe(p) for p in paths]
    calls: list[tuple[list[str], str]] = []
    real = composition.run_ffmpeg

    def spy(args: list[str], **kwargs: object) -> None:
        script = Path(args[args.index("-filter_complex_script") + 1])
        calls.append((args, script.read_text()))
        real(args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(composition, "run_ffmpeg", spy)
    result = compose(paths, clips, tmp_path / "many.mp4", preset="ultrafast")
    (args, graph), = calls
    assert "-filter_complex" not in args and graph == filter_graph(clips, plan_composition(clips))
    assert max(len(a) for a in args) < 4096 and "concat=n=60" in graph
    assert abs(result.duration_s - 12.0) <= 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.mp4"]  # the graph file is gone


def test_a_requested_size_is_honoured(tmp_path: Path) -> None:
    path = cached_clip(seconds=1)
    result = compose([path, path], [probe(path)] * 2, tmp_path / "small.mp4", size=(160, 90), preset="ultrafast")
    assert (result.width, result.height) == (160, 90) and abs(result.duration_s - 2.0) <= 0.15


@pytest.mark.parametrize("mixed", [False, True], ids=["copy", "reencode"])
def test_the_same_clip_may_appear_twice(tmp_path: Path, mixed: bool) -> None:
    a = cached_clip(seconds=1)
    b = cached_clip(seconds=1, width=256, height=144, audio=False) if mixed else a
    paths = [a, b, a]
    clips = [probe(p) for p in paths]
    result = compose(paths, clips, tmp_path / "twice.mp4", preset="ultrafast")
    assert plan_composition(clips).mode == ("reencode" if mixed else "copy")
    assert abs(result.duration_s - 3.0) <= 0.15 and playable(tmp_path / "twice.mp4")


def test_a_path_with_a_quote_is_listed_safely(tmp_path: Path) -> None:
    odd = tmp_path / "it's a clip.mp4"
    shutil.copy(cached_clip(seconds=1), odd)
    result = compose([odd, odd], [probe(odd)] * 2, tmp_path / "out.mp4")
    assert abs(result.duration_s - 2.0) <= 0.1


def test_a_missing_input_fails_cleanly(tmp_path: Path) -> None:
    good = cached_clip(seconds=1)
    output = tmp_path / "out.mp4"
    for mode_clips in ([probe(good)] * 2, [probe(good), probe(cached_clip(seconds=1, audio=False))]):
        with pytest.raises(MediaError, match="gone.mp4"):
            compose([good, tmp_path / "gone.mp4"], mode_clips, output, preset="ultrafast")
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cancel_during_reencode_leaves_nothing(tmp_path: Path) -> None:
    a = cached_clip(seconds=20, width=640, height=480)
    b = cached_clip(seconds=1, width=320, height=240, audio=False)
    output = tmp_path / "out.mp4"
    cancel, started = threading.Event(), threading.Event()
    job = Background(
        compose, [a, b], [probe(a), probe(b)], output, cancel=cancel, preset="slow",
        on_progress=lambda f: started.set(),
    )  # fmt: skip
    assert started.wait(60)
    children = ffmpeg_children()
    t0 = time.monotonic()
    cancel.set()
    assert job.join(2.0) and time.monotonic() - t0 < 2.0
    assert isinstance(job.error, MediaCancelled)
    assert children and all(pid_gone(pid) for pid in children)
    assert list(tmp_path.iterdir()) == []


def test_an_output_of_the_wrong_length_is_an_error_not_a_result(tmp_path: Path) -> None:
    good = cached_clip(seconds=1)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 2048)  # the concat demuxer skips what it cannot open and still exits 0
    output = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="lasts"):
        compose([good, broken], [probe(good)] * 2, output)
    assert not output.exists()
