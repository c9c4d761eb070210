"""Executors die with the thread that forked them (PR_SET_PDEATHSIG): agent/spawner.py forks
from a thread that lives as long as the process, whichever thread runs the agent's code."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from pymesos_rt.agent import spawner

# the executor's own setting (executor/__main__.py), then a line to say it is in place
CHILD = (
    "import ctypes, signal, sys, time; ctypes.CDLL(None).prctl(1, signal.SIGKILL); "
    "print('ready', flush=True); sys.stdin.read()"
)


def start_in_a_thread(via_spawner: bool) -> subprocess.Popen[bytes]:
    started: list[subprocess.Popen[bytes]] = []

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def run() -> None:
        proc = spawner.call(popen) if via_spawner else popen()
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        started.append(proc)

    thread = threading.Thread(target=run)  # a short-lived thread, as a Pool's result thread
    thread.start()
    thread.join(30)
    return started[0]


@pytest.mark.parametrize("via_spawner", [True, False])
def test_a_child_outlives_the_thread_that_asked_for_it_only_through_the_spawner(via_spawner):
    proc = start_in_a_thread(via_spawner)
    try:
        if via_spawner:
            with pytest.raises(subprocess.TimeoutExpired):  # still running
                proc.wait(timeout=0.5)
        else:  # the kernel kills it when the forking thread ends
            assert proc.wait(timeout=30) == -9
    finally:
        proc.kill()
        proc.wait(30)


def test_the_spawner_returns_what_the_call_raises():
    def fail() -> None:
        raise OSError("no such program")

    result: list[BaseException] = []

    def run() -> None:
        try:
            spawner.call(fail)
        except OSError as exc:
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert [str(e) for e in result] == ["no such program"]
