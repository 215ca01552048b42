"""What the app hands the engine room (AppConfig.ready()): the engine room imports nothing of the app.

- child processes: how a job's children are marked with their attempt and killed when left over;
- failure describers: the message users see for an error the app knows (a full disk, say).

Transition and progress hooks live with the writes they follow (store.py); companions with the
TaskManager (manager.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Protocol


class ChildProcesses(Protocol):
    def attempt_scope(self, marker: str, on_spawn: Callable[[int], None] | None = None) -> AbstractContextManager[None]:
        """Mark every child this thread starts with `marker`; `on_spawn(pid)` records each one."""

    def kill_leftovers(self, task_id: str, pids: Iterable[int], *, current: str | None = None) -> list[int]:
        """Kill what an earlier attempt of `task_id` left running (never `current`'s own children)."""


class _NoChildren:
    """Until the app says otherwise, jobs start no tracked children."""

    def attempt_scope(self, marker: str, on_spawn: Callable[[int], None] | None = None) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def kill_leftovers(self, task_id: str, pids: Iterable[int], *, current: str | None = None) -> list[int]:
        return []


_children: ChildProcesses = _NoChildren()
FailureDescriber = Callable[[BaseException], "tuple[str, str | None] | None"]
_describers: list[FailureDescriber] = []


def set_child_processes(children: ChildProcesses) -> None:
    global _children
    _children = children


def child_processes() -> ChildProcesses:
    return _children


def add_failure_describer(describer: FailureDescriber) -> None:
    """`describer(exc)` returns (message, detail) for an error it knows, else None; the first answer wins."""
    if describer not in _describers:
        _describers.append(describer)


def describe_failure(exc: BaseException) -> tuple[str, str | None] | None:
    for describer in _describers:
        described = describer(exc)
        if described is not None:
            return described
    return None


