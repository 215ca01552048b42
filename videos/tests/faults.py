"""Fault injection inside a real server process: SIGKILL it at a chosen point of a chosen step.

Loaded in server subprocesses through TASK_EXTRA_JOB_MODULES, and active only when MONTAGE_FAULT is
set: `<step>:<when>:<target>` where `when` is `entry` (the step is marked processing, its work not
begun), `progress=<f>` (the step reported at least fraction f: ffmpeg is mid-file), or `exit` (the
work is done and kept nowhere yet: the step is not recorded as completed); `target` is `python` (this
process alone, as the OOM killer or gunicorn's timeout would) or `group` (its whole process group,
as Ctrl-C in a terminal or a container stop would). The kill is a real SIGKILL: nothing in this
process gets to clean up.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from videos.taskmanager.context import JobContext

FAULT = os.environ.get("MONTAGE_FAULT", "")


def _die(target: str) -> None:
    if target == "group":
        os.killpg(os.getpgid(0), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def install(fault: str) -> None:
    step, when, target = fault.split(":")
    run_step = JobContext.run_step
    progress = JobContext.progress

    def faulty_run_step(self: JobContext, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name != step or self.is_done(name):
            return run_step(self, name, func, *args, **kwargs)

        def work(*a: Any, **kw: Any) -> Any:
            if when == "entry":
                _die(target)
            result = func(*a, **kw)
            if when == "exit":
                _die(target)
            return result

        return run_step(self, name, work, *args, **kwargs)

    def faulty_progress(self: JobContext, fraction: float) -> None:
        progress(self, fraction)
        if when.startswith("progress=") and self._current == step and fraction >= float(when.split("=")[1]):
            self._throttle.flush()  # readers saw this value: the resumed attempt must not show less
            _die(target)

    JobContext.run_step = faulty_run_step  # type: ignore[method-assign]
    JobContext.progress = faulty_progress  # type: ignore[method-assign]


if FAULT:
    install(FAULT)
