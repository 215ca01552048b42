"""plan_composition: one plan for both engines (copy, smart, re-encode), sizes, trims on the timeline."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.media.ffmpeg import MediaError
from videos.media.plan import Clip, CompositionPlan, parse_size, plan_composition
from videos.media.probe import ProbeResult

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


def clips(*probes: ProbeResult) -> list[Clip]:
    return [Clip(p) for p in probes]


def test_identical_clips_plan_a_copy() -> None:
    plan = plan_composition(clips(BASE, BASE, dataclasses.replace(BASE, duration_s=1.6)))
    assert (plan.mode, plan.width, plan.height, plan.fps, plan.expected_duration) == ("copy", 320, 240, 25.0, 5.6)
    assert "match" in plan.reason and plan.stage == "concatenate:copy"
    assert [p.offset for p in plan.parts] == [0.0, 2.0, 4.0]
    assert plan.summary() == "copy: all 3 clips stream-copied (320x240 25 fps)"


@given(st.sampled_from(sorted(CHANGES)), st.integers(1, 3))
def test_any_difference_copies_the_matching_clips_and_encodes_the_other(field: str, index: int) -> None:
    probes = [BASE, BASE, BASE, BASE]
    probes[index] = dataclasses.replace(BASE, **{field: CHANGES[field]})
    plan = plan_composition(clips(*probes))
    assert plan.mode == "smart" and (plan.width, plan.height, plan.fps) == (320, 240, 25.0)
    assert [p.action for p in plan.parts] == ["encode" if i == index else "copy" for i in range(4)]
    assert f"clip {index + 1}" in plan.reason and plan.stage == "concatenate:smart"
    assert (plan.sample_rate, plan.channels, plan.time_base) == (48000, 2, "1/12800")  # the copied clips' format


def test_trimmed_clips_are_encoded_and_land_on_whole_frames() -> None:
    trimmed = [Clip(BASE, 0.5, 1.5), Clip(BASE), Clip(BASE, 0.13, 1.0)]
    plan = plan_composition(trimmed)
    assert plan.mode == "smart" and [p.action for p in plan.parts] == ["encode", "copy", "encode"]
    assert [p.frames for p in plan.parts] == [25, 50, 22] and "clip 1 is trimmed" in plan.reason
    assert [p.start for p in plan.parts] == [0.52, 0.0, 0.16]  # in points on the source's frames
    assert [p.offset for p in plan.parts] == [0.0, 1.0, 3.0]
    assert abs(plan.expected_duration - (1.0 + 2.0 + 0.87)) <= 0.5 / 25 + 1e-9


@given(st.lists(st.tuples(st.floats(0, 1.8), st.floats(0.05, 1.0)), min_size=1, max_size=30))
def test_rounding_to_frames_never_accumulates(spans: list[tuple[float, float]]) -> None:
    items = [Clip(BASE, a, min(a + d, 1.9)) for a, d in spans]
    plan = plan_composition(items, size=(640, 480))
    assert plan.mode == "reencode"
    assert abs(plan.expected_duration - sum(c.duration for c in items)) <= 1 / 25 + 1e-9  # within a frame


def test_sizes_first_largest_and_given() -> None:
    big = dataclasses.replace(BASE, width=640, height=360)
    assert (plan_composition(clips(BASE, big)).width, plan_composition(clips(BASE, big)).height) == (320, 240)
    largest = plan_composition(clips(BASE, big), size="largest")
    assert (largest.width, largest.height, largest.mode) == (640, 360, "smart")
    assert [p.action for p in largest.parts] == ["encode", "copy"]
    given_size = plan_composition(clips(BASE, BASE), size=(256, 144))
    assert (given_size.mode, given_size.width, given_size.height) == ("reencode", 256, 144)
    assert "requested" in given_size.reason or "asked" in given_size.reason
    assert plan_composition(clips(BASE, BASE), size=(320, 240)).mode == "copy"


def test_parse_size() -> None:
    assert parse_size(None) == "first" and parse_size("Largest") == "largest" and parse_size("1280x720") == (1280, 720)
    assert parse_size([640, 360]) == (640, 360)
    for bad, words in (("1281x720", "even"), ("8x8", "16"), ("big", "WxH"), ("5000x720", "4096")):
        with pytest.raises(ValueError, match=words):
            parse_size(bad)


def test_burned_captions_encode_the_clips_that_have_them() -> None:
    items = [Clip(BASE, has_captions=True), Clip(BASE), Clip(BASE)]
    assert plan_composition(items, subtitles="soft").mode == "copy"  # a track beside the picture
    burn = plan_composition(items, subtitles="burn")
    assert burn.mode == "smart" and [p.action for p in burn.parts] == ["encode", "copy", "copy"]


def test_codecs_mp4_cannot_hold_or_we_cannot_match_are_reencoded() -> None:
    odd = dataclasses.replace(BASE, audio_codec="pcm_s16le")
    assert plan_composition(clips(odd, odd)).mode == "reencode"
    mpeg4 = dataclasses.replace(BASE, video_codec="mpeg4")
    assert plan_composition(clips(mpeg4, mpeg4)).mode == "copy"
    assert plan_composition(clips(mpeg4, BASE, mpeg4)).mode == "smart"  # the h264 clip is the copied one
    assert plan_composition(clips(mpeg4, dataclasses.replace(mpeg4, width=640))).mode == "reencode"


def test_moviepy_plans_render_every_clip() -> None:
    plan = plan_composition(clips(BASE, BASE), smart=False)
    assert plan.mode == "reencode" and plan.encoded == 2 and "MoviePy" in plan.reason


def test_refusals() -> None:
    with pytest.raises(MediaError, match="Clip 2 has no video"):
        plan_composition(clips(BASE, dataclasses.replace(BASE, has_video=False, width=None, height=None)))
    with pytest.raises(MediaError):
        plan_composition([])
    with pytest.raises(MediaError, match="empty"):
        plan_composition([Clip(BASE, 1.5, 1.5), Clip(BASE)])


def test_a_plan_survives_json() -> None:
    plan = plan_composition([Clip(BASE, 0.5, 1.5), Clip(dataclasses.replace(BASE, width=640))], subtitles="burn")
    assert CompositionPlan.from_dict(plan.to_dict()) == plan


def test_a_trim_over_whole_gops_copies_them_and_encodes_its_ends() -> None:
    keyed = Clip(dataclasses.replace(BASE, duration_s=6.0), 0.5, 5.3, keyframes=(0.0, 2.0, 4.0))
    plan = plan_composition([Clip(BASE), keyed])
    spans = [(p.action, p.start, p.end, p.frames) for p in plan.parts]
    assert spans == [
        ("copy", 0.0, 2.0, 50),
        ("encode", 0.52, 2.0, 37),
        ("copy", 2.0, 4.0, 50),
        ("encode", 4.0, 5.3, 33),
    ]
    assert abs(plan.expected_duration - (2.0 + 4.78)) <= 0.5 / 25
    on_keys = plan_composition([Clip(BASE), dataclasses.replace(keyed, start=2.0, end=4.0)])
    assert [(p.action, p.start, p.end) for p in on_keys.parts][1:] == [("copy", 2.0, 4.0)]  # nothing to encode
    short = plan_composition([Clip(BASE), dataclasses.replace(keyed, start=2.5, end=3.5)])
    assert [p.action for p in short.parts] == ["copy", "encode"]  # no whole GOP inside: encoded whole
