"""WAV reading and the silence-aware chunk planner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.engines.transcription import TranscriptionError
from videos.engines.transcription.wav import plan_chunks, read_wav, wav_bytes


@given(
    st.integers(0, 50_000),
    st.integers(1, 20_000),
    st.integers(1, 4000),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
)
def test_chunks_cover_the_signal_in_order_within_the_limit(total, max_frames, rate, fraction, seed) -> None:  # noqa: ANN001
    signal = np.random.default_rng(seed).integers(-3000, 3000, size=total).astype(np.int16)
    spans = plan_chunks(signal, rate, max_frames, search_fraction=fraction)
    assert spans[0][0] == 0 and spans[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(0 < end - start <= max_frames for start, end in spans) or spans == [(0, 0)]


def test_cuts_land_in_the_silences() -> None:
    rate = 1000
    t = np.arange(10 * rate) / rate
    signal = (np.sin(2 * np.pi * 50 * t) * 10_000 * ((t % 2) < 1.5)).astype(np.int16)  # silent in [1.5, 2) of 2 s
    spans = plan_chunks(signal, rate, 3 * rate)
    cuts = [end / rate for _, end in spans[:-1]]
    assert len(spans) == 5
    assert all(1.5 <= cut % 2 < 2.0 for cut in cuts), cuts


def test_without_silence_the_cut_is_as_late_as_allowed() -> None:
    signal = np.full(10_000, 1000, dtype=np.int16)
    assert plan_chunks(signal, 1000, 4000) == [(0, 3975), (3975, 7950), (7950, 10_000)]  # mid last 50 ms window


def test_wav_round_trip_and_errors(tmp_path: Path) -> None:
    samples = np.array([[0, 1], [-2, 3], [32767, -32768]], dtype=np.int16)
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(samples, 8000))
    audio = read_wav(path)
    assert audio.sample_rate == 8000 and audio.channels == 2 and audio.frames == 3
    assert np.array_equal(audio.samples, samples)
    assert audio.duration == pytest.approx(3 / 8000)
    assert len(path.read_bytes()) == 44 + samples.nbytes
    (tmp_path / "b.wav").write_bytes(b"not a wav at all")
    with pytest.raises(TranscriptionError, match="b.wav: not a PCM WAV file"):
        read_wav(tmp_path / "b.wav")
    with pytest.raises(TranscriptionError, match="cannot read the audio file missing.wav"):
        read_wav(tmp_path / "missing.wav")
