"""Fault injection: a real server SIGKILLed at every step of every job kind, then restarted.

Each case runs `manage.py runserver` with MONTAGE_FAULT (see videos/tests/faults.py), which SIGKILLs
the server (its Python process alone, or its whole process group) at a chosen point of a chosen
step. Then, with no fault, a second server starts on the same database and media. What must hold:
no child process of the dead server survives it (ffmpeg dies with its parent), the task ends
completed with a verified output (or failed with a message), the video's status agrees with its
tasks, the attempts log says what happened, progress never went down, scratch space is gone.
Transcription runs against the local OpenAI-protocol server (videos/tests/fake_openai.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from videos.media import process
from videos.media.probe import probe
from videos.media.verify import decode_errors
from videos.models import ProcessingTask, SubtitleSegment, Video
from videos.services.compositions import composition_start
from videos.services.pipeline import reprocess_start, transcription_start
from videos.services.srt_media import srt_media_start
from videos.services.videos import video_import
from videos.taskmanager.context import task_tmp_dir
from videos.tests.clips import cached_clip
from videos.tests.conftest import PYTHON
from videos.tests.fake_openai import FakeOpenAI, fake_openai  # noqa: F401 - the fixture
from videos.tests.taskmanager.helpers import wait_for
from videos.tests.taskmanager.test_processes import Server, free_port

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Fault:
    kind: str
    step: str
    when: str  # entry | progress=<f> | exit
    target: str  # python | group

    @property
    def spec(self) -> str:
        return f"{self.step}:{self.when}:{self.target}"

    def __str__(self) -> str:
        return f"{self.kind}-{self.step}-{self.when}-{self.target}"


# (kind, step, reports ffmpeg progress): every step of every kind.
STEPS = [
    ("composition", "probe", False),
    ("composition", "concatenate", True),
    ("composition", "finalize", False),
    ("composition-copy", "concatenate", False),  # stream copy: too quick to be seen mid-file
    ("transcription", "extracting_audio", True),
    ("transcription", "transcribing", False),
    ("transcription", "saving", False),
    ("reprocess", "probing", False),
    ("reprocess", "extracting_audio", True),
    ("reprocess", "transcribing", False),
    ("reprocess", "paragraphs", False),
    ("reprocess", "thumbnail", False),
    ("srt_media", "transcribing", False),
    ("srt_media", "processing_llm", False),
    ("srt_media", "aligning", False),
]
# Early and late in each step, the Python process alone early and the whole group late; the long
# re-encode gets the other pairing too.
FAULTS = [
    fault
    for kind, step, moving in STEPS
    for fault in (
        Fault(kind, step, "progress=0.15" if moving else "entry", "python"),
        Fault(kind, step, "progress=0.7" if moving else "exit", "group"),
    )
] + [
    Fault("composition", "concatenate", "progress=0.15", "group"),
    Fault("composition", "concatenate", "progress=0.7", "python"),
]


def start(kind: str, user: Any) -> tuple[ProcessingTask, list[Video]]:
    """The task for `kind` on freshly stored inputs (clips long enough that ffmpeg is seen mid-file)."""
    if kind == "composition":
        first = video_import(owner=user, path=cached_clip(seconds=6, width=640, height=360, fps=25))
        second = video_import(owner=user, path=cached_clip(seconds=6, width=480, height=360, fps=25))
        return composition_start(owner=user, videos=[first.pk, second.pk]), [first, second]
    if kind == "composition-copy":
        clip = video_import(owner=user, path=cached_clip(seconds=6, width=640, height=360, fps=25))
        return composition_start(owner=user, videos=[clip.pk, clip.pk, clip.pk]), [clip]
    video = video_import(owner=user, path=cached_clip(seconds=20, width=160, height=120, fps=10))
    starters: dict[str, Callable[..., ProcessingTask]] = {
        "transcription": transcription_start,
        "reprocess": reprocess_start,
    }
    if kind == "srt_media":
        return srt_media_start(owner=user, video_id=video.pk), [video]
    return starters[kind](owner=user, video=video), [video]


def runserver(port: int, log: Path, **env: str) -> Server:
    """runserver without its system checks: 64 start-ups in this file, the checks run elsewhere."""
    return Server(
        [PYTHON, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"], port, log, **env
    )


def progress_of(task_id: Any) -> float:
    return ProcessingTask.objects.values_list("progress", flat=True).get(pk=task_id)


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_a_server_killed_at_this_point_leaves_nothing_corrupt_or_orphaned(
    fault: Fault,
    transactional_db: None,
    user: Any,
    tmp_path: Path,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    env = {
        "TASK_LEASE_SECONDS": "300",  # only start-up recovery (a dead pid on this host) can explain a resume
        "TASK_POLL_SECONDS": "0.1",
        "TASK_EXTRA_JOB_MODULES": "videos.tests.jobs_for_tests,videos.tests.faults",
        "TRANSCRIPTION_ENGINE": "openai",
        "PARAGRAPH_ENGINE": "rules",
        "OPENAI_API_KEY": fake_openai.api_key,
        "OPENAI_BASE_URL": fake_openai.base_url,
    }
    log = tmp_path / "server.log"
    port = free_port()
    readings: list[float] = []

    server = runserver(port, log, MONTAGE_FAULT=fault.spec, **env)
    try:
        task, inputs = start(fault.kind, user)
        deadline = time.monotonic() + 90
        while server.proc.poll() is None and time.monotonic() < deadline:
            readings.append(progress_of(task.pk))
            time.sleep(0.02)
        assert server.proc.poll() is not None, f"the fault never fired:\n{log.read_text()[-3000:]}"
        # The server died by SIGKILL: whatever it started must be gone with it, without any recovery.
        assert wait_for(lambda: not process.find_marked(str(task.pk)), timeout=1), "a child outlived the server"
        died = ProcessingTask.objects.get(pk=task.pk)
        assert died.status == "processing" and died.attempts_log[-1]["outcome"] == "running"
        readings.append(died.progress)

        server = runserver(port, log, **env)

        def finished() -> bool:
            readings.append(progress_of(task.pk))
            return ProcessingTask.objects.get(pk=task.pk).is_finished

        assert wait_for(finished, timeout=120, interval=0.05), log.read_text()[-3000:]
    finally:
        server.stop()

    task.refresh_from_db()
    assert task.status == "completed", f"{task.status}: {task.error_message}\n{log.read_text()[-3000:]}"
    assert readings == sorted(readings), f"progress went down: {readings}"
    outcomes = [(entry["attempt"], entry["outcome"]) for entry in task.attempts_log]
    assert outcomes == [(1, "interrupted"), (2, "completed")], task.attempts_log
    assert task.attempts_log[0]["stage"].split(":")[0] == fault.step  # "concatenate:smart": the step, then its path
    assert not process.find_marked(str(task.pk))
    assert not task_tmp_dir(task.pk).exists()
    check_result(fault.kind, task, inputs)


def check_result(kind: str, task: ProcessingTask, inputs: list[Video]) -> None:
    if kind.startswith("composition"):
        outputs = Video.objects.exclude(pk__in=[v.pk for v in inputs])
        assert [str(v.pk) for v in outputs] == [task.result["video_id"]]  # exactly one output, none orphaned
        assert outputs[0].status == "ready"
        assert set(Video.objects.filter(pk__in=[v.pk for v in inputs]).values_list("status", flat=True)) == {"uploaded"}
        path = Path(outputs[0].file.path)
        expected = sum(v.duration_s for v in inputs) if kind == "composition" else inputs[0].duration_s * 3
        assert abs(probe(path).duration_s - expected) < 0.5
        assert decode_errors(path) == []  # the whole file decodes: no second writer, no truncation
        return
    video = Video.objects.get(pk=inputs[0].pk)
    if kind == "srt_media":
        covered = sorted(i for p in task.result["paragraphs"] for i in p["segment_indexes"])
        assert covered == list(range(1, task.result["cues"] + 1)) and covered
        return
    assert video.status == "ready"
    rows = list(SubtitleSegment.objects.filter(video=video).order_by("index").values_list("index", "start"))
    assert task.result["segments"] == len(rows) > 0
    assert [i for i, _ in rows] == list(range(1, len(rows) + 1))
    assert [s for _, s in rows] == sorted(s for _, s in rows)
    if kind == "reprocess":
        assert video.thumbnail and Path(video.thumbnail.path).is_file()
