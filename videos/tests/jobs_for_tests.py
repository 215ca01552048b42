"""Job kinds used only by tests: slow, blocking or failing on demand, through the real machinery.

Loaded in-process by conftest and in server subprocesses through TASK_EXTRA_JOB_MODULES.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from videos.taskmanager.context import JobContext
from videos.taskmanager.registry import job

# Tests open these gates to let a blocked job go on (in-process only).
GATES: dict[str, threading.Event] = {}
STARTED: dict[str, threading.Event] = {}
RUNS: dict[str, int] = {}
_runs_lock = threading.Lock()


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


def started(name: str) -> threading.Event:
    return STARTED.setdefault(name, threading.Event())


@job("test_sleep", steps={"first": 30, "second": 70})
def sleep_job(ctx: JobContext, *, seconds: float = 1.0, fail_in: str = "", marker_dir: str = "", **_: object) -> dict:
    """Two steps, each sleeping `seconds` in small slices with progress and checkpoints."""

    def work(step: str) -> dict:
        (ctx.tmp_dir / f"{step}.partial").write_text("scratch")
        if marker_dir:
            Path(marker_dir, f"{ctx.task_id}.{step}.attempt{ctx.attempt}").touch()
        slices = max(1, int(seconds / 0.02))
        for i in range(slices):
            ctx.checkpoint()
            time.sleep(seconds / slices)
            ctx.progress((i + 1) / slices)
        if fail_in == step:
            raise RuntimeError(f"failing on purpose in {step}")
        return {"step": step, "attempt": ctx.attempt}

    first = ctx.run_step("first", work, "first")
    second = ctx.run_step("second", work, "second")
    return {"first": first, "second": second}


@job("test_gate", steps={"wait": 50, "finish": 50})
def gate_job(ctx: JobContext, *, gate_name: str = "", **_: object) -> dict:
    """Blocks in its first step until the test opens gate `gate_name` (or the task is cancelled)."""
    with _runs_lock:
        RUNS[str(ctx.task_id)] = RUNS.get(str(ctx.task_id), 0) + 1
    with ctx.step("wait"):
        (ctx.tmp_dir / "scratch.tmp").write_text("x")
        started(gate_name).set()
        while not gate(gate_name).wait(0.01):
            ctx.checkpoint()
    with ctx.step("finish"):
        ctx.progress(1.0)
    return {"gate": gate_name}


@job("test_noop", steps={"run": 100})
def noop_job(ctx: JobContext, **_: object) -> dict:
    """Does nothing: for counting that every task runs exactly once."""
    with _runs_lock:
        RUNS[str(ctx.task_id)] = RUNS.get(str(ctx.task_id), 0) + 1
    with ctx.step("run"):
        ctx.progress(1.0)
    return {"ok": True}


@job("test_burst", steps={"burst": 40, "rest": 60})
def burst_job(ctx: JobContext, *, updates: int = 730, seconds: float = 1.0, gate_name: str = "", **_: object) -> dict:
    """Reports progress `updates` times over `seconds`, then waits on a gate: for the throttle."""
    with ctx.step("burst"):
        for i in range(1, updates + 1):
            ctx.progress(i / 1000)
            time.sleep(seconds / updates)
        started(gate_name).set()
        while not gate(gate_name).wait(0.01):
            ctx.checkpoint()
    with ctx.step("rest"):
        ctx.progress(0.5)
    return {}


@job("test_cpu", steps={"burn": 100})
def cpu_job(ctx: JobContext, *, seconds: float = 0.5, **_: object) -> dict:
    """Keeps one core busy in pure Python for `seconds` (progress and checkpoints as it goes): for
    measuring how work spreads over worker processes."""
    rounds = 0
    with ctx.step("burn"):
        end = time.process_time() + seconds
        while (now := time.process_time()) < end:
            for _ in range(20_000):
                rounds += 1
            ctx.checkpoint()
            ctx.progress(1 - (end - now) / seconds)
    return {"rounds": rounds}
