"""The hostile-input corpus (videos/tests/hostile.py) against every input-taking endpoint: each case a 4xx
JSON error within a second, with nothing stored, changed or lost."""

from __future__ import annotations

import pytest

from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.services.tasks import task_submit
from videos.services.videos import video_import
from videos.tests import hostile
from videos.tests.clips import cached_clip


@pytest.fixture
def hostile_ids(user, other_user, settings) -> dict[str, str]:  # noqa: ANN001
    """A real video, an audio-only one, a 3-hour one (rows only), a failed and a completed task, a foreign video."""
    settings.SYNC_PROCESS_TIMEOUT_SECONDS = 2  # a case wrongly accepted by /sync shows as slow, not a hang
    # No task limit masks a case wrongly accepted before it (each would answer 429 after the fifth).
    settings.MAX_CONCURRENT_TASKS_PER_USER = settings.MAX_GLOBAL_CONCURRENT_TASKS = 100_000
    video = video_import(owner=user, path=cached_clip(seconds=1, width=64, height=48, fps=10))
    tone = {"duration_s": 1.0, "has_video": False, "width": None, "has_audio": True, "audio_codec": "aac"}
    audio = Video.objects.create(owner=user, title="tone", file="videos/tone.m4a", duration_s=1.0, probe=tone)
    long = Video.objects.create(
        owner=user, title="long", file=video.file.name, duration_s=3 * 3600.0, width=64, height=48
    )
    failed = task_submit(owner=user, kind="test_gate", args={"gate_name": "x"})
    done = task_submit(owner=user, kind="test_gate", args={"gate_name": "y"})
    ProcessingTask.objects.filter(pk=failed.pk).update(status="failed")
    ProcessingTask.objects.filter(pk=done.pk).update(status="completed", progress=100.0, result={"ok": True})
    foreign = video_import(owner=other_user, path=cached_clip(seconds=1, width=64, height=48, fps=10))
    ids = {"video": video, "audio": audio, "long": long, "task": failed, "done": done, "foreign": foreign}
    return {name: str(obj.pk) for name, obj in ids.items()}


def stored_state() -> tuple:
    videos = sorted(Video.objects.values_list("pk", "title", "status", "file", "duration_s"))
    tasks = sorted(ProcessingTask.objects.values_list("pk", "status", "progress", "args", "result"))
    return videos, tasks, SubtitleSegment.objects.count()


def test_every_hostile_input_is_a_quick_4xx_json_error_and_changes_nothing(db, api, hostile_ids, settings):  # noqa: ANN001
    settings.MAX_UPLOAD_MB = 5
    cases = hostile.corpus()
    before = stored_state()
    files = [Video.objects.get(pk=hostile_ids[name]).file.path for name in ("video", "foreign")]
    api.raise_request_exception = False  # a 500 is an outcome to count, not an exception to stop at
    outcomes = hostile.run(api, hostile_ids, cases)
    wrong = [f"{o.case.name}: {o.problem}" for o in outcomes if o.problem]
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"hostile corpus: {len(outcomes)} tried, {len(wrong)} mishandled, slowest {slowest.seconds:.3f} s")
    assert not wrong, "\n".join(wrong)
    assert len(outcomes) >= 150
    assert stored_state() == before  # nothing stored, changed or lost
    assert all(open(path, "rb").read(4) for path in files)
