"""SQLite whose writers wait for the write lock in short steps rather than SQLite's growing sleeps.

SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ... 100 ms between tries: a writer that loses a few
races sleeps far longer than the lock was held, and under a few dozen writers (request threads, task
workers, other processes) that becomes the tail latency. Here SQLite waits at most 5 ms per try (sleeps
of 1-2 ms), and a statement refused while no transaction was open, which therefore did nothing, is
tried again until the configured `timeout` runs out. One thread per process and file does the asking; the
others queue on a lock that wakes them without polling. Transactions are IMMEDIATE (settings): they
take the write lock at BEGIN, which is retried like any statement, and meet no lock after it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import defaultdict
from typing import Any

from django.db.backends.sqlite3 import base

# What SQLite itself waits per try: its sleeps of 1 and 2 ms, then "busy" back to us.
SQLITE_WAIT_PER_TRY_MS = 5
# Per database file: the thread of this process that keeps asking SQLite holds its lock, the others queue on it.
_askers: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def _fresh_askers_after_fork() -> None:
    _askers.clear()  # a child forked while a thread held one would otherwise start with it held


os.register_at_fork(after_in_child=_fresh_askers_after_fork)


class LockWaitingConnection(sqlite3.Connection):
    lock_wait_seconds = 5.0
    database = ""


class LockWaitingCursor(base.SQLiteCursorWrapper):
    """Retries a statement that found the database locked before it could do anything."""

    def execute(self, query: str, params: Any = None) -> Any:
        return self._waiting(super().execute, query, params)

    def executemany(self, query: str, param_list: Any) -> Any:
        if self.connection.in_transaction:
            return super().executemany(query, param_list)
        # Outside a transaction each row would commit alone: a refusal halfway could not be retried.
        param_list = list(param_list)
        self.execute("BEGIN IMMEDIATE")
        try:
            result = super().executemany(query, param_list)
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()
        return result

    def _waiting(self, run: Any, *args: Any) -> Any:
        try:
            return run(*args)
        except sqlite3.OperationalError as error:
            if not self._refused_untouched(error):
                raise
        # One thread per process and file asks again every few ms; the others wait without waking up.
        deadline = time.monotonic() + self.connection.lock_wait_seconds
        asker = _askers[self.connection.database]
        if not asker.acquire(timeout=self.connection.lock_wait_seconds):
            return run(*args)
        try:
            while True:
                try:
                    return run(*args)
                except sqlite3.OperationalError as error:
                    if not self._refused_untouched(error) or time.monotonic() >= deadline:
                        raise
        finally:
            asker.release()

    def _refused_untouched(self, error: sqlite3.OperationalError) -> bool:
        """Busy while no transaction was open: the statement did nothing and can simply run again."""
        return error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY and not self.connection.in_transaction


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        return {**super().get_connection_params(), "factory": LockWaitingConnection}

    def get_new_connection(self, conn_params: dict[str, Any]) -> LockWaitingConnection:
        conn = super().get_new_connection(conn_params)  # the init commands wait the whole timeout
        conn.lock_wait_seconds = float(conn_params.get("timeout", 5.0))
        conn.database = str(conn_params["database"])
        conn.execute(f"PRAGMA busy_timeout = {SQLITE_WAIT_PER_TRY_MS}")
        return conn

    def create_cursor(self, name: str | None = None) -> LockWaitingCursor:
        return self.connection.cursor(factory=LockWaitingCursor)
