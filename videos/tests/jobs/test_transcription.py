"""The transcription job through the real task machinery, against the local OpenAI-speaking server."""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
import time
import wave
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from videos.exceptions import UnsupportedMediaError
from videos.jobs.transcription import STEPS
from videos.models import ProcessingTask, SubTask, SubtitleSegment, Video
from videos.services.pipeline import transcription_start
from videos.services.transcripts import AUDIO_NAME
from videos.services.videos import video_import
from videos.taskmanager.backends import run_pending_inline
from videos.taskmanager.context import task_tmp_dir
from videos.tests.clips import cached_clip
from videos.tests.fake_openai import (  # noqa: F401 - fake_openai is the fixture
    FakeOpenAI,
    Recorded,
    Reply,
    default_transcription,
    error_reply,
    fake_openai,
)
from videos.tests.taskmanager.helpers import progress_readings, wait_for, wait_status
from videos.tests.taskmanager.test_concurrency import in_threads

pytestmark = pytest.mark.slow

# Known words spoken by espeak-ng (en-us+f2, 140 wpm) for the tests that transcribe real speech.
SENTENCE = (
    "Glue the sheet to the dark blue background. Rice is often served in round bowls. "
    "The juice of lemons makes fine punch. The boy was there when the sun rose."
)
_work: Path | None = None


# Media helpers (shared with the reprocess, API and command tests) --------------------------------
def _cache_dir() -> Path:
    from videos.tests import clips

    return Path(clips.cached_clip(seconds=1, width=160, height=120, fps=10, audio=False)).parent


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [django_settings.FFMPEG_BINARY, "-nostdin", "-loglevel", "error", "-y", *args], check=True, timeout=300
    )


@cache
def speech_wav(text: str = SENTENCE, repeat: int = 1) -> Path:
    """espeak-ng (en-us+f2, 140 wpm) saying `text` `repeat` times, as a 16 kHz mono WAV, made once per session."""
    path = _cache_dir() / f"speech-{abs(hash((text, repeat)))}.wav"
    raw = path.with_suffix(".raw.wav")
    words = " ".join([text] * repeat)
    subprocess.run(["espeak-ng", "-v", "en-us+f2", "-s", "140", "-w", str(raw), words], check=True, timeout=120)
    ffmpeg("-i", str(raw), "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(path))
    return path


@cache
def speech_clip(text: str = SENTENCE, repeat: int = 1) -> Path:
    """A 320x240 testsrc2 video whose AAC sound track is the spoken text."""
    wav = speech_wav(text, repeat)
    path = wav.with_suffix(".mp4")
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-i", str(wav), "-shortest",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "48000", str(path),
    )  # fmt: skip
    return path


@cache
def tone_audio(seconds: float) -> Path:
    """`seconds` of a tone with a short pause every 10 s (16 kHz mono WAV): long files to split."""
    path = _cache_dir() / f"tone-{seconds:g}s.wav"
    source = "aevalsrc=0.3*sin(2*PI*440*t)*lt(mod(t\\,10)\\,9.5):s=16000"
    ffmpeg("-f", "lavfi", "-i", source, "-t", str(seconds), "-ac", "1", "-c:a", "pcm_s16le", str(path))
    return path


def clip_video(owner, path: Path | None = None, **kw) -> Video:  # noqa: ANN001, ANN003
    """One of `owner`'s videos, imported like an upload (probed, stored in MEDIA_ROOT)."""
    source = path or cached_clip(**{"seconds": 3, "width": 320, "height": 240, "fps": 10, "audio": True, **kw})
    return video_import(owner=owner, path=source)


def segments_of(video: Video) -> list[tuple[int, float, float, str]]:
    return list(
        SubtitleSegment.objects.filter(video=video).order_by("index").values_list("index", "start", "end", "text")
    )


def steps(task_id) -> dict[str, SubTask]:  # noqa: ANN001
    return {s.name: s for s in SubTask.objects.filter(task_id=task_id)}


def wav_format(data: bytes) -> tuple[int, int]:
    import io

    with wave.open(io.BytesIO(data)) as reader:
        return reader.getframerate(), reader.getnchannels()


@pytest.fixture
def openai(settings, fake_openai: FakeOpenAI) -> FakeOpenAI:  # noqa: ANN001, F811
    """Settings pointed at the fake server; OpenAI engines for transcription and paragraphs."""
    settings.OPENAI_API_KEY = fake_openai.api_key
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.TRANSCRIPTION_ENGINE = "auto"
    settings.PARAGRAPH_ENGINE = "auto"
    return fake_openai


def slow(seconds: float) -> Callable[[Recorded], Reply]:
    """The default transcription, answered after `seconds` (the server waits outside its lock)."""
    return lambda request: dataclasses.replace(default_transcription(request), delay=seconds)


def run(task: ProcessingTask) -> ProcessingTask:
    run_pending_inline()
    task.refresh_from_db()
    return task


# OpenAI path -----------------------------------------------------------------------------------
def test_openai_verbose_json_segments_replace_the_videos(transactional_db, user, openai):  # noqa: ANN001
    video = clip_video(user)
    SubtitleSegment.objects.create(video=video, index=1, start=0, end=1, text="an old line")
    task = run(transcription_start(owner=user, video=video))
    assert task.status == "completed", task.error_message
    (request,) = openai.transcription_requests
    assert request.fields["response_format"] == ["verbose_json"]
    assert wav_format(request.file_bytes) == (16000, 1) and 3.0 <= request.wav_duration < 3.1  # AAC pads a little
    expected = math.ceil(request.wav_duration)  # the fake server answers one segment per second
    assert request.fields["timestamp_granularities[]"] == ["segment", "word"]
    assert task.result == {
        "segments": expected,
        "words": 5 * expected,  # "speech from 0.00 to 1.00": five words a segment
        "language": "en",  # the API names the language ("english"); we keep the ISO code
        "language_probability": None,
        "engine": "openai",
        "model": "whisper-1",
    }
    rows = segments_of(video)
    assert rows[:3] == [
        (1, 0.0, 1.0, "speech from 0.00 to 1.00"),
        (2, 1.0, 2.0, "speech from 1.00 to 2.00"),
        (3, 2.0, 3.0, "speech from 2.00 to 3.00"),
    ]
    assert [r[0] for r in rows] == list(range(1, expected + 1))  # the old line is gone
    video.refresh_from_db()
    assert video.status == "ready" and video.language == "en"
    first = SubtitleSegment.objects.filter(video=video).order_by("index").first()
    assert [(w["word"], w["start"], w["end"]) for w in first.words] == [
        ("speech", 0.0, 0.2), ("from", 0.2, 0.4), ("0.00", 0.4, 0.6), ("to", 0.6, 0.8), ("1.00", 0.8, 1.0)
    ]  # fmt: skip
    assert not task_tmp_dir(task.pk).exists()  # scratch removed when the task ends


def test_a_429_then_success_completes(transactional_db, user, openai):  # noqa: ANN001
    openai.script_transcriptions(
        error_reply(429, "Rate limit reached for requests", "requests", **{"Retry-After": "0"})
    )
    task = run(transcription_start(owner=user, video=clip_video(user)))
    assert task.status == "completed", task.error_message
    assert len(openai.transcription_requests) == 2 and task.result["segments"] >= 3


def test_a_permanent_failure_fails_the_task_clearly_and_the_video_is_error(transactional_db, user, openai):  # noqa: ANN001
    openai.script_transcriptions(
        error_reply(400, "Audio file might be corrupted or unsupported", "invalid_request_error")
    )
    video = clip_video(user)
    seen: list[str] = []
    task = transcription_start(owner=user, video=video)
    seen.append(Video.objects.get(pk=video.pk).status)  # queued: processing
    task = run(task)
    assert task.status == "failed"
    assert task.error_message == (
        f"OpenAI transcription of {AUDIO_NAME} failed: HTTP 400: Audio file might be corrupted or unsupported"
    )
    assert len(openai.transcription_requests) == 1  # a 400 is not retried
    assert steps(task.pk)["transcribing"].status == "failed" and steps(task.pk)["saving"].status == "cancelled"
    video.refresh_from_db()
    assert seen == ["processing"] and video.status == "error"


def test_a_file_over_the_upload_limit_is_split_and_offsets_restored(transactional_db, user, openai, settings):  # noqa: ANN001
    settings.MAX_UPLOAD_MB = 100
    seconds = 800  # 16 kHz mono s16 = 32 kB/s: 25.6 MB, just over the API's 25 MB
    task = run(transcription_start(owner=user, video=clip_video(user, tone_audio(seconds))))
    assert task.status == "completed", task.error_message
    requests = openai.transcription_requests
    assert len(requests) == 2 and all(len(r.file_bytes) <= 25_000_000 for r in requests)
    first, second = (r.wav_duration for r in requests)
    assert abs(first + second - seconds) < 0.01
    assert abs(first % 10 - 9.75) < 0.3  # cut in a pause (9.5..10 s of every 10 s)
    rows = segments_of(Video.objects.get(pk=task.video_id))
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    starts = [r[1] for r in rows]
    assert starts == sorted(starts) and rows[-1][2] == pytest.approx(seconds, abs=0.01)
    after_cut = next(r for r in rows if r[1] >= round(first, 3) - 1e-6)
    assert after_cut[1] == pytest.approx(first, abs=0.002) and after_cut[3] == "speech from 0.00 to 1.00"


# Steps, resume, no duplicates ------------------------------------------------------------------
def test_a_resumed_attempt_transcribes_the_kept_wav_without_extracting_again(transactional_db, user, openai):  # noqa: ANN001
    video = clip_video(user)  # 3 s
    task = transcription_start(owner=user, video=video)
    kept = task_tmp_dir(task.pk) / AUDIO_NAME
    kept.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", "sine=sample_rate=16000", "-t", "2", "-ac", "1", "-c:a", "pcm_s16le", str(kept))
    SubTask.objects.filter(task=task, name="extracting_audio").update(
        status="completed", progress=1, result={"wav": str(kept), "duration_s": 3.0, "has_audio": True}
    )
    ProcessingTask.objects.filter(pk=task.pk).update(progress=STEPS["extracting_audio"], attempts=1)
    task = run(task)
    assert task.status == "completed" and task.attempts == 2
    assert task.result["segments"] == 2  # the kept 2 s WAV, not a fresh 3.02 s extraction
    assert steps(task.pk)["extracting_audio"].started_at is None  # never entered by attempt 2


def test_a_resumed_attempt_whose_scratch_is_gone_extracts_again(transactional_db, user, openai):  # noqa: ANN001
    video = clip_video(user)
    task = transcription_start(owner=user, video=video)
    gone = task_tmp_dir(task.pk) / AUDIO_NAME
    SubTask.objects.filter(task=task, name="extracting_audio").update(
        status="completed", progress=1, result={"wav": str(gone), "duration_s": 3.0, "has_audio": True}
    )
    task = run(task)
    assert task.status == "completed", task.error_message
    assert task.result["segments"] == 4  # 3.02 s extracted again


def test_retranscribing_leaves_no_duplicate_segments(transactional_db, user, openai):  # noqa: ANN001
    video = clip_video(user)
    for _ in range(3):
        task = run(transcription_start(owner=user, video=video))
        assert task.status == "completed"
    rows = segments_of(video)
    assert [r[0] for r in rows] == [1, 2, 3, 4] and len({r[3] for r in rows}) == 4
    assert SubtitleSegment.objects.count() == 4


def test_a_video_without_audio_is_refused_before_any_task(transactional_db, user, openai):  # noqa: ANN001
    video = clip_video(user, audio=False)
    with pytest.raises(UnsupportedMediaError, match="no audio track"):
        transcription_start(owner=user, video=video)
    assert not ProcessingTask.objects.exists() and openai.transcription_requests == []


def test_audio_gone_by_the_time_the_job_runs_completes_with_no_segments(transactional_db, user, openai):  # noqa: ANN001
    video = clip_video(user)
    SubtitleSegment.objects.create(video=video, index=1, start=0, end=1, text="stale")
    task = transcription_start(owner=user, video=video)
    silent = clip_video(user, audio=False)  # the stored file replaced by one without sound (re-probed below)
    Video.objects.filter(pk=video.pk).update(file=silent.file.name, probe=silent.probe)
    task = run(task)
    assert task.status == "completed", task.error_message
    assert task.result["segments"] == 0 and task.result["language"] is None
    assert segments_of(video) == [] and openai.transcription_requests == []


def test_a_video_whose_file_is_gone_fails_clearly(transactional_db, user, openai):  # noqa: ANN001
    video = clip_video(user)
    Path(video.file.path).unlink()
    task = run(transcription_start(owner=user, video=video))
    assert task.status == "failed"
    assert task.error_message == f"The file of video {video.pk} is missing from storage."
    assert Video.objects.get(pk=video.pk).status == "error"


# Progress, cancel, force (real worker threads) -------------------------------------------------
def test_progress_is_monotonic_weighted_and_100_only_at_completion(task_manager, user, openai):  # noqa: ANN001
    """A slow answer keeps the job in `transcribing` while one reader samples the task row and another
    reads it while the answer is held back (a sampler alone can be starved past the wait on a busy host)."""
    openai.script_transcriptions(slow(1.0))
    video = clip_video(user)
    task = transcription_start(owner=user, video=video)

    def observe(reader: int) -> object:
        if reader == 0:
            return progress_readings(task.pk)
        assert wait_for(lambda: len(openai.transcription_requests) == 1, timeout=20)
        return ProcessingTask.objects.values_list("status", "stage").get(pk=task.pk)

    readings, held = in_threads(2, observe)
    assert held == ("processing", "transcribing"), held
    assert isinstance(readings, list), readings
    progress = [p for _, p, _ in readings]
    assert progress == sorted(progress)
    assert [r for r in readings if r[1] >= 100] == [r for r in readings if r[0] == "completed"]
    assert any(status == "processing" and p == pytest.approx(STEPS["extracting_audio"]) for status, p, _ in readings)
    assert readings[-1][:2] == ("completed", 100.0)
    weights = {s.name: s.weight for s in SubTask.objects.filter(task=task)}
    assert weights == STEPS and sum(weights.values()) == 100


def test_cancel_during_transcription_stops_it_and_the_video_is_not_left_processing(task_manager, user, openai):  # noqa: ANN001
    openai.script_transcriptions(slow(5.0))
    video = clip_video(user)
    task = transcription_start(owner=user, video=video)
    assert wait_for(lambda: len(openai.transcription_requests) == 1, timeout=20)
    from videos.services.tasks import task_cancel

    started = time.monotonic()
    task_cancel(task=task)
    wait_status(task.pk, "cancelled", timeout=1.0)  # the engine still waits on its HTTP answer; the job does not
    assert time.monotonic() - started < 1.0
    assert steps(task.pk)["transcribing"].status == "cancelled"
    assert wait_for(lambda: str(task.pk) not in task_manager.stats()["running_tasks"], timeout=1)
    video.refresh_from_db()
    assert video.status == "uploaded" and segments_of(video) == []


def test_scratch_wav_is_in_the_task_dir_while_it_runs(task_manager, user, openai):  # noqa: ANN001
    openai.script_transcriptions(slow(2.0))
    task = transcription_start(owner=user, video=clip_video(user))
    assert wait_for(lambda: len(openai.transcription_requests) == 1, timeout=20)
    kept = task_tmp_dir(task.pk) / AUDIO_NAME
    assert kept.is_file() and steps(task.pk)["extracting_audio"].result["wav"] == str(kept)
    copy = shutil.copy(kept, task_tmp_dir(task.pk).parent.parent / "copy.wav")
    assert wav_format(Path(copy).read_bytes()) == (16000, 1)
    wait_status(task.pk, "completed", timeout=20)
    assert not kept.exists()
