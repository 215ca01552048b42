"""The reprocess job: every step for real (ffprobe, ffmpeg, the fake OpenAI server), resume, conflicts, progress."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from videos.exceptions import TaskConflictError
from videos.jobs.reprocess import STEPS
from videos.media.probe import probe
from videos.models import ProcessingTask, SubTask, SubtitleSegment, Video
from videos.services.pipeline import reprocess_start, transcription_start
from videos.tests.fake_openai import FakeOpenAI, fake_openai  # noqa: F401 - the fixture
from videos.tests.jobs.test_transcription import (  # noqa: F401 - openai is a fixture
    clip_video,
    openai,
    run,
    segments_of,
    slow,
    speech_wav,
    steps,
)
from videos.tests.taskmanager.helpers import progress_readings, wait_for, wait_status

pytestmark = pytest.mark.slow


def test_weights_keep_the_old_systems_extraction_figure_give_the_engine_the_bulk_and_sum_to_100() -> None:
    assert list(STEPS) == ["probing", "extracting_audio", "transcribing", "paragraphs", "thumbnail"]
    assert STEPS["extracting_audio"] == 10 and sum(STEPS.values()) == 100
    assert STEPS["transcribing"] == max(STEPS.values()) >= 50


def test_the_readme_documents_the_weights_the_jobs_use() -> None:
    from videos.jobs import transcription
    from videos.tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    for kind, weights in (("transcription", transcription.STEPS), ("reprocess", STEPS)):
        row = re.search(rf"^\| {kind} \| (.*) \|$", readme, re.MULTILINE)
        assert row, f"no README row for {kind}"
        documented = {name: float(weight) for name, weight in re.findall(r"`(\w+)` (\d+)", row.group(1))}
        assert documented == weights


def test_reprocess_runs_every_step_and_reports_its_result(transactional_db, user, openai, settings):  # noqa: ANN001, F811
    video = clip_video(user)
    Video.objects.filter(pk=video.pk).update(duration_s=None, width=None, probe={})  # refreshed by probing
    task = run(reprocess_start(owner=user, video=video))
    assert task.status == "completed", task.error_message
    result = task.result
    count = result["segments"]
    assert count == 4 and result["language"] == "en" and result["engine"] == "openai"
    # The fake chat server groups lines in pairs.
    assert [p["segment_indexes"] for p in result["paragraphs"]] == [[1, 2], [3, 4]]
    assert result["paragraphs"][0] == {
        "index": 1,
        "start": 0.0,
        "end": 2.0,
        "text": "speech from 0.00 to 1.00 speech from 1.00 to 2.00",
        "segment_indexes": [1, 2],
    }
    assert result["paragraph_engine"] == "openai"
    assert result["has_thumbnail"] is True  # the API shows it as thumbnail_url
    video.refresh_from_db()
    assert result["duration_s"] == video.duration_s and 3.0 <= video.duration_s < 3.1
    assert video.width == 320 and video.probe["has_audio"] is True and video.status == "ready"
    poster = probe(Path(video.thumbnail.path))
    assert poster.width == 480 and poster.video_codec == "mjpeg"
    assert [s.status for s in SubTask.objects.filter(task=task).order_by("position")] == ["completed"] * 5


def test_reprocessing_again_replaces_segments_and_thumbnail(transactional_db, user, openai, settings):  # noqa: ANN001, F811
    video = clip_video(user)
    first = run(reprocess_start(owner=user, video=video))
    old_thumbnail = Path(Video.objects.get(pk=video.pk).thumbnail.path)
    second = run(reprocess_start(owner=user, video=video))
    assert first.status == second.status == "completed"
    assert [r[0] for r in segments_of(video)] == [1, 2, 3, 4] and SubtitleSegment.objects.count() == 4
    thumbnails = list((Path(settings.MEDIA_ROOT) / "thumbnails").rglob("*.jpg"))
    assert thumbnails == [Path(Video.objects.get(pk=video.pk).thumbnail.path)]
    assert not old_thumbnail.exists() or old_thumbnail == thumbnails[0]


def test_an_audio_only_file_gets_segments_and_no_thumbnail(transactional_db, user, openai):  # noqa: ANN001, F811
    video = clip_video(user, speech_wav())
    task = run(reprocess_start(owner=user, video=video))
    assert task.status == "completed", task.error_message
    assert task.result["segments"] > 0 and task.result["has_thumbnail"] is False
    assert not Video.objects.get(pk=video.pk).thumbnail


def test_a_silent_video_gets_a_thumbnail_and_no_segments(transactional_db, user, openai):  # noqa: ANN001, F811
    task = run(reprocess_start(owner=user, video=clip_video(user, audio=False)))
    assert task.status == "completed", task.error_message
    assert task.result["segments"] == 0 and task.result["paragraphs"] == [] and task.result["has_thumbnail"]
    assert openai.requests == []


def test_paragraphs_use_the_rules_engine_without_a_key(transactional_db, user, openai, settings):  # noqa: ANN001, F811
    settings.PARAGRAPH_ENGINE = "rules"
    task = run(reprocess_start(owner=user, video=clip_video(user)))
    assert task.status == "completed", task.error_message
    assert task.result["paragraph_engine"] == "rules" and openai.chat_requests == []
    covered = [i for p in task.result["paragraphs"] for i in p["segment_indexes"]]
    assert covered == [1, 2, 3, 4]


def test_a_resumed_attempt_groups_the_saved_segments_without_transcribing_again(transactional_db, user, openai):  # noqa: ANN001, F811
    video = clip_video(user)
    task = reprocess_start(owner=user, video=video)
    SubtitleSegment.objects.bulk_create(
        SubtitleSegment(video=video, index=i, start=i - 1, end=i, text=f"kept line {i}") for i in (1, 2, 3)
    )
    done = {
        "probing": {"duration_s": 3.0, "has_video": True, "has_audio": True},
        "extracting_audio": {"wav": None, "duration_s": 3.0, "has_audio": True},
        "transcribing": {"segments": 3, "language": "klingon", "engine": "earlier"},
    }
    for name, result in done.items():
        SubTask.objects.filter(task=task, name=name).update(status="completed", progress=1, result=result)
    ProcessingTask.objects.filter(pk=task.pk).update(progress=75, attempts=1)
    task = run(task)
    assert task.status == "completed" and task.attempts == 2
    assert openai.transcription_requests == []
    assert task.result["language"] == "klingon" and task.result["segments"] == 3
    assert [p["segment_indexes"] for p in task.result["paragraphs"]] == [[1, 2], [3]]
    assert task.result["paragraphs"][0]["text"] == "kept line 1 kept line 2"


def test_stages_follow_the_steps_and_progress_only_grows(task_manager, user, openai):  # noqa: ANN001, F811
    openai.script_transcriptions(slow(1.0))
    task = reprocess_start(owner=user, video=clip_video(user))
    readings = progress_readings(task.pk, interval=0.01)
    progress = [p for _, p, _ in readings]
    assert progress == sorted(progress) and readings[-1][:2] == ("completed", 100.0)
    assert all(p < 100 for status, p, _ in readings if status != "completed")
    # A claimed task keeps its pending stage ("queued") until its first step starts.
    stages = [stage for status, _, stage in readings if status == "processing" and stage != "queued"]
    seen = list(dict.fromkeys(stages))
    assert "transcribing" in seen and seen == [s for s in STEPS if s in seen]  # in step order
    at_transcribing = [p for status, p, stage in readings if stage == "transcribing"]
    assert min(at_transcribing) >= STEPS["probing"] + STEPS["extracting_audio"] - 1e-6


# One segment writer per video ------------------------------------------------------------------
def test_a_transcription_is_refused_while_a_reprocess_runs_and_force_replaces_it(task_manager, user, openai):  # noqa: ANN001, F811
    openai.script_transcriptions(slow(3.0))
    video = clip_video(user)
    first = reprocess_start(owner=user, video=video)
    assert wait_for(lambda: len(openai.transcription_requests) == 1, timeout=20)
    with pytest.raises(TaskConflictError) as conflict:
        transcription_start(owner=user, video=video)
    assert conflict.value.extra["task_id"] == str(first.pk)
    second = transcription_start(owner=user, video=video, force=True)
    assert ProcessingTask.objects.get(pk=first.pk).status == "cancelled"
    assert wait_for(lambda: str(first.pk) not in task_manager.stats()["running_tasks"], timeout=2)
    wait_status(second.pk, "completed", timeout=20)
    assert [r[0] for r in segments_of(video)] == [1, 2, 3, 4]
    assert Video.objects.get(pk=video.pk).status == "ready"
