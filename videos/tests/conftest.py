"""Shared fixtures: users, API clients, a real TaskManager, the test job kinds."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from videos.tests import jobs_for_tests  # noqa: F401 - registers the test job kinds

hypothesis_settings.register_profile(
    "ci",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.register_profile("dev", deadline=None, max_examples=15, suppress_health_check=list(HealthCheck))
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path) -> None:  # noqa: ANN001
    """Every test gets its own MEDIA_ROOT and scratch root."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TASK_TMP_ROOT = tmp_path / "media" / "tmp" / "tasks"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users


@pytest.fixture
def make_user(db):  # noqa: ANN001, ANN201
    counter = iter(range(10**6))

    def make(username: str | None = None, **extra):  # noqa: ANN003, ANN202
        name = username or f"user{next(counter)}"
        return get_user_model().objects.create_user(username=name, password="pw-" + name, **extra)

    return make


@pytest.fixture
def user(make_user):  # noqa: ANN001, ANN201
    return make_user("alice")


@pytest.fixture
def other_user(make_user):  # noqa: ANN001, ANN201
    return make_user("mallory")


def client_for(user) -> APIClient:  # noqa: ANN001
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(user) -> APIClient:  # noqa: ANN001
    return client_for(user)


@pytest.fixture
def other_api(other_user) -> APIClient:  # noqa: ANN001
    return client_for(other_user)


@pytest.fixture
def task_manager(transactional_db, settings) -> Iterator:  # noqa: ANN001
    """A real, started TaskManager with worker threads (tests that ask for it only)."""
    from videos.taskmanager.manager import get_task_manager, reset_task_manager

    settings.TASK_BACKEND = "thread"
    reset_task_manager()
    manager = get_task_manager().start()
    yield manager
    reset_task_manager()


@pytest.fixture
def immediate_backend(settings) -> None:  # noqa: ANN001
    """Run queued jobs inline when the creating transaction commits (deterministic API tests)."""
    settings.TASK_BACKEND = "immediate"


def live_database_url() -> str:
    """DATABASE_URL that a subprocess can use to reach the test database this run created."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": live_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TASK_TMP_ROOT": str(settings.TASK_TMP_ROOT),
        "TASK_EXTRA_JOB_MODULES": "videos.tests.jobs_for_tests",
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "1",
    }
    env.update(extra)
    return env


PYTHON = sys.executable


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:  # noqa: ANN001
    """Every test that touches the database is `db_bound` (CI reruns those on PostgreSQL)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & {"db", "transactional_db"} or item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.db_bound)
