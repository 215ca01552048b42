"""Process helpers for media tests: find the ffmpeg children of this process, run a call in a thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def ffmpeg_children() -> set[int]:
    """Pids of live (or zombie) ffmpeg processes whose parent is this test process."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == os.getpid() and comm.startswith("ffmpeg"):
            found.add(int(entry.name))
    return found


def pid_gone(pid: int) -> bool:
    """True once the process has exited and been reaped (no zombie left behind)."""
    return not Path(f"/proc/{pid}").exists()


class Background:
    """Runs fn(*args, **kwargs) in a thread and keeps its outcome for the test to inspect."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self.result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def join(self, timeout: float) -> bool:
        """True when the call finished within `timeout` seconds."""
        self.thread.join(timeout)
        return not self.thread.is_alive()
