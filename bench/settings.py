"""Benchmark settings: the real ones plus bare reference views (bench/urls.py)."""

import os

from backend.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# Django's own SQLite backend instead of the project's (bench_tasks.py --sqlite-engine), to compare lock waits.
if os.environ.get("BENCH_SQLITE_ENGINE") and DATABASES["default"]["ENGINE"] == "backend.sqlite":  # noqa: F405
    DATABASES["default"]["ENGINE"] = os.environ["BENCH_SQLITE_ENGINE"]  # noqa: F405
