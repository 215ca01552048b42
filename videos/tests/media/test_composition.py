"""compose() on real clips: copy, smart rendering and re-encode; trims to the frame, joins in sync, sizes,
captions as a track or burned in, cancel and verification."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from videos.engines.subtitles import parse_srt
from videos.engines.transcription.base import Segment, Word
from videos.media import composition
from videos.media.composition import compose, filter_graph, filter_value
from videos.media.ffmpeg import MediaCancelled, MediaError
from videos.media.plan import Clip, plan_composition
from videos.media.probe import probe
from videos.tests.clips import cached_clip
from videos.tests.media import framecheck as fc
from videos.tests.media.helpers import Background, ffmpeg_children, pid_gone

FPS = 25


def small(**kw: object) -> Path:
    return cached_clip(**{"seconds": 2, "width": 320, "height": 240, "fps": FPS, **kw})


def video_duration(path: Path) -> float:
    """The picture's own length by ffprobe, and its frames agree (the container's may run an AAC frame longer)."""
    seconds = fc.video_stream_duration(path)
    assert abs(len(fc.grey_frames(path)) / FPS - seconds) < 0.5 / FPS
    return seconds


# Copy, smart, re-encode ---------------------------------------------------------------------------
def test_compatible_clips_are_copied_and_last_the_sum(tmp_path: Path) -> None:
    paths = [small(seconds=1), small(seconds=2, tone_hz=880), small(seconds=1.5, tone_hz=220)]
    output = tmp_path / "out" / "joined.mp4"
    seen: list[float] = []
    done = fc.render(paths, output, on_progress=seen.append)
    assert done.plan.mode == "copy"
    result = done.probe
    assert abs(result.duration_s - sum(probe(p).duration_s for p in paths)) <= 0.1
    assert (result.width, result.height, result.has_audio) == (320, 240, True)
    assert result == probe(output) and fc.decode_clean(output)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert sorted(p.name for p in output.parent.iterdir()) == ["joined.mp4"]  # the concat list is gone


def test_smart_rendering_copies_the_matching_clips_packet_for_packet(tmp_path: Path) -> None:
    a, b = small(seconds=2), small(seconds=2, tone_hz=880)
    odd = cached_clip(seconds=1, width=640, height=360, fps=30, audio=False)
    output = tmp_path / "smart.mp4"
    stages: list[str] = []
    seen: list[float] = []
    done = fc.render([a, odd, b], output, on_plan=lambda p: stages.append(p.stage), on_progress=seen.append)
    assert done.plan.mode == "smart" and stages == ["concatenate:smart"]
    assert [p.action for p in done.plan.parts] == ["copy", "encode", "copy"]
    assert done.plan.summary() == "smart: 2 clips stream-copied, 1 re-encoded (320x240 25 fps)"
    assert fc.decode_clean(output)  # no errors at either join
    assert abs(video_duration(output) - 5.0) <= 1 / FPS
    # The copied clips' frames are the sources' own packets (keyframes carry their parameter sets in-band).
    for source, part in ((a, done.plan.parts[0]), (b, done.plan.parts[2])):
        theirs = [p for p in fc.packets(source) if "K" not in p[0]]
        ours = [p for p in fc.packets(output, start=part.offset, end=part.offset + part.duration) if "K" not in p[0]]
        assert theirs and ours == theirs
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_mismatched_sizes_rates_and_missing_audio_reencode_into_one_playable_file(tmp_path: Path) -> None:
    paths = [
        cached_clip(seconds=1, width=320, height=240, fps=25, vcodec="mpeg4"),
        cached_clip(seconds=1, width=640, height=360, fps=30, audio=False),
        cached_clip(seconds=1.5, width=240, height=320, fps=24, tone_hz=660),
    ]
    output = tmp_path / "mixed.mp4"
    seen: list[float] = []
    done = fc.render(paths, output, on_progress=seen.append)
    assert done.plan.mode == "reencode"
    result = done.probe
    assert result.has_video and result.has_audio
    assert (result.width, result.height, result.fps) == (320, 240, 25.0)
    assert (result.video_codec, result.audio_codec, result.sample_rate, result.channels) == ("h264", "aac", 48000, 2)
    assert abs(result.duration_s - 3.5) <= 0.1 and fc.decode_clean(output)
    assert seen[-1] == 1.0 and seen == sorted(seen) and seen.count(1.0) == 1


# Trims --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", ["first", (480, 360)], ids=["smart", "reencode"])
def test_trimmed_output_lasts_the_sum_of_the_trims_within_a_frame(tmp_path: Path, size: object) -> None:
    a, b, c = small(seconds=3), small(seconds=2, tone_hz=880), small(seconds=3, tone_hz=220)
    trims = [(0.52, 1.73), (0.0, None), (1.11, 2.97)]
    output = tmp_path / "trimmed.mp4"
    done = fc.render([a, b, c], output, trims=trims, size=size)
    assert done.plan.mode == ("smart" if size == "first" else "reencode")
    wanted = (1.73 - 0.52) + probe(b).duration_s + (2.97 - 1.11)
    assert abs(video_duration(output) - wanted) <= 1 / FPS
    assert abs(done.probe.duration_s - wanted) <= 1 / FPS + 0.03  # the container: the AAC's last frame
    assert fc.decode_clean(output)


@pytest.mark.parametrize("size", ["first", (480, 360)], ids=["smart", "reencode"])
def test_the_first_frame_after_each_join_is_the_intended_source_frame(tmp_path: Path, size: object) -> None:
    """testsrc2 changes every frame: the output frame at each join must be nearest to the source frame at
    the trim's in point, not the one before or after (no frozen, dropped or black frame)."""
    a, b = small(seconds=3), small(seconds=3, width=320, height=240, tone_hz=880)
    trims = [(0.4, 1.2), (1.0, 2.0), (0.0, None), (0.72, 1.6)]
    output = tmp_path / "joins.mp4"
    done = fc.render([a, b, a, b], output, trims=trims, size=size)
    frames = fc.grey_frames(output)
    sources = {a: fc.grey_frames(a), b: fc.grey_frames(b)}
    for part, path in zip(done.plan.parts, [a, b, a, b], strict=True):
        first = frames[round(part.offset * FPS)]
        wanted = round(part.start * FPS)
        source = sources[path]
        near = fc.difference(first, source[wanted])
        neighbours = [fc.difference(first, source[i]) for i in (wanted - 1, wanted + 1) if 0 <= i < len(source)]
        assert near < 6 and all(near * 2 < other for other in neighbours), (part, near, neighbours)
        last = frames[round((part.offset + part.duration) * FPS) - 1]
        assert fc.difference(last, source[round(part.end * FPS) - 1]) < 6, part  # ... and the out point too


def test_a_trim_copies_the_whole_gops_inside_it_and_encodes_only_its_ends(tmp_path: Path) -> None:
    """Keyframes every second: 0.52-3.3 s is encoded 0.52-1.0, copied 1.0-3.0 (its packets as they are),
    encoded 3.0-3.3; every join shows the intended frame and the whole decodes cleanly."""
    src, other = small(seconds=4, gop=25), small(seconds=1, gop=25, tone_hz=880)
    output = tmp_path / "split.mp4"
    done = fc.render([other, src], output, trims=[(0.0, None), (0.52, 3.3)])
    assert done.plan.mode == "smart"
    spans = [(p.clip, p.action, p.start, p.end) for p in done.plan.parts]
    assert spans == [(0, "copy", 0.0, 1.0), (1, "encode", 0.52, 1.0), (1, "copy", 1.0, 3.0), (1, "encode", 3.0, 3.3)]
    assert fc.decode_clean(output)
    assert abs(video_duration(output) - (1.0 + 2.78)) <= 1 / FPS
    middle = done.plan.parts[2]
    theirs = [p for p in fc.packets(src, start=1.0, end=3.0) if "K" not in p[0]]
    ours = [p for p in fc.packets(output, start=middle.offset, end=middle.offset + middle.duration) if "K" not in p[0]]
    assert len(theirs) > 40 and ours == theirs
    frames, source = fc.grey_frames(output), fc.grey_frames(src)
    for part in done.plan.parts[1:]:
        first = frames[round(part.offset * FPS)]
        wanted = round(part.start * FPS)
        assert fc.difference(first, source[wanted]) * 2 < fc.difference(first, source[wanted - 1]), part


def test_sound_and_picture_stay_in_sync_after_five_joins(tmp_path: Path) -> None:
    """Six clips, each with a flash and a beep at the same instant, mixed sizes and trims: every flash and
    its beep in the output lie within 40 ms of each other."""
    made = [
        fc.make_flash_clip(tmp_path / f"f{i}.mp4", seconds=seconds, flash_at=flash, width=w, height=h)
        for i, (seconds, flash, w, h) in enumerate(
            [(2.0, 0.72, 320, 240), (1.5, 0.88, 320, 240), (2.2, 1.28, 160, 120), (1.7, 0.52, 320, 240),
             (2.0, 1.08, 320, 240), (1.9, 1.4, 240, 320)]
        )
    ]  # fmt: skip
    trims = [(0.0, None), (0.3, 1.45), (0.0, None), (0.1, 1.3), (0.0, None), (0.6, 1.8)]
    output = tmp_path / "sync.mp4"
    done = fc.render(made, output, trims=trims)
    assert done.plan.mode == "smart" and done.plan.copied >= 2
    times = fc.frame_times(output)
    flashes = [times[round(i * FPS)] for i in fc.onsets([fc.mean(f) - 16 for f in fc.grey_frames(output)], 100, FPS)]
    beeps = [fc.audio_start(output) + t for t in fc.onsets(fc.audio_samples(output), 1000, 48000)]
    assert len(flashes) == len(beeps) == 6, (flashes, beeps)
    drift = [abs(f - b) for f, b in zip(flashes, beeps, strict=True)]
    assert max(drift) <= 0.040, drift


# Size ---------------------------------------------------------------------------------------------
def test_a_requested_size_scales_to_fit_and_pads(tmp_path: Path) -> None:
    wide, tall = small(seconds=1), cached_clip(seconds=1, width=240, height=320, fps=25)
    done = fc.render([wide, tall], tmp_path / "small.mp4", size=(640, 360))
    assert (done.probe.width, done.probe.height) == (640, 360) and abs(done.probe.duration_s - 2.0) <= 0.1
    tall_frame = fc.grey_frames(tmp_path / "small.mp4")[-1]
    side = [tall_frame[y * fc.GREY_W + x] for y in range(fc.GREY_H) for x in range(4)]
    assert max(side) < 24  # the portrait clip is pillarboxed: black bars left and right, not stretched


def test_largest_takes_the_biggest_clip_and_copies_it(tmp_path: Path) -> None:
    big = cached_clip(seconds=1, width=640, height=360, fps=25)
    done = fc.render([small(seconds=1), big], tmp_path / "largest.mp4", size="largest")
    assert (done.probe.width, done.probe.height) == (640, 360)
    assert [p.action for p in done.plan.parts] == ["encode", "copy"]


# Captions -----------------------------------------------------------------------------------------
def cue(start: float, end: float, *words: str) -> Segment:
    step = (end - start) / len(words)
    timed = tuple(Word(start + i * step, start + (i + 1) * step, w) for i, w in enumerate(words))
    return Segment(start, end, " ".join(words), timed)


def test_soft_subtitles_are_a_track_with_the_cues_shifted(tmp_path: Path) -> None:
    a, b = small(seconds=2), small(seconds=3, tone_hz=880)
    segments = [
        [cue(0.2, 0.8, "before", "the", "cut"), cue(1.0, 1.8, "first", "clip")],
        [cue(1.5, 2.5, "second", "clip", "here")],
    ]
    output = tmp_path / "soft.mp4"
    done = fc.render([a, b], output, trims=[(0.9, None), (1.0, 2.1)], subtitles="soft", segments=segments)
    track = parse_srt(fc.subtitle_track(output))
    first, second = done.plan.parts
    assert first.start == 0.92  # the in point's frame (25 fps): the cues move with the picture
    assert abs(second.offset - 1.08) <= 1 / FPS
    got = [(round(c.start, 2), round(c.end, 2), c.text) for c in track]
    # clip 1 from 0.92 s: "before the cut" is gone, "first clip" moves back with it; clip 2 from 1.0 s to
    # 2.1 s: its cue starts 0.5 s in and is cut at the out point, keeping the words said before it.
    assert got == [
        (0.08, 0.88, "first clip"),
        (round(second.offset + 0.5, 2), round(second.offset + 1.1, 2), "second clip"),
    ], got
    assert fc.decode_clean(output)


def test_burned_captions_change_the_bottom_only_while_a_cue_is_on(tmp_path: Path) -> None:
    a = small(seconds=2)
    segments = [[cue(0.6, 1.4, "Burned", "in", "words")], []]
    plain, burned = tmp_path / "plain.mp4", tmp_path / "burned.mp4"
    fc.render([a, a], plain, preset="veryfast")
    done = fc.render([a, a], burned, subtitles="burn", segments=segments, preset="veryfast")
    assert [p.action for p in done.plan.parts] == ["encode", "copy"]  # only the clip with captions is drawn on
    bottom = [
        fc.difference(x, y)
        for x, y in zip(*(fc.grey_frames(p, "iw:ih/4:0:ih*3/4") for p in (plain, burned)), strict=True)
    ]
    top = [
        fc.difference(x, y) for x, y in zip(*(fc.grey_frames(p, "iw:ih/2:0:0") for p in (plain, burned)), strict=True)
    ]
    on = range(round(0.6 * FPS) + 1, round(1.4 * FPS) - 1)
    assert min(bottom[i] for i in on) > 3, bottom  # white letters with a black outline on the picture
    assert max(b for i, b in enumerate(bottom) if i not in range(round(0.6 * FPS) - 1, round(1.4 * FPS) + 1)) < 1
    assert max(top) < 1, top


def test_a_cue_that_runs_past_the_trim_is_cut_to_the_words_inside() -> None:
    from videos.media.captions import cut

    cues = cut([cue(1.0, 3.0, "one", "two", "three", "four")], 0.5, 2.0)
    assert [(c.start, c.end, c.text) for c in cues] == [(0.5, 1.5, "one two")]
    assert [w.word for w in cues[0].words] == ["one", "two"]


# Robustness ---------------------------------------------------------------------------------------
def test_the_filter_graph_goes_to_ffmpeg_by_file_not_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """argv has hard limits (one argument at most 128 KB): 10,000 clips' graph was "Argument list too long"."""
    clip = cached_clip(seconds=0.2, width=64, height=48, fps=10)
    other = cached_clip(seconds=0.2, width=48, height=64, fps=10, audio=False, vcodec="mpeg4")
    paths = [clip, other] * 30
    calls: list[tuple[list[str], str]] = []
    real = composition.run_ffmpeg

    def spy(args: list[str], **kwargs: object) -> None:
        script = Path(args[args.index("-filter_complex_script") + 1])
        calls.append((args, script.read_text()))
        real(args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(composition, "run_ffmpeg", spy)
    done = fc.render(paths, tmp_path / "many.mp4", size=(96, 72))
    ((args, graph),) = calls
    assert "-filter_complex" not in args and graph == filter_graph(fc.clips_of(paths), list(done.plan.parts), done.plan)
    assert max(len(a) for a in args) < 4096 and "concat=n=60" in graph
    assert abs(done.probe.duration_s - 12.0) <= 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.mp4"]  # the graph file is gone


def test_filter_values_are_escaped_for_both_parsing_levels() -> None:
    assert filter_value("/a b/it's:x,y[1];z.srt") == "/a b/it\\\\\\'s\\\\:x\\,y\\[1\\]\\;z.srt"


@pytest.mark.parametrize("mixed", [False, True], ids=["copy", "smart"])
def test_the_same_clip_may_appear_twice(tmp_path: Path, mixed: bool) -> None:
    a = cached_clip(seconds=1)
    b = cached_clip(seconds=1, width=256, height=144, audio=False) if mixed else a
    done = fc.render([a, b, a], tmp_path / "twice.mp4")
    assert done.plan.mode == ("smart" if mixed else "copy")
    assert abs(done.probe.duration_s - 3.0) <= 0.1 and fc.decode_clean(tmp_path / "twice.mp4")


def test_a_path_with_a_quote_is_listed_safely(tmp_path: Path) -> None:
    odd = tmp_path / "it's a clip.mp4"
    shutil.copy(cached_clip(seconds=1), odd)
    done = fc.render([odd, odd], tmp_path / "out.mp4")
    assert abs(done.probe.duration_s - 2.0) <= 0.1


def test_a_missing_input_fails_cleanly(tmp_path: Path) -> None:
    good = cached_clip(seconds=1)
    output = tmp_path / "out.mp4"
    for other in (good, cached_clip(seconds=1, audio=False)):
        clips = [Clip(probe(good)), Clip(probe(other))]
        with pytest.raises(MediaError, match="gone.mp4"):
            compose([good, tmp_path / "gone.mp4"], clips, plan_composition(clips), output, preset="ultrafast")
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cancel_during_reencode_leaves_nothing(tmp_path: Path) -> None:
    a = cached_clip(seconds=20, width=640, height=480)
    b = cached_clip(seconds=1, width=320, height=240, audio=False)
    output = tmp_path / "out.mp4"
    clips = [Clip(probe(a)), Clip(probe(b))]
    cancel, started = threading.Event(), threading.Event()
    job = Background(
        compose, [a, b], clips, plan_composition(clips, size=(640, 360)), output, cancel=cancel, preset="slow",
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


def test_a_smart_render_encodes_its_parts_side_by_side_and_a_cancel_stops_them_all(tmp_path: Path) -> None:
    odd = [cached_clip(seconds=20, width=640, height=480, fps=30, tone_hz=hz) for hz in (330, 550)]
    paths = [small(), odd[0], small(tone_hz=880), odd[1]]
    clips = [Clip(probe(p)) for p in paths]
    plan = plan_composition(clips)
    assert [p.action for p in plan.parts] == ["copy", "encode", "copy", "encode"]
    output, cancel, seen = tmp_path / "out.mp4", threading.Event(), []
    job = Background(compose, paths, clips, plan, output, cancel=cancel, preset="slow", on_progress=seen.append)
    assert composition.ENCODES_AT_ONCE >= 2
    both = set()

    def side_by_side() -> bool:
        both.update(ffmpeg_children())
        return len(ffmpeg_children()) >= 2

    deadline = time.monotonic() + 60
    while not side_by_side() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(ffmpeg_children()) >= 2, "the two parts were not encoded at once"
    t0 = time.monotonic()
    cancel.set()
    assert job.join(2.0) and time.monotonic() - t0 < 2.0
    assert isinstance(job.error, MediaCancelled)
    assert all(pid_gone(pid) for pid in both)
    assert list(tmp_path.iterdir()) == []
    assert seen == sorted(seen) and all(0 <= f < 1 for f in seen)


def test_an_output_of_the_wrong_length_is_an_error_not_a_result(tmp_path: Path) -> None:
    good = cached_clip(seconds=1)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 2048)  # the concat demuxer skips what it cannot open and still exits 0
    output = tmp_path / "out.mp4"
    clips = [Clip(probe(good))] * 2
    with pytest.raises(MediaError, match="lasts"):
        compose([good, broken], clips, plan_composition(clips), output)
    assert not output.exists()


def test_a_smart_join_that_does_not_verify_falls_back_to_a_full_reencode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, odd = small(seconds=1), cached_clip(seconds=1, width=640, height=360, fps=30)
    real = composition.copy_args
    monkeypatch.setattr(composition, "copy_args", lambda *a, **k: [*real(*a, **k)[:-1], "-t", "0.5", real(*a, **k)[-1]])
    stages: list[str] = []
    done = fc.render([a, odd], tmp_path / "fallback.mp4", on_plan=lambda p: stages.append(p.stage))
    assert stages == ["concatenate:smart", "concatenate:reencode"] and done.plan.mode == "reencode"
    assert "smart rendering could not be verified" in done.plan.reason
    assert abs(done.probe.duration_s - 2.0) <= 0.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fallback.mp4"]
