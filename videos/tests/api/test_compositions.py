"""Compositions API on real ffmpeg: copy path, normalising re-encode, MoviePy, validation, progress, cancel."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from videos.media.probe import probe
from videos.models import ProcessingTask, Video
from videos.services.videos import video_import
from videos.taskmanager.backends import run_pending_inline
from videos.taskmanager.context import task_tmp_dir
from videos.tests.clips import cached_clip
from videos.tests.taskmanager.helpers import wait_for

pytestmark = pytest.mark.slow


def assert_error(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body


def clip_video(owner, **kw) -> Video:  # noqa: ANN001
    """One of `owner`'s videos, stored from a cached lavfi clip through the real import service."""
    return video_import(owner=owner, path=cached_clip(**kw))


def small(**kw) -> dict:
    return {"seconds": 1, "width": 320, "height": 240, "fps": 25, "audio": True, **kw}


def compose(api, videos: list, **extra):  # noqa: ANN001, ANN201
    return api.post("/api/v1/compositions/", {"videos": [str(v.pk) for v in videos], **extra}, format="json")


def ffmpeg_children() -> list[int]:
    """ffmpeg processes that are children of this test process (any thread), read from /proc."""
    pids = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            pids += [int(p) for p in children.read_text().split()]
        except OSError:
            continue
    found = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "ffmpeg":
                found.append(pid)
        except OSError:
            continue
    return found


def finished_composition(api, response) -> dict:  # noqa: ANN001
    """The composition's progress body after the immediate backend ran it inside the request."""
    assert response.status_code == 202, response.content
    body = api.get(f"/api/v1/compositions/{response.json()['task_id']}/").json()
    assert body["status"] == "completed", body["error_message"]
    return body


# Completed compositions (immediate backend: the job runs when the request commits) ---------------
def test_compatible_clips_take_the_copy_path(transactional_db, immediate_backend, api, user):  # noqa: ANN001
    a, b = clip_video(user, **small(seconds=1)), clip_video(user, **small(seconds=2))
    response = compose(api, [a, b], title="Trip")
    assert response["Location"] == response.json()["status_url"]
    assert response.json()["kind"] == "composition" and response.json()["video_id"] is None
    body = finished_composition(api, response)
    assert body["progress"] == 100 and body["stage"] == "completed"
    assert [s["name"] for s in body["subtasks"]] == ["probe", "concatenate", "finalize"]
    assert sum(s["weight"] for s in body["subtasks"]) == 100
    output = body["output"]
    assert output["mode"] == "copy" and output["engine"] == "ffmpeg"
    assert abs(output["duration_s"] - (a.duration_s + b.duration_s)) <= 0.1
    assert (output["width"], output["height"]) == (320, 240)

    video = Video.objects.get(pk=output["video_id"])
    assert video.owner == user and video.status == "ready" and video.title == "Trip"
    assert video.size_bytes == output["size_bytes"] == Path(video.file.path).stat().st_size
    on_disk = probe(video.file.path)
    assert abs(on_disk.duration_s - (a.duration_s + b.duration_s)) <= 0.1 and on_disk.has_audio

    result = api.get(f"/api/v1/tasks/{body['task_id']}/result").json()
    assert result["result"] == output
    download = api.get(output["file_url"], HTTP_RANGE="bytes=0-7")
    assert (
        download.status_code == 206 and b"".join(download.streaming_content) == Path(video.file.path).read_bytes()[:8]
    )
    assert not task_tmp_dir(body["task_id"]).exists()


def test_mismatched_sizes_rates_and_a_silent_clip_compose_into_a_playable_file(
    transactional_db, immediate_backend, api, user
):  # noqa: ANN001
    clips = [
        clip_video(user, **small(seconds=1)),
        clip_video(user, **small(seconds=1, width=160, height=120, fps=30)),
        clip_video(user, **small(seconds=1, width=240, height=320, audio=False)),
    ]
    output = finished_composition(api, compose(api, clips))["output"]
    assert output["mode"] != "copy"
    assert (output["width"], output["height"]) == (320, 240)  # the first clip's size
    on_disk = probe(Video.objects.get(pk=output["video_id"]).file.path)
    assert on_disk.video_codec == "h264" and on_disk.has_audio
    assert (on_disk.width, on_disk.height) == (320, 240)
    assert abs(on_disk.duration_s - sum(c.duration_s for c in clips)) <= 0.15
    assert Video.objects.get(pk=output["video_id"]).title == "Composition of 3 clips"


def test_requested_size(transactional_db, immediate_backend, api, user):  # noqa: ANN001
    a, b = clip_video(user, **small()), clip_video(user, **small(width=160, height=120))
    output = finished_composition(api, compose(api, [a, b], width=256, height=144))["output"]
    assert (output["width"], output["height"]) == (256, 144)
    assert_error(compose(api, [a, b], width=256), 400, "invalid")
    assert_error(compose(api, [a, b], width=255, height=144), 400, "invalid")


def test_moviepy_engine_gives_an_equivalent_output(transactional_db, immediate_backend, api, user):  # noqa: ANN001
    a, b = clip_video(user, **small()), clip_video(user, **small(width=160, height=120, fps=30))
    output = finished_composition(api, compose(api, [a, b], engine="moviepy"))["output"]
    assert output["engine"] == "moviepy"
    on_disk = probe(Video.objects.get(pk=output["video_id"]).file.path)
    assert (on_disk.width, on_disk.height) == (320, 240) and on_disk.has_audio
    assert abs(on_disk.duration_s - (a.duration_s + b.duration_s)) <= 0.15


def test_the_same_video_twice(transactional_db, immediate_backend, api, user):  # noqa: ANN001
    a = clip_video(user, **small(seconds=1))
    output = finished_composition(api, compose(api, [a, a]))["output"]
    assert abs(output["duration_s"] - 2 * a.duration_s) <= 0.1


# Refusals ---------------------------------------------------------------------------------------
def test_too_few_videos(db, api, user):  # noqa: ANN001
    a = clip_video(user, **small())
    assert_error(compose(api, []), 400, "too_few_videos")
    assert_error(compose(api, [a]), 400, "too_few_videos")
    assert_error(api.post("/api/v1/compositions", {}, format="json"), 400, "invalid")
    assert not ProcessingTask.objects.exists()


def test_unknown_foreign_or_malformed_ids_are_invalid(db, api, user, other_user):  # noqa: ANN001
    mine, theirs = clip_video(user, **small()), clip_video(other_user, **small())
    body = assert_error(compose(api, [mine, theirs]), 400, "invalid")
    assert str(theirs.pk) in body["detail"]
    missing = "00000000-0000-4000-8000-000000000000"
    body = assert_error(
        api.post("/api/v1/compositions/", {"videos": [str(mine.pk), missing]}, format="json"), 400, "invalid"
    )
    assert missing in body["detail"]
    assert_error(api.post("/api/v1/compositions/", {"videos": [str(mine.pk), "nope"]}, format="json"), 400, "invalid")
    assert_error(compose(api, [mine, mine], engine="gimp"), 400, "invalid")
    assert not ProcessingTask.objects.exists()


def test_too_many_clips_are_refused_by_count_before_anything_else(db, api, user):  # noqa: ANN001
    a = clip_video(user, **small(seconds=1))
    started = time.perf_counter()
    body = assert_error(compose(api, [a] * 10_000), 400, "too_many_videos")
    assert time.perf_counter() - started < 5  # counted, not 10,000 ids validated and looked up
    assert "200" in body["detail"] and "10000" in body["detail"]
    assert_error(
        api.post("/api/v1/compositions/", {"videos": ["not-an-id"] * 201}, format="json"), 400, "too_many_videos"
    )
    assert compose(api, [a] * 200).status_code == 202  # the limit itself is allowed
    assert ProcessingTask.objects.count() == 1


def test_an_output_over_the_duration_limit_is_refused(db, api, user, settings):  # noqa: ANN001
    a = clip_video(user, **small(seconds=1))
    settings.MAX_OUTPUT_DURATION_S = 10
    body = assert_error(compose(api, [a] * 11), 400, "output_too_long")
    assert "limit is 10 s" in body["detail"] and body["duration_s"] > 10
    assert not ProcessingTask.objects.exists()
    assert compose(api, [a] * 9).status_code == 202


def test_an_audio_only_clip_is_unsupported_media_naming_it(db, api, user, tmp_path):  # noqa: ANN001
    import subprocess

    audio = tmp_path / "tone.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio)], check=True
    )
    song = video_import(owner=user, path=audio, title="Just a tone")
    a = clip_video(user, **small(seconds=1))
    body = assert_error(compose(api, [a, song]), 400, "unsupported_media")
    assert str(song.pk) in body["detail"] and "Just a tone" in body["detail"] and "item 2" in body["detail"]
    assert body["video_id"] == str(song.pk)
    assert not ProcessingTask.objects.exists()


def test_another_users_composition_is_not_found(db, api, other_api, user):  # noqa: ANN001
    a = clip_video(user, **small())
    task_id = compose(api, [a, a]).json()["task_id"]  # thread backend, no manager: stays pending
    assert_error(other_api.get(f"/api/v1/compositions/{task_id}/"), 404, "not_found")
    assert_error(other_api.post(f"/api/v1/compositions/{task_id}/cancel"), 404, "not_found")


def test_post_answers_fast_and_touches_no_media(db, api, user, settings):  # noqa: ANN001
    """Inputs of 2 GB each (sparse files, not even media): the request reads rows only."""
    model = clip_video(user, **small())
    videos = []
    for i in range(3):
        big = Path(settings.MEDIA_ROOT) / "videos" / f"big{i}.mp4"
        with open(big, "wb") as fh:
            fh.truncate(2 * 1024**3)
        videos.append(
            Video.objects.create(owner=user, file=f"videos/big{i}.mp4", probe=model.probe, size_bytes=2 * 1024**3)
        )
    started = time.perf_counter()
    response = compose(api, videos)
    elapsed = time.perf_counter() - started
    assert response.status_code == 202 and elapsed < 0.5, elapsed
    assert ProcessingTask.objects.get(pk=response.json()["task_id"]).status == "pending"


def test_delete_of_an_input_is_refused_while_the_composition_is_active(db, api, user):  # noqa: ANN001
    a, b = clip_video(user, **small()), clip_video(user, **small())
    task_id = compose(api, [a, b]).json()["task_id"]
    body = assert_error(api.delete(f"/api/v1/videos/{b.pk}/"), 409, "task_conflict")
    assert body["task_id"] == task_id


def test_an_input_deleted_meanwhile_fails_clearly(transactional_db, api, user, settings):  # noqa: ANN001
    a, b = clip_video(user, **small()), clip_video(user, **small())
    task_id = compose(api, [a, b]).json()["task_id"]
    Video.objects.filter(pk=b.pk).delete()  # behind the API's back (admin, a script)
    run_pending_inline()
    body = api.get(f"/api/v1/compositions/{task_id}/").json()
    assert body["status"] == "failed" and body["output"] is None
    assert str(b.pk) in body["error_message"] and "no longer exists" in body["error_message"]
    assert Video.objects.count() == 1  # no output video


def test_schema_documents_compositions_and_videos(db, api):  # noqa: ANN001
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for path in (
        "/api/v1/compositions/",
        "/api/v1/compositions/{id}/",
        "/api/v1/compositions/{id}/cancel",
        "/api/v1/videos/",
        "/api/v1/videos/{id}/file",
    ):
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), path


# Real worker threads ----------------------------------------------------------------------------
def test_progress_is_monotonic_and_100_only_at_completion(task_manager, api, user):  # noqa: ANN001
    clips = [clip_video(user, **small(seconds=3)), clip_video(user, **small(seconds=3, width=160, height=120, fps=30))]
    task_id = compose(api, clips).json()["task_id"]
    reads = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/compositions/{task_id}").json()
        reads.append((body["status"], body["progress"], body["output"] is not None))
        if body["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.02)
    assert reads[-1][0] == "completed", reads[-1]
    progress = [p for _, p, _ in reads]
    assert progress == sorted(progress), progress
    assert all(0 <= p <= 100 for p in progress)
    assert all((p == 100) == (status == "completed") for status, p, _ in reads)
    assert all(has_output == (status == "completed") for status, _, has_output in reads)
    assert any(0 < p < 100 for p in progress), "no intermediate progress was ever read"


def test_cancel_mid_encode_stops_ffmpeg_and_leaves_no_partial_file(task_manager, api, user, settings):  # noqa: ANN001
    settings.FFMPEG_PRESET = "placebo"  # a slow encode, so the cancel surely lands mid-way
    clips = [clip_video(user, **small(seconds=3)), clip_video(user, **small(seconds=3, width=160, height=120))]
    task_id = compose(api, clips).json()["task_id"]
    scratch = task_tmp_dir(task_id)

    def encoding() -> bool:
        body = api.get(f"/api/v1/compositions/{task_id}").json()
        concatenate = body["subtasks"][1]
        writing = scratch.is_dir() and any(p.suffix == ".mp4" for p in scratch.iterdir())  # this run's own part file
        return concatenate["status"] == "processing" and bool(ffmpeg_children()) and writing

    assert wait_for(encoding, timeout=60), "ffmpeg never started writing"

    started = time.monotonic()
    response = api.post(f"/api/v1/compositions/{task_id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] in ("processing", "cancelled") and response.json()["cancel_requested"]
    assert wait_for(lambda: api.get(f"/api/v1/compositions/{task_id}/").json()["status"] == "cancelled", timeout=2)
    assert time.monotonic() - started < 2
    assert wait_for(lambda: not ffmpeg_children(), timeout=2), ffmpeg_children()
    assert wait_for(lambda: not scratch.exists() or not any(scratch.iterdir()), timeout=2)
    body = api.get(f"/api/v1/compositions/{task_id}/").json()
    assert body["output"] is None and body["progress"] < 100
    # the step ffmpeg was killed in reads cancelled, like the task, not failed
    assert {s["name"]: s["status"] for s in body["subtasks"]} == {
        "probe": "completed",
        "concatenate": "cancelled",
        "finalize": "cancelled",
    }
    assert_error(api.post(f"/api/v1/compositions/{task_id}/cancel"), 409, "not_cancellable")
    assert Video.objects.count() == 2
