"""Benchmark settings: the real ones plus bare reference views (bench/urls.py)."""

from backend.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
