"""Hostile-input costs, side by side in one run (median of --runs):

1. SRT: a "1:1:1:..." line with no "-->", checked by the old r"\\d+:\\d+.*-->" search (the reference)
   and by today's parse_srt(), at growing sizes: quadratic against linear.
2. Task lists: a page of 20 tasks whose `args` hold 10,000 clip ids and whose results hold 10,000 cues,
   serialized as TaskProgress from the full rows (the old list) and from task_summaries() (today),
   against a page of 20 ordinary tasks.
3. Throttles: an authenticated GET with the rate counted in LocMem (the old, per-process setting) and in
   the database cache (shared by every process).

    .venv/bin/python bench/bench_hostile.py [--runs 5] [--no-write]

Figures go to docs/BENCHMARKS.md (section "Hostile input").
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OLD_LOOKS_LIKE_TIMING = re.compile(r"\d+:\d+.*-->")  # the pattern issue 12 found, kept here as the reference
SRT_SIZES_KB = (25, 50, 100)
BIG_IDS = 10_000


def median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_srt(runs: int) -> list[str]:
    from videos.engines.subtitles import SubtitleParseError, parse_srt

    def parse(line: str) -> None:
        try:
            parse_srt(line)
        except SubtitleParseError:
            pass

    rows = ["| line | old search (reference) | parse_srt today | ratio |", "|---|---|---|---|"]
    for kb in SRT_SIZES_KB:
        line = "1:" * (kb * 512)
        old = median_seconds(lambda line=line: OLD_LOOKS_LIKE_TIMING.search(line), max(1, runs // 2))
        new = median_seconds(lambda line=line: parse(line), runs)
        rows.append(f"| {kb} KB | {old * 1000:,.0f} ms | {new * 1000:.2f} ms | {old / new:,.0f}x |")
        print(rows[-1], flush=True)
    return rows


def bench_task_list(runs: int) -> list[str]:
    from django.contrib.auth import get_user_model

    from videos import selectors
    from videos.api.serializers import TaskProgressSerializer
    from videos.models import ProcessingTask, SubTask
    from videos.services.tasks import task_submit

    def owner(name: str, args: dict, result: dict | None):  # noqa: ANN202
        user = get_user_model().objects.create_user(username=name)
        for _ in range(20):
            task = task_submit(owner=user, kind="test_gate", args={"gate_name": "x", **args})
            ProcessingTask.objects.filter(pk=task.pk).update(status="completed", progress=100, result=result)
            SubTask.objects.filter(task=task).update(result=result)
        return user

    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(BIG_IDS)]
    big = owner("big", {"video_ids": ids}, {"cues": [{"index": i, "text": "some words"} for i in range(BIG_IDS)]})
    small = owner("small", {}, {"ok": True})

    def page(select: Callable[..., object], user: object) -> Callable[[], object]:
        return lambda: TaskProgressSerializer(select(owner=user)[:20], many=True).data

    cases = {
        "20 ordinary tasks (reference)": page(selectors.task_list, small),
        "20 big tasks, full rows (old list)": page(selectors.task_list, big),
        "20 big tasks, task_summaries() (today)": page(selectors.task_summaries, big),
    }
    reference = None
    rows = ["| page | median | vs reference |", "|---|---|---|"]
    for name, work in cases.items():
        seconds = median_seconds(work, runs)
        reference = reference or seconds
        rows.append(f"| {name} | {seconds * 1000:.1f} ms | {seconds / reference:.2f}x |")
        print(rows[-1], flush=True)
    return rows


def bench_throttle_cache(runs: int, requests: int = 200) -> list[str]:
    """The price of counting throttles where every process sees them: one authenticated GET, cache per row."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user(username="throttled")
    token = Token.objects.create(user=user).key
    caches = {
        "per-process LocMem (reference, the old setting)": "django.core.cache.backends.locmem.LocMemCache",
        "database cache (today)": "django.core.cache.backends.db.DatabaseCache",
    }
    reference = None
    rows = ["| throttle counters in | per request (median) | vs reference |", "|---|---|---|"]
    for name, backend in caches.items():
        with override_settings(CACHES={"default": {"BACKEND": backend, "LOCATION": "montage_cache"}}):
            client = Client(HTTP_AUTHORIZATION=f"Token {token}")

            def burst(client: Client = client) -> None:
                for _ in range(requests):
                    assert client.get("/api/v1/users/me/tasks").status_code == 200

            seconds = median_seconds(burst, runs) / requests
        reference = reference or seconds
        rows.append(f"| {name} | {seconds * 1000:.2f} ms | {seconds / reference:.2f}x |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
                "MEDIA_ROOT": str(Path(tmp) / "media"),
                "TASK_EXTRA_JOB_MODULES": "videos.tests.jobs_for_tests",
                "TASK_AUTOSTART": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", "--noinput", verbosity=0)
        srt_rows = bench_srt(args.runs)
        list_rows = bench_task_list(args.runs)
        throttle_rows = bench_throttle_cache(args.runs)
    body = "\n".join(
        [
            "SRT: one line of `1:1:1:...` (no `-->`), the line the old parser searched with",
            "`\\d+:\\d+.*-->`. Doubling the line quadruples the old search (quadratic, the GIL held throughout:",
            "the whole process stops); parse_srt today refuses it in time proportional to its length.",
            "",
            *srt_rows,
            "",
            "Task lists: TaskProgress of a page of 20 tasks on SQLite. Deferring `args`/`result` (the tasks' and",
            "their steps') takes most of the cost of huge arguments and results out of a list page; what is left on",
            "SQLite is reading past those values' overflow pages to the columns stored after them.",
            "",
            *list_rows,
            "",
            "Throttles: 200 authenticated GETs of `/api/v1/users/me/tasks` in-process on SQLite, the request",
            "rate counted in a per-process cache (what N gunicorn workers multiplied by N) and in the database",
            "cache every process shares: the price of a limit that holds.",
            "",
            *throttle_rows,
        ]
    )
    print(body)
    if not args.no_write:
        from bench.bench_tasks import write_section

        write_section("Hostile input", body, f"python bench/bench_hostile.py --runs {args.runs}")


if __name__ == "__main__":
    main()
