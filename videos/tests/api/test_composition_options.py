"""Composition options through the API: trims, size, subtitles; the output owns the shifted transcript."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from videos.engines.transcription.base import Segment, Word
from videos.media.probe import probe
from videos.models import ProcessingTask, Video
from videos.services.transcripts import video_segments_replace
from videos.tests.api.test_compositions import assert_error, clip_video, finished_composition, small
from videos.tests.media import framecheck as fc
from videos.tests.taskmanager.helpers import wait_for

pytestmark = pytest.mark.slow


def post(api, videos: list, **extra):  # noqa: ANN001, ANN201
    return api.post("/api/v1/compositions/", {"videos": videos, **extra}, format="json")


def spoken(video: Video, *cues: tuple[float, float, str]) -> Video:
    """Give `video` a transcript: each cue's words spread evenly over it."""
    segments = []
    for start, end, text in cues:
        words = text.split()
        step = (end - start) / len(words)
        timed = tuple(Word(start + i * step, start + (i + 1) * step, f" {w}", 0.9) for i, w in enumerate(words))
        segments.append(Segment(start, end, text, timed))
    video_segments_replace(video=video, segments=segments, language="en")
    return video


def test_trims_size_and_soft_subtitles_end_to_end(transactional_db, immediate_backend, api, user):  # noqa: ANN001
    a = spoken(clip_video(user, **small(seconds=3)), (0.2, 0.9, "gone before"), (1.2, 2.0, "kept words here"))
    b = spoken(clip_video(user, **small(seconds=2, tone_hz=880)), (0.4, 1.2, "second clip speaks"))
    items = [{"video": str(a.pk), "start": 1.0, "end": 2.6}, str(b.pk), {"video": str(a.pk), "end": 0.8}]
    body = finished_composition(api, post(api, items, size="640x360", subtitles="soft", title="Cut"))
    output = body["output"]
    assert (output["width"], output["height"]) == (640, 360) and output["mode"] == "reencode"
    assert output["plan"] == "reencode: 3 clips re-encoded (640x360 25 fps)"
    assert abs(output["duration_s"] - (1.6 + 2.0 + 0.8)) <= 1 / 25 + 0.03
    path = Path(Video.objects.get(pk=output["video_id"]).file.path)
    assert fc.subtitle_track(path) and fc.decode_clean(path)

    segments = api.get(f"/api/v1/videos/{output['video_id']}/segments").json()
    got = [(round(s["start"], 2), round(s["end"], 2), s["text"], [w["word"] for w in s["words"]]) for s in segments]
    assert got == [
        (0.2, 1.0, "kept words here", ["kept", "words", "here"]),  # 1.2-2.0 in clip 1, which starts at 1.0
        (2.0, 2.8, "second clip speaks", ["second", "clip", "speaks"]),  # clip 2 lands at 1.6
        (3.8, 4.4, "gone before", ["gone", "before"]),  # clip 3 (0.2-0.8 s of clip 1) lands at 3.6: cut at 0.8
    ], got
    assert Video.objects.get(pk=output["video_id"]).language == "en"


def test_smart_rendering_through_the_api_says_which_path_ran(transactional_db, task_manager, api, user):  # noqa: ANN001
    same = [clip_video(user, **small(seconds=2, tone_hz=hz)) for hz in (330, 440, 550)]
    odd = clip_video(user, **small(seconds=2, width=160, height=120, fps=30, audio=False))
    task_id = post(api, [str(v.pk) for v in (same[0], odd, same[1], same[2])]).json()["task_id"]
    stages = set()

    def finished() -> bool:
        body = api.get(f"/api/v1/compositions/{task_id}/").json()
        stages.add(body["stage"])
        return body["status"] in ("completed", "failed", "cancelled")

    assert wait_for(finished, timeout=120, interval=0.02)
    body = api.get(f"/api/v1/compositions/{task_id}/").json()
    assert body["status"] == "completed", body["error_message"]
    assert body["output"]["mode"] == "smart"
    assert body["output"]["plan"] == "smart: 3 clips stream-copied, 1 re-encoded (320x240 25 fps)"
    assert "concatenate:smart" in stages, stages
    assert fc.decode_clean(Path(Video.objects.get(pk=body["output"]["video_id"]).file.path))


def test_burned_subtitles_and_largest_size(transactional_db, immediate_backend, api, user):  # noqa: ANN001
    a = spoken(clip_video(user, **small(seconds=1)), (0.1, 0.9, "drawn on the picture"))
    big = clip_video(user, **small(seconds=1, width=640, height=480))
    output = finished_composition(api, post(api, [str(a.pk), str(big.pk)], size="largest", subtitles="burn"))["output"]
    assert (output["width"], output["height"]) == (640, 480)
    path = Path(Video.objects.get(pk=output["video_id"]).file.path)
    assert probe(path).has_video and not fc_has_subtitles(path)
    assert [s["text"] for s in api.get(f"/api/v1/videos/{output['video_id']}/segments").json()] == [
        "drawn on the picture"
    ]


def fc_has_subtitles(path: Path) -> bool:
    from videos.media.composition import subtitle_streams

    return bool(subtitle_streams(path))


def test_moviepy_takes_the_same_options(transactional_db, immediate_backend, api, user):  # noqa: ANN001
    a = spoken(clip_video(user, **small(seconds=2)), (1.0, 1.8, "moviepy words"))
    b = clip_video(user, **small(seconds=1, width=160, height=120))
    items = [{"video": str(a.pk), "start": 0.8}, str(b.pk)]
    body = finished_composition(api, post(api, items, engine="moviepy", size="320x240", subtitles="soft"))
    output = body["output"]
    assert output["engine"] == "moviepy" and output["mode"] == "moviepy" and output["plan"].startswith("moviepy:")
    assert abs(output["duration_s"] - 2.2) <= 0.1
    segments = api.get(f"/api/v1/videos/{output['video_id']}/segments").json()
    assert [(round(s["start"], 2), s["text"]) for s in segments] == [(0.2, "moviepy words")]


# Refusals ---------------------------------------------------------------------------------------
def test_bad_trims_sizes_and_subtitles_are_invalid(db, api, user):  # noqa: ANN001
    a = clip_video(user, **small(seconds=2))
    vid = str(a.pk)
    for items, words in (
        ([{"video": vid, "start": 1.5, "end": 1.0}, vid], "end"),
        ([{"video": vid, "start": 2.5}, vid], "not inside"),
        ([{"video": vid, "end": 9}, vid], "not inside"),
        ([{"video": vid, "start": -1}, vid], "start"),
        ([{"video": vid, "start": "soon"}, vid], "start"),
        ([{"video": vid, "speed": 2}, vid], "speed"),
        ([{"start": 1}, vid], "video"),
    ):
        body = assert_error(post(api, items), 400, "invalid")
        assert words in str(body), (items, body)
    for size in ("641x360", "8x8", "huge", "5000x5000"):
        assert_error(post(api, [vid, vid], size=size), 400, "invalid")
    assert_error(post(api, [vid, vid], subtitles="karaoke"), 400, "invalid")
    assert_error(post(api, [vid, vid], size="320x240", width=320, height=240), 400, "invalid")
    assert not ProcessingTask.objects.exists()


def test_the_length_limit_counts_the_trimmed_durations(db, api, user, settings):  # noqa: ANN001
    a = clip_video(user, **small(seconds=3))
    settings.MAX_OUTPUT_DURATION_S = 10
    vid = str(a.pk)
    assert_error(post(api, [vid] * 4), 400, "output_too_long")  # 12 s whole
    response = post(api, [{"video": vid, "start": 1.0}] * 4)  # 8 s trimmed
    assert response.status_code == 202
    task = ProcessingTask.objects.get(pk=response.json()["task_id"])
    assert task.args["trims"] == [[1.0, None]] * 4 and task.args["size"] == "first"


def test_the_request_stays_fast_with_trims(db, api, user):  # noqa: ANN001
    a = clip_video(user, **small(seconds=2))
    started = time.perf_counter()
    response = post(api, [{"video": str(a.pk), "start": 0.5, "end": 1.5}] * 200, size="1280x720", subtitles="burn")
    assert response.status_code == 202 and time.perf_counter() - started < 2
