"""The OpenAI Whisper engine against a real local server speaking the audio transcription protocol."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from videos.engines.openai_client import RetryPolicy
from videos.engines.transcription import (
    TranscriptionCancelled,
    TranscriptionError,
    get_transcription_engine,
)
from videos.engines.transcription.openai_whisper import OpenAIWhisperEngine
from videos.engines.transcription.whisper_local import LocalWhisperEngine
from videos.tests.fake_openai import FakeOpenAI, Recorded, Reply, default_transcription, error_reply, segment_text

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


def test_transcribes_a_small_file_in_one_request(openai_settings: FakeOpenAI, settings, tone_wav: Path) -> None:  # noqa: ANN001
    settings.OPENAI_TRANSCRIPTION_MODEL = "whisper-x"
    progress: list[float] = []
    transcript = OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav, on_progress=progress.append)
    assert transcript.engine == "openai" and transcript.language == "en" and transcript.model == "whisper-x"
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.0, 1.0, segment_text(0, 1)),
        (1.0, 2.0, segment_text(1, 2)),
    ]
    assert progress == [1.0]
    (request,) = openai_settings.transcription_requests
    assert request.file_bytes == tone_wav.read_bytes()  # small files go up untouched
    assert request.fields["model"] == ["whisper-x"]
    assert request.fields["response_format"] == ["verbose_json"]
    assert request.fields["timestamp_granularities[]"] == ["segment", "word"]
    assert "language" not in request.fields  # detected by the API


def test_word_timestamps_go_to_their_segments_and_a_language_is_sent(
    openai_settings: FakeOpenAI, gapped_wav: Path
) -> None:
    """The API answers one flat list of words per request; each lands in its segment, shifted by the chunk."""
    transcript = OpenAIWhisperEngine(max_upload_bytes=100_000, retry=FAST).transcribe(gapped_wav, language="fr")
    requests = openai_settings.transcription_requests
    assert len(requests) == 5 and all(r.fields["language"] == ["fr"] for r in requests)
    assert transcript.language == "fr"
    for segment in transcript.segments:
        assert [w.word.strip() for w in segment.words] == segment.text.split()
        assert all(segment.start - 1e-3 <= w.start <= w.end <= segment.end + 1e-3 for w in segment.words)
        assert [w.start for w in segment.words] == sorted(w.start for w in segment.words)
    assert sum(len(s.words) for s in transcript.segments) == 5 * len(transcript.segments)
    assert transcript.segments[-1].words[-1].end == pytest.approx(10.0, abs=0.002)


def test_text_only_answers_keep_their_text_and_no_words(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    openai_settings.script_transcriptions(Reply(200, {"text": "  all of it  ", "language": "German"}))
    transcript = OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav)
    assert [(s.start, s.end, s.text, s.words) for s in transcript.segments] == [(0.0, 2.0, "all of it", ())]
    assert transcript.language == "de"


def test_a_long_file_is_split_at_silences_under_the_limit(openai_settings: FakeOpenAI, gapped_wav: Path) -> None:
    limit = 100_000  # ~3.1 s of 16 kHz mono; the file is 10 s (320 kB) with silences at [1.5, 2) of every 2 s
    assert gapped_wav.stat().st_size > 3 * limit
    openai_settings.max_upload_bytes = limit + 1000  # the server refuses what the limit should have prevented
    progress: list[float] = []
    transcript = OpenAIWhisperEngine(max_upload_bytes=limit, retry=FAST).transcribe(
        gapped_wav, on_progress=progress.append
    )
    requests = openai_settings.transcription_requests
    assert len(requests) == 5  # cuts near 2, 4, 6 and 8 s: the latest silence within reach
    assert all(len(request.file_bytes or b"") <= limit for request in requests)
    durations = [request.wav_duration or 0.0 for request in requests]
    assert sum(durations) == pytest.approx(10.0)
    offsets = [sum(durations[:k]) for k in range(len(durations))]
    assert all(1.5 <= cut % 2 < 2.0 for cut in offsets[1:]), offsets  # every cut inside a silence
    expected = []
    for offset, duration in zip(offsets, durations, strict=True):  # each chunk's segments, shifted by its start
        local = 0.0
        while local < duration - 1e-9:
            end = min(duration, local + 1.0)
            expected.append((offset + local, offset + end, segment_text(local, end)))
            local = end
    assert [s.text for s in transcript.segments] == [text for _, _, text in expected]
    times = [t for s in transcript.segments for t in (s.start, s.end)]
    assert times == pytest.approx([t for start, end, _ in expected for t in (start, end)], abs=0.0015)
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1].end == pytest.approx(10.0, abs=0.002)
    assert progress == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_without_silences_chunks_fill_the_limit(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    limit = 20_000  # 2 s of unbroken tone is 64 kB
    transcript = OpenAIWhisperEngine(max_upload_bytes=limit, retry=FAST).transcribe(tone_wav)
    sizes = [len(request.file_bytes or b"") for request in openai_settings.transcription_requests]
    assert len(sizes) == 4 and all(size <= limit for size in sizes)
    assert all(size > 0.9 * limit for size in sizes[:-1])
    assert transcript.segments[-1].end == pytest.approx(2.0, abs=0.002)


def test_rate_limited_then_success(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    openai_settings.script_transcriptions(
        error_reply(429, "Rate limit reached", "rate_limit_exceeded", **{"Retry-After": "0"})
    )
    transcript = OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav)
    assert len(transcript.segments) == 2
    assert len(openai_settings.transcription_requests) == 2


def test_server_errors_and_timeouts_are_retried(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    openai_settings.script_transcriptions(error_reply(503, "overloaded"), Reply(delay=1.5))
    engine = OpenAIWhisperEngine(retry=FAST, timeout=0.5)
    assert len(engine.transcribe(tone_wav).segments) == 2
    assert len(openai_settings.transcription_requests) == 3


def test_permanent_failure_says_what_happened(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    openai_settings.script_transcriptions(*[error_reply(500, "The server had an error processing your request.")] * 3)
    with pytest.raises(TranscriptionError) as caught:
        OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav)
    assert str(caught.value) == (
        "OpenAI transcription of tone.wav failed after 3 attempts: "
        "HTTP 500: The server had an error processing your request."
    )
    assert not isinstance(caught.value, TranscriptionCancelled)
    assert len(openai_settings.transcription_requests) == 3


def test_client_errors_fail_at_once(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    openai_settings.script_transcriptions(error_reply(400, "Audio file might be corrupted or unsupported"))
    with pytest.raises(TranscriptionError, match=r"tone.wav failed: HTTP 400: Audio file might be corrupted"):
        OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav)
    assert len(openai_settings.transcription_requests) == 1


def test_unreachable_server_is_a_clear_error(settings, tone_wav: Path) -> None:  # noqa: ANN001
    settings.OPENAI_API_KEY = "k"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: connection refused
    with pytest.raises(TranscriptionError, match="failed after 2 attempts: could not connect"):
        OpenAIWhisperEngine(retry=RetryPolicy(attempts=2, base_delay=0.01)).transcribe(tone_wav)


def test_cancel_before_start_sends_nothing(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TranscriptionCancelled):
        OpenAIWhisperEngine(retry=FAST).transcribe(tone_wav, cancel=cancel)
    assert openai_settings.transcription_requests == []


def test_cancel_stops_between_chunks(openai_settings: FakeOpenAI, gapped_wav: Path) -> None:
    cancel = threading.Event()

    def cancel_after_answering(request: Recorded) -> Reply:
        cancel.set()  # as if the user pressed cancel while the first chunk was being transcribed
        return default_transcription(request)

    openai_settings.script_transcriptions(cancel_after_answering)
    progress: list[float] = []
    with pytest.raises(TranscriptionCancelled):
        OpenAIWhisperEngine(max_upload_bytes=100_000, retry=FAST).transcribe(
            gapped_wav, cancel=cancel, on_progress=progress.append
        )
    assert len(openai_settings.transcription_requests) == 1
    assert progress == [0.2]


def test_cancel_interrupts_the_backoff(openai_settings: FakeOpenAI, tone_wav: Path) -> None:
    cancel = threading.Event()

    def fail_and_cancel(request: Recorded) -> Reply:
        cancel.set()
        return error_reply(500, "down")

    openai_settings.script_transcriptions(fail_and_cancel)
    started = time.monotonic()
    with pytest.raises(TranscriptionCancelled):
        OpenAIWhisperEngine(retry=RetryPolicy(attempts=5, base_delay=60, max_delay=60)).transcribe(
            tone_wav, cancel=cancel
        )
    assert time.monotonic() - started < 10
    assert len(openai_settings.transcription_requests) == 1


def test_not_a_wav_is_a_clear_error(openai_settings: FakeOpenAI, tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3\x03\x00 not a wav")
    with pytest.raises(TranscriptionError, match="song.mp3: not a PCM WAV file"):
        OpenAIWhisperEngine(retry=FAST).transcribe(path)
    assert openai_settings.transcription_requests == []


def test_engine_selection_by_settings(settings) -> None:  # noqa: ANN001
    settings.TRANSCRIPTION_ENGINE = "auto"
    settings.OPENAI_API_KEY = ""
    assert isinstance(get_transcription_engine(), LocalWhisperEngine)
    settings.OPENAI_API_KEY = "sk-test"
    assert isinstance(get_transcription_engine(), OpenAIWhisperEngine)
    settings.TRANSCRIPTION_ENGINE = "whisper"
    assert isinstance(get_transcription_engine(), LocalWhisperEngine)
    assert isinstance(get_transcription_engine("openai"), OpenAIWhisperEngine)
    with pytest.raises(ValueError, match="unknown transcription engine 'pocketsphinx'"):
        get_transcription_engine("pocketsphinx")  # removed: local Whisper replaced it
    settings.OPENAI_API_KEY = ""
    settings.TRANSCRIPTION_ENGINE = "openai"
    with pytest.raises(TranscriptionError, match="needs OPENAI_API_KEY"):
        get_transcription_engine()
