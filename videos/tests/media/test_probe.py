"""probe() on real clips made by ffmpeg, and on files that are not media."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.media.ffmpeg import MediaError
from videos.media.probe import ProbeResult, UnsupportedMediaError, probe
from videos.tests.clips import cached_clip


def test_probe_reads_a_clip_with_audio() -> None:
    path = cached_clip(seconds=2, width=320, height=240, fps=25)
    info = probe(path)
    assert abs(info.duration_s - 2.0) < 0.1
    assert info.size_bytes == path.stat().st_size
    assert "mp4" in info.format_name
    assert (info.has_video, info.width, info.height, info.fps) == (True, 320, 240, 25.0)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.time_base and "/" in info.time_base
    assert (info.has_audio, info.audio_codec, info.sample_rate, info.channels) == (True, "aac", 48000, 2)
    assert info.channel_layout == "stereo"


def test_probe_reads_a_clip_without_audio_and_another_size() -> None:
    info = probe(cached_clip(seconds=1, width=256, height=144, fps=30, audio=False, vcodec="mpeg4"))
    assert (info.width, info.height, info.fps, info.video_codec) == (256, 144, 30.0, "mpeg4")
    assert not info.has_audio and info.audio_codec is None and info.sample_rate is None
    assert abs(info.duration_s - 1.0) < 0.1


def test_probe_reads_audio_only(make_speech_wav) -> None:  # noqa: ANN001
    info = probe(make_speech_wav("hello there"))
    assert info.has_audio and not info.has_video and info.width is None
    assert info.audio_codec == "pcm_s16le" and info.duration_s > 0.3


def test_probe_result_round_trips_through_json_dict() -> None:
    info = probe(cached_clip(seconds=1))
    import json

    assert ProbeResult.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    assert ProbeResult.from_dict({**info.to_dict(), "added_later": 1}) == info


@pytest.mark.parametrize(
    "content",
    [os.urandom(4096), b"just some words\nin a text file\n", b"", b"\0\0\0\0ftypisom" + bytes(2000)],
    ids=["random-bytes", "text", "empty", "mp4-without-moov"],
)
def test_probe_refuses_files_that_are_not_media(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "upload.mp4"
    path.write_bytes(content)
    with pytest.raises(UnsupportedMediaError) as caught:
        probe(path)
    assert isinstance(caught.value, MediaError)
    assert str(tmp_path) not in str(caught.value)  # the message may reach an API client
    assert " @ 0x" not in str(caught.value)  # nor ffmpeg's memory addresses


def test_probe_refuses_a_still_image(tmp_path: Path) -> None:
    from videos.tests.clips import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=1, audio=False)
    image = tmp_path / "frame.png"
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", "1", str(image)], check=True)
    with pytest.raises(UnsupportedMediaError):
        probe(image)


def test_probe_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedMediaError):
        probe(tmp_path / "nope.mp4")


@given(st.builds(ProbeResult, **{}))
def test_from_dict_inverts_to_dict(result: ProbeResult) -> None:
    assert ProbeResult.from_dict(result.to_dict()) == result
