"""Executor processes never outlive their driver: not after shutdown, not after the driver's
interpreter exits without calling it, not after the driver is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

pytestmark = pytest.mark.integration

DRIVER = textwrap.dedent(
    """
    import os, sys, time
    import pymesos_rt as rt

    rt.init(num_cpus=2)

    @rt.remote
    def pid():
        time.sleep(0.2)
        return os.getpid()

    pids = sorted(set(rt.get([pid.remote() for _ in range(4)])))
    print(" ".join(map(str, pids)), flush=True)
    if sys.argv[1] == "hang":
        time.sleep(600)
    # "exit": once the test has seen the executors, leave without rt.shutdown(); atexit must
    # clean up
    sys.stdin.readline()
    """
)


def _gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while time.monotonic() < deadline:
        alive = [
            p
            for p in pids
            if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_executors_die_with_their_driver(how, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen(
        [sys.executable, str(script), "hang" if how == "sigkill" else "exit"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        pids = [int(p) for p in line.split()]
        assert pids, "driver printed no executor pids"
        assert all(psutil.pid_exists(p) for p in pids)
        if how == "sigkill":
            os.kill(proc.pid, signal.SIGKILL)
        else:
            proc.stdin.write("exit\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        assert proc.wait(timeout=30) in (0, -signal.SIGKILL)
        assert _gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
