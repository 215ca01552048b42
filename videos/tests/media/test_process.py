"""Children of the service: own session, death with the parent, the attempt marker, leftovers killed safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from videos.media import process
from videos.tests.conftest import ROOT
from videos.tests.taskmanager.helpers import wait_for

linux_only = pytest.mark.skipif(not process.parent_death_signal_supported(), reason="PR_SET_PDEATHSIG is Linux-only")


def gone(pid: int) -> bool:
    """Not running: absent, or a zombie nobody reaped yet (in a container PID 1 may never reap)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@linux_only
@pytest.mark.parametrize("kill_group", [False, True], ids=["python-only", "whole-group"])
def test_a_child_dies_with_its_parent_even_when_only_the_parent_is_sigkilled(kill_group):  # noqa: ANN001
    script = textwrap.dedent(
        """
        import sys, time
        from videos.media import process
        child = process.spawn(["sleep", "60"])
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
        assert os.getsid(child) == child  # its own session: a signal to our group does not reach it
        if kill_group:
            os.killpg(parent.pid, signal.SIGKILL)
        else:
            os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert wait_for(lambda: gone(child), timeout=5), "the child outlived its parent"
    finally:
        parent.kill()
        parent.wait()


def test_children_carry_the_attempt_marker_and_get_recorded():
    recorded: list[int] = []
    with process.attempt_scope("task-1:2", recorded.append):
        child = process.spawn(["sleep", "30"])
    outside = process.spawn(["sleep", "30"])
    try:
        assert recorded == [child.pid]
        assert process.process_marker(child.pid) == "task-1:2"
        assert process.process_marker(outside.pid) is None
        assert process.find_marked("task-1") == [child.pid]
    finally:
        for proc in (child, outside):
            proc.kill()
            proc.wait()


def test_kill_leftovers_kills_only_the_tasks_earlier_attempts():
    with process.attempt_scope("task-2:1"):
        earlier = process.spawn(["sleep", "30"])
    with process.attempt_scope("task-2:2"):
        current = process.spawn(["sleep", "30"])
    with process.attempt_scope("task-3:1"):
        other_task = process.spawn(["sleep", "30"])
    stranger = subprocess.Popen(["sleep", "30"])  # a recorded pid that is not ours (a reused pid) is left alone
    try:
        killed = process.kill_leftovers("task-2", [earlier.pid, stranger.pid], current="task-2:2")
        assert killed == [earlier.pid]
        earlier.wait(5)
        time.sleep(0.1)
        assert current.poll() is None and other_task.poll() is None and stranger.poll() is None
    finally:
        for proc in (earlier, current, other_task, stranger):
            proc.kill()
            proc.wait()
