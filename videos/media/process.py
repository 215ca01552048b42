"""Every child process the service starts (ffmpeg, ffprobe, engine workers) starts here.

A child runs in its own session (so a Ctrl-C meant for the CLI or a signal to the server's process
group does not reach it first) with a parent-death signal: on Linux the kernel SIGKILLs it the moment
the thread that started it dies, including when the Python process is SIGKILLed or OOM-killed. Each
child also carries `MONTAGE_TASK_ATTEMPT=<task>:<attempt>` in its environment while a task attempt is
current in the starting thread, so recovery can find and kill a leftover of an earlier life and be
sure it is ours (see `kill_leftovers`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

log = logging.getLogger("montage.media")
MARKER_VAR = "MONTAGE_TASK_ATTEMPT"
PR_SET_PDEATHSIG = 1

_local = threading.local()


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover - every Linux has a libc
        return None


_LIBC = _load_libc()  # loaded here: the child between fork and exec must not import or allocate much


def _child_setup(parent_pid: int) -> Callable[[], None] | None:
    """The preexec function: SIGKILL on parent death, and exit at once if the parent is already gone."""
    libc = _LIBC
    if libc is None:
        return None

    def setup() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(137)

    return setup


def parent_death_signal_supported() -> bool:
    return _LIBC is not None


@contextlib.contextmanager
def attempt_scope(marker: str, on_spawn: Callable[[int], None] | None = None) -> Iterator[None]:
    """Mark every child started by this thread with `marker`; `on_spawn(pid)` records each one."""
    previous = getattr(_local, "scope", None)
    _local.scope = (marker, on_spawn)
    try:
        yield
    finally:
        _local.scope = previous


def current_marker() -> str | None:
    scope = getattr(_local, "scope", None)
    return scope[0] if scope else None


def current_scope() -> tuple[str, Callable[[int], None] | None] | None:
    """This thread's (marker, on_spawn), to carry into a helper thread that starts children for it."""
    return getattr(_local, "scope", None)


def child_popen_kwargs(popen_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Popen keyword arguments plus our own session, the parent-death signal and the attempt marker."""
    kwargs = dict(popen_kwargs)
    scope = current_scope()
    if scope is not None:
        env = dict(kwargs.pop("env", None) or os.environ)
        env[MARKER_VAR] = scope[0]
        kwargs["env"] = env
    kwargs["start_new_session"] = True
    kwargs["preexec_fn"] = _child_setup(os.getpid())
    return kwargs


def record_child(pid: int) -> None:
    """Tell the attempt's scope about a child started through child_popen_kwargs()."""
    scope = current_scope()
    if scope is not None and scope[1] is not None:
        try:
            scope[1](pid)
        except Exception:  # recording is a safety net; never fail the work because of it
            log.warning("process.record_failed pid=%s", pid, exc_info=True)


def spawn(cmd: list[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen in a new session with a parent-death signal and the attempt marker."""
    proc = subprocess.Popen(cmd, **child_popen_kwargs(popen_kwargs))
    record_child(proc.pid)
    return proc


def run(cmd: list[str], *, timeout: float, **popen_kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """subprocess.run's capture-and-wait through spawn(); the child is killed on timeout or error."""
    proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, **popen_kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def process_marker(pid: int) -> str | None:
    """The MONTAGE_TASK_ATTEMPT value in a live process's environment, or None (gone, not ours, unreadable)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read()
    except OSError:
        return None
    prefix = MARKER_VAR.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode("utf-8", "replace")
    return None


def find_marked(task_id: str) -> list[int]:
    """Pids of live processes on this host whose marker names `task_id` (any attempt)."""
    if not os.path.isdir("/proc"):
        return []
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            marker = process_marker(int(name))
            if marker is not None and marker.split(":", 1)[0] == str(task_id):
                found.append(int(name))
    return found


def kill_leftovers(task_id: str, pids: Iterable[int], *, current: str | None = None) -> list[int]:
    """SIGKILL (with their process groups) the listed pids and any other process marked for `task_id`.

    A pid is killed only when its environment carries this task's marker (never a recycled pid that
    now belongs to someone else) and not `current` (the live attempt's own children).
    """
    killed = []
    for pid in sorted(set(pids) | set(find_marked(task_id))):
        marker = process_marker(pid)
        if marker is None or marker.split(":", 1)[0] != str(task_id) or marker == current:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            try:
                os.killpg(pid, signal.SIGKILL)  # it leads its own session and group
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    if killed:
        log.warning("process.leftovers_killed task_id=%s pids=%s", task_id, killed)
    return killed


class _SubprocessThroughSpawn:
    """The `subprocess` module as a library sees it, except that Popen goes through spawn()."""

    Popen = staticmethod(spawn)

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)


def route_library_children(*modules: Any) -> None:
    """Make libraries that call `sp.Popen` (MoviePy's readers and writers) start their children here too."""
    shim = _SubprocessThroughSpawn()
    for module in modules:
        if getattr(module, "sp", None) is subprocess:
            module.sp = shim
