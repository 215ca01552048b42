"""PocketSphinx on a real espeak-ng recording, and its word grouping."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.engines.transcription import TranscriptionCancelled, TranscriptionError
from videos.engines.transcription.pocketsphinx_engine import PocketSphinxEngine, Word, group_words, is_filler
from videos.engines.transcription.wav import read_wav
from videos.tests.engines.conftest import SPOKEN_SENTENCE, ffmpeg, lavfi_wav


def test_most_words_come_back_with_increasing_timestamps(speech_wav: Path) -> None:
    progress: list[float] = []
    transcript = PocketSphinxEngine().transcribe(speech_wav, on_progress=progress.append)
    assert transcript.engine == "pocketsphinx" and transcript.language == "en"
    spoken = SPOKEN_SENTENCE.replace(".", "").split()
    heard = " ".join(segment.text for segment in transcript.segments).split()
    found = sum(1 for word in spoken if word in heard)
    assert found >= 0.6 * len(spoken), heard  # measured: 16 of 19
    assert heard[:10] == "one two three four five six seven eight nine ten".split()
    duration = read_wav(speech_wav).duration
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(set(starts)) and starts[0] < 0.5
    assert all(s.start < s.end <= duration + 0.05 for s in transcript.segments)
    assert all(a.end <= b.start for a, b in zip(transcript.segments, transcript.segments[1:], strict=False))
    assert progress == [1.0]  # a 7 s recording is one chunk


def test_chunks_keep_time_and_report_progress(speech_wav: Path) -> None:
    progress: list[float] = []
    transcript = PocketSphinxEngine(max_chunk_seconds=2.5).transcribe(speech_wav, on_progress=progress.append)
    assert len(progress) >= 3 and progress == sorted(progress) and progress[-1] == 1.0
    heard = " ".join(segment.text for segment in transcript.segments).split()
    assert heard[:5] == ["one", "two", "three", "four", "five"]
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(set(starts)) and transcript.segments[-1].end > 5.0  # offsets carried past chunk 1


def test_cancel_stops_between_chunks(speech_wav: Path) -> None:
    cancel = threading.Event()
    progress: list[float] = []

    def on_progress(value: float) -> None:
        progress.append(value)
        cancel.set()  # as if cancelled while the first chunk was decoding

    with pytest.raises(TranscriptionCancelled):
        PocketSphinxEngine(max_chunk_seconds=2.5).transcribe(speech_wav, on_progress=on_progress, cancel=cancel)
    assert len(progress) == 1 and progress[0] < 0.5
    already = threading.Event()
    already.set()
    with pytest.raises(TranscriptionCancelled):
        PocketSphinxEngine().transcribe(speech_wav, cancel=already)


def test_other_audio_formats_are_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=r=8000", "-t", "0.5", "-ac", "2", "-c:a", "pcm_s16le", str(path))
    with pytest.raises(TranscriptionError, match="stereo.wav: PocketSphinx needs 16 kHz mono audio, got 8000 Hz"):
        PocketSphinxEngine().transcribe(path)


def test_silence_gives_no_segments(tmp_path: Path) -> None:
    path = lavfi_wav(tmp_path / "silence.wav", "anullsrc=r=16000:cl=mono", 1)
    assert PocketSphinxEngine().transcribe(path).segments == []


@st.composite
def word_lists(draw: st.DrawFn) -> list[Word]:
    words, clock = [], 0.0
    for number in range(draw(st.integers(0, 40))):
        clock += draw(st.sampled_from([0.0, 0.01, 0.2, 0.35, 0.5, 2.0]))
        length = draw(st.floats(0.05, 1.0))
        words.append(Word(f"w{number}", clock, clock + length))
        clock += length
    return words


@given(word_lists(), st.floats(0.05, 1.0), st.integers(1, 12))
def test_grouping_keeps_every_word_in_order(words, pause, max_words) -> None:  # noqa: ANN001
    segments = group_words(words, pause_seconds=pause, max_words=max_words)
    assert " ".join(s.text for s in segments).split() == [w.text for w in words]
    assert all(len(s.text.split()) <= max_words for s in segments)
    for segment in segments:  # no pause inside a segment
        members = [w for w in words if w.text in segment.text.split()]
        assert all(b.start - a.end < pause for a, b in zip(members, members[1:], strict=False))


def test_fillers() -> None:
    assert all(is_filler(token) for token in ["<s>", "</s>", "<sil>", "[NOISE]", "++BREATH++", ""])
    assert not any(is_filler(token) for token in ["hello", "it's", "a"])
