"""The SQLite backend's lock waits (backend/sqlite): retried only where the refused statement did nothing."""

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db.utils import ConnectionHandler, IntegrityError, OperationalError

from backend.sqlite.base import _askers
from videos.tests.taskmanager.helpers import wait_for

HOLD_SECONDS = 0.3


def open_db(path: Path, timeout: float):  # noqa: ANN201
    """A Django connection to `path` through the project's SQLite backend, as settings configure it."""
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "backend.sqlite",
                "NAME": str(path),
                "OPTIONS": {
                    "timeout": timeout,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL",
                },
            }
        }
    )
    return handler["default"]  # a handler of its own: not the test database


@contextmanager
def immediate_transaction(db) -> Iterator[None]:  # noqa: ANN001
    """What atomic() does on this connection: BEGIN IMMEDIATE (retried while locked), then commit."""
    db.ensure_connection()
    db._start_transaction_under_autocommit()
    try:
        yield
    except BaseException:
        db.connection.rollback()
        raise
    db.connection.commit()


@pytest.fixture(autouse=True)
def own_database_files(django_db_blocker) -> Iterator[None]:  # noqa: ANN001
    """These tests open their own files, never the test database."""
    with django_db_blocker.unblock():
        yield


def new_db(path: Path) -> Path:
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE item (name TEXT PRIMARY KEY)")
    setup.close()
    return path


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return new_db(tmp_path / "locks.sqlite3")


def hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection takes the write lock now and commits after `seconds`."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO item VALUES ('holder')")

    def release() -> None:
        time.sleep(seconds)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def names(path: Path) -> list[str]:
    reader = sqlite3.connect(path)
    try:
        return sorted(name for (name,) in reader.execute("SELECT name FROM item"))
    finally:
        reader.close()


def test_a_write_refused_outside_a_transaction_lands_once_the_lock_is_free(db_file: Path) -> None:
    db = open_db(db_file, timeout=10)
    holder = hold_write_lock(db_file, HOLD_SECONDS)
    started = time.monotonic()
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO item VALUES (%s)", ["mine"])
    waited = time.monotonic() - started
    holder.join()
    db.close()
    assert waited >= HOLD_SECONDS * 0.8  # it met the lock, well past SQLite's own 5 ms per try
    assert names(db_file) == ["holder", "mine"]


def test_an_atomic_block_waits_for_its_begin_then_commits(db_file: Path) -> None:
    db = open_db(db_file, timeout=10)
    holder = hold_write_lock(db_file, HOLD_SECONDS)
    with immediate_transaction(db):
        with db.cursor() as cursor:
            cursor.execute("INSERT INTO item VALUES (%s)", ["a"])
            cursor.execute("INSERT INTO item VALUES (%s)", ["b"])
    holder.join()
    db.close()
    assert names(db_file) == ["a", "b", "holder"]


def test_the_wait_ends_at_the_configured_timeout(db_file: Path) -> None:
    db = open_db(db_file, timeout=0.3)
    holder = hold_write_lock(db_file, 3)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="locked"), db.cursor() as cursor:
        cursor.execute("INSERT INTO item VALUES (%s)", ["late"])
    waited = time.monotonic() - started
    holder.join()
    db.close()
    assert 0.3 <= waited < 2.5
    assert names(db_file) == ["holder"]


def test_busy_inside_an_open_transaction_is_not_retried(db_file: Path) -> None:
    """A deferred transaction that read first cannot take the lock later: retrying would hide a conflict."""
    db = open_db(db_file, timeout=10)
    db.ensure_connection()
    raw = db.connection
    raw.execute("BEGIN")  # deferred, by hand: the project's own transactions are IMMEDIATE
    raw.execute("SELECT count(*) FROM item").fetchall()
    holder = hold_write_lock(db_file, 3)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="locked"), db.cursor() as cursor:
        cursor.execute("INSERT INTO item VALUES (%s)", ["upgrade"])
    assert time.monotonic() - started < 1.0  # one SQLite try of 5 ms, not the 10 s timeout
    raw.execute("ROLLBACK")
    holder.join()
    db.close()


def test_executemany_outside_a_transaction_is_all_or_nothing(db_file: Path) -> None:
    """Without a transaction each row would commit alone; one bad row now leaves none behind."""
    db = open_db(db_file, timeout=10)
    with pytest.raises(IntegrityError), db.cursor() as cursor:
        cursor.executemany("INSERT INTO item VALUES (%s)", [["x"], ["y"], ["x"]])
    with db.cursor() as cursor:
        cursor.executemany("INSERT INTO item VALUES (%s)", [["p"], ["q"]])
    db.close()
    assert names(db_file) == ["p", "q"]


def test_many_waiting_threads_all_get_through(db_file: Path) -> None:
    holder = hold_write_lock(db_file, HOLD_SECONDS)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        db = open_db(db_file, timeout=10)
        try:
            with immediate_transaction(db), db.cursor() as cursor:
                cursor.execute("INSERT INTO item VALUES (%s)", [f"t{i}"])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    holder.join()
    assert errors == []
    assert names(db_file) == sorted(["holder", *(f"t{i}" for i in range(8))])


def test_a_wait_on_one_database_does_not_hold_up_another(tmp_path: Path) -> None:
    first, second = new_db(tmp_path / "first.sqlite3"), new_db(tmp_path / "second.sqlite3")
    long_hold = hold_write_lock(first, 3)
    waiting = threading.Thread(target=lambda: insert(open_db(first, timeout=10), "late"))
    waiting.start()
    assert wait_for(lambda: _askers[str(first)].locked(), timeout=5)  # it asks about the first file for 3 s
    short_hold = hold_write_lock(second, HOLD_SECONDS)
    started = time.monotonic()
    insert(open_db(second, timeout=10), "soon")
    assert time.monotonic() - started < 2.0  # not queued behind the first file's asker
    for thread in (short_hold, long_hold, waiting):
        thread.join()
    assert names(first) == ["holder", "late"]
    assert names(second) == ["holder", "soon"]


def insert(db, name: str) -> None:  # noqa: ANN001
    try:
        with db.cursor() as cursor:
            cursor.execute("INSERT INTO item VALUES (%s)", [name])
    finally:
        db.close()
