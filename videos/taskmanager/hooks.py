"""What the app hands the engine room (AppConfig.ready()): the engine room imports nothing of the app.

- child processes: how a job's children are marked with their attempt and killed when left over;
- failure describers: the message users see for an error the app knows (a full disk, say);
- transition, status and progress hooks, run inside the transactions of the writes they follow
  (store.py, context.py): an outbox, a video's status.

Companions (threads that live with a TaskManager) register with manager.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from videos.models import ProcessingTask


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


_PROGRESS_HOOKS: list[Callable[[Any, Any], None]] = []


def add_progress_hook(hook: Callable[[Any, Any], None]) -> None:
    """Run `hook(task_id, owner_id)` inside the transaction of each persisted progress write (throttled)."""
    if hook not in _PROGRESS_HOOKS:
        _PROGRESS_HOOKS.append(hook)


def run_progress_hooks(task_id: Any, owner_id: Any) -> None:
    for hook in _PROGRESS_HOOKS:
        hook(task_id, owner_id)


_STATUS_HOOKS: list[Callable[[ProcessingTask], None]] = []


def add_status_hook(hook: Callable[[ProcessingTask], None]) -> None:
    """Run `hook(task)` when a task is created or changes state, in that transaction (a video's status)."""
    if hook not in _STATUS_HOOKS:
        _STATUS_HOOKS.append(hook)


def run_status_hook(task: ProcessingTask) -> None:
    """Let the app put dependent state right in the same transaction."""
    for hook in _STATUS_HOOKS:
        hook(task)


TransitionHook = Callable[["ProcessingTask", str], None]
_hooks: list[TransitionHook] = []


def on_transition(hook: TransitionHook) -> TransitionHook:
    """Register `hook(task, event)`, called inside every transition's transaction (outboxes, audit)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def run_transition_hooks(task: ProcessingTask, event: str) -> None:
    for hook in list(_hooks):
        hook(task, event)


def remove_transition_hook(hook: TransitionHook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


def announce(task: ProcessingTask, event: str) -> None:
    """Dependent state, then the transition hooks, for a change of `task` (inside the transaction that made it)."""
    run_status_hook(task)
    run_transition_hooks(task, event)
