"""Warm standby executor processes, started ahead of need.

A standby runs ``python -m pymesos_rt.executor --standby``: it imports the runtime, then waits
for one JSON line on its stdin, the launch (environment, sandbox, output files) that makes it a
particular executor. The launcher writes that line only after moving the process into the
executor's container, so a standby never runs a framework's code unconfined. It saves the
interpreter start and the imports (about 150 ms here) on an executor launch.

Imports only the standard library: ``rt.init()`` starts a standby before it imports the rest of
the runtime, so that the first executor is ready about when the embedded cluster is.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from pymesos_rt.agent import spawner

EXECUTOR_ARGV = [sys.executable, "-m", "pymesos_rt.executor"]


def spawn(
    cwd: Path | str, extra_env: dict[str, str], stderr: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a standby (raises OSError if it cannot). It dies with this process: through
    PR_SET_PDEATHSIG (bound to the forking thread: ``spawner`` forks from one that lives as
    long as this process) and when its stdin closes."""
    env = {**os.environ, **extra_env, "PYMESOS_RT_PARENT_PID": str(os.getpid())}
    with open(stderr or os.devnull, "ab") as err:
        return spawner.popen(
            # -P: the working directory (writable by executors) is not put on sys.path while
            # the standby imports the runtime outside any container
            [EXECUTOR_ARGV[0], "-P", *EXECUTOR_ARGV[1:], "--standby"],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            close_fds=True,
        )


def usable(proc: subprocess.Popen[bytes], argv: list[str]) -> bool:
    """Whether ``proc`` can become an executor started with ``argv`` (the standard executor
    command with this interpreter) and is still alive."""
    return argv == EXECUTOR_ARGV and proc.poll() is None


def hand_over(proc: subprocess.Popen[bytes], env: dict[str, str], sandbox: Path) -> None:
    """Tell a standby (already in its container) which executor it is."""
    launch = {
        "env": env,
        "cwd": str(sandbox),
        "stdout": str(sandbox / "stdout"),
        "stderr": str(sandbox / "stderr"),
    }
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps(launch).encode() + b"\n")
        proc.stdin.close()
    except (BrokenPipeError, ValueError) as exc:
        raise OSError(f"standby executor {proc.pid} is gone: {exc}") from exc


def discard(proc: subprocess.Popen[bytes]) -> None:
    """Stop a standby that will not be used (it has run nothing but imports)."""
    if proc.poll() is None:  # not reaped yet, so its pid is still its own
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
