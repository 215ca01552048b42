"""extract_audio and thumbnail on real clips."""

from __future__ import annotations

import json
import subprocess
import threading
import wave
from pathlib import Path

import pytest

from videos.media.audio import extract_audio, thumbnail
from videos.media.ffmpeg import MediaCancelled, MediaError
from videos.media.probe import probe
from videos.tests.clips import cached_clip


def test_extract_audio_gives_16k_mono_s16_wav_of_the_clip_length(tmp_path: Path) -> None:
    seen: list[float] = []
    dst = extract_audio(cached_clip(seconds=3), tmp_path / "sub" / "speech.wav", on_progress=seen.append)
    with wave.open(str(dst)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert abs(wav.getnframes() / 16000 - 3.0) < 0.1
    assert probe(dst).audio_codec == "pcm_s16le"
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_extract_audio_with_a_known_duration_does_not_need_a_probe(tmp_path: Path, make_speech_wav) -> None:  # noqa: ANN001
    speech = make_speech_wav("one two three")
    dst = extract_audio(speech, tmp_path / "out.wav", duration_s=probe(speech).duration_s)
    assert abs(probe(dst).duration_s - probe(speech).duration_s) < 0.05 and probe(dst).sample_rate == 16000


def test_extract_audio_refuses_a_video_without_sound(tmp_path: Path) -> None:
    silent = cached_clip(seconds=1, audio=False)
    for duration in (None, 1.0):  # found by probe, or by ffmpeg's own error
        with pytest.raises(MediaError, match="no audio track"):
            extract_audio(silent, tmp_path / "out.wav", duration_s=duration)
        assert not (tmp_path / "out.wav").exists()


def test_extract_audio_honours_cancel(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(MediaCancelled):
        extract_audio(cached_clip(seconds=3), tmp_path / "out.wav", cancel=cancel)
    assert not (tmp_path / "out.wav").exists()


def test_thumbnail_is_a_jpeg_of_the_requested_width(tmp_path: Path) -> None:
    dst = thumbnail(cached_clip(seconds=2, width=640, height=360), tmp_path / "poster.jpg", width=320)
    assert dst.read_bytes()[:3] == b"\xff\xd8\xff"
    out = subprocess.run(  # a lone JPEG has no duration, so probe() refuses it: read the stream directly
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(dst)], capture_output=True, check=True
    )
    stream = json.loads(out.stdout)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 320, 180)


def test_thumbnail_past_the_end_takes_the_last_frame(tmp_path: Path) -> None:
    dst = thumbnail(cached_clip(seconds=1), tmp_path / "poster.jpg", at_seconds=99)
    assert dst.stat().st_size > 1000


def test_thumbnail_of_audio_only_is_refused(tmp_path: Path, make_speech_wav) -> None:  # noqa: ANN001
    with pytest.raises(MediaError, match="no video"):
        thumbnail(make_speech_wav("hi"), tmp_path / "poster.jpg")
    assert not (tmp_path / "poster.jpg").exists()
