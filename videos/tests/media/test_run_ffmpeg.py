"""run_ffmpeg: progress from -progress pipe:1, cancel that stops the child at once, failures with stderr."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import ffmpeg as ffmpeg_python
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.media.ffmpeg import MediaCancelled, MediaError, ProgressReader, run_ffmpeg, stop_process
from videos.media.probe import probe
from videos.tests.clips import cached_clip
from videos.tests.media.helpers import Background, ffmpeg_children, pid_gone


def lavfi_encode(output: Path, *, seconds: float, size: str = "320x240", preset: str = "veryfast") -> list[str]:
    return [
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
        "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", str(output),
    ]  # fmt: skip


@given(st.lists(st.one_of(st.integers(-(10**9), 10**11), st.sampled_from(["N/A", "", "x", "12.5"])), max_size=80))
def test_any_out_time_sequence_gives_a_monotonic_fraction_below_one(values: list) -> None:
    reader = ProgressReader(expected_duration=20.0)
    seen = [reader.fraction]
    for value in values:
        moved = reader.feed(f"out_time_us={value}")
        if moved is not None:
            assert moved > seen[-1]
            seen.append(moved)
    assert all(0.0 <= f < 1.0 for f in seen) and seen == sorted(seen)
    reader.feed("progress=end")
    assert reader.ended and reader.fraction < 1.0


def test_reader_ignores_noise_and_reads_speed() -> None:
    reader = ProgressReader(expected_duration=None)
    assert reader.feed("out_time_us=5000000") is None  # nothing to divide by: no fraction at all
    for line in ("frame=12", "bogus", "speed=N/A", "speed=2.5x", "progress=continue"):
        reader.feed(line)
    assert reader.speed == 2.5 and not reader.ended


def test_progress_is_monotonic_and_reaches_one_only_when_the_file_is_complete(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    seen: list[float] = []
    complete_at_one: list[bool] = []
    speeds: list[float] = []

    def on_progress(fraction: float) -> None:
        seen.append(fraction)
        if fraction == 1.0:
            complete_at_one.append(abs(probe(output).duration_s - 3.0) < 0.1)

    run_ffmpeg(
        lavfi_encode(output, seconds=3), expected_duration=3.0, output=output, on_progress=on_progress,
        on_speed=speeds.append,
    )  # fmt: skip
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] == 1.0 and seen.count(1.0) == 1 and all(f < 1.0 for f in seen[:-1])
    assert complete_at_one == [True]
    assert speeds and all(s > 0 for s in speeds)
    assert ffmpeg_children() == set()


def test_args_compiled_by_ffmpeg_python_run_as_they_are(tmp_path: Path) -> None:
    output = tmp_path / "small.mp4"
    stream = ffmpeg_python.input(str(cached_clip(seconds=1))).output(str(output), vf="scale=160:-2", an=None)
    run_ffmpeg(stream.compile(), expected_duration=1.0, output=output)  # starts with "ffmpeg": dropped
    assert probe(output).width == 160 and not probe(output).has_audio


def test_cancel_mid_encode_stops_ffmpeg_within_half_a_second(tmp_path: Path) -> None:
    output = tmp_path / "long.mp4"
    cancel, started = threading.Event(), threading.Event()
    before = ffmpeg_children()
    job = Background(  # placebo: a SIGTERMed x264 would spend seconds flushing its lookahead
        run_ffmpeg, lavfi_encode(output, seconds=20, size="640x480", preset="placebo"), expected_duration=20.0,
        output=output, cancel=cancel, on_progress=lambda f: started.set(),
    )  # fmt: skip
    assert started.wait(60), "ffmpeg reported no progress"
    children = ffmpeg_children() - before
    assert len(children) == 1 and output.exists()  # it is really encoding into the file
    t0 = time.monotonic()
    cancel.set()
    assert job.join(2.0), "run_ffmpeg did not return within 2 s of the cancel"
    elapsed = time.monotonic() - t0
    assert isinstance(job.error, MediaCancelled), job.error
    assert all(pid_gone(pid) for pid in children)
    assert not output.exists()
    assert elapsed < 0.5


def test_cancel_kills_an_ffmpeg_blocked_opening_its_input(tmp_path: Path) -> None:
    fifo = tmp_path / "never-written.fifo"
    os.mkfifo(fifo)  # ffmpeg blocks opening it and does not act on SIGTERM there
    output = tmp_path / "out.mp4"
    cancel = threading.Event()
    job = Background(
        run_ffmpeg, ["-i", str(fifo), str(output)], expected_duration=1.0, output=output, cancel=cancel,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not ffmpeg_children() and time.monotonic() < deadline:
        time.sleep(0.02)
    children = ffmpeg_children()
    assert children
    time.sleep(0.2)  # let it reach the blocking open()
    t0 = time.monotonic()
    cancel.set()
    assert job.join(2.0)
    assert time.monotonic() - t0 < 0.5
    assert isinstance(job.error, MediaCancelled)
    assert all(pid_gone(pid) for pid in children) and not output.exists()


def test_stop_process_kills_and_reaps_a_child_that_traps_sigterm() -> None:
    import subprocess

    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 30"])
    time.sleep(0.2)
    t0 = time.monotonic()
    stop_process(proc)
    assert proc.returncode == -9 and time.monotonic() - t0 < 0.5 and pid_gone(proc.pid)


def test_failure_raises_media_error_with_ffmpeg_stderr(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    with pytest.raises(MediaError) as caught:
        run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), str(output)], expected_duration=1.0, output=output)
    assert "exit code" in str(caught.value) and "No such file or directory" in str(caught.value)
    assert not isinstance(caught.value, MediaCancelled)
    assert not output.exists()


def test_failure_after_writing_removes_the_partial_output(tmp_path: Path) -> None:
    import subprocess

    listing = tmp_path / "list.txt"
    listing.write_text(f"file '{cached_clip(seconds=1)}'\nfile '{tmp_path / 'gone.mp4'}'\n")
    output = tmp_path / "out.mp4"
    args = ["-xerror", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(output)]
    plain = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], capture_output=True)
    assert plain.returncode != 0 and output.stat().st_size > 0  # ffmpeg alone leaves the first clip behind
    with pytest.raises(MediaError) as caught:
        run_ffmpeg(args, expected_duration=2.0, output=output)
    assert "gone.mp4" in str(caught.value)
    assert not output.exists()


def test_an_exception_in_a_callback_stops_ffmpeg(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"

    def explode(fraction: float) -> None:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError, match="database went away"):
        run_ffmpeg(lavfi_encode(output, seconds=20, preset="slow"), expected_duration=20.0, output=output,
                   on_progress=explode)  # fmt: skip
    assert ffmpeg_children() == set() and not output.exists()
