"""Entry point of an executor process: ``python -m pymesos_rt.executor``.

Configuration comes from the environment the agent sets: ``PYMESOS_RT_DRIVER_URL``,
``PYMESOS_RT_EXECUTOR_ID``, and ``PYMESOS_RT_DRIVER_SECRET`` (its driver's data-plane secret,
which the driver put in the launch command). The process exits when its driver connection
closes, when asked to stop, on SIGTERM, and (through PR_SET_PDEATHSIG) when its agent dies.

With ``--standby`` the process is an agent's warm standby: it imports the runtime, then waits
for one JSON line on stdin (the environment, sandbox and output files of the executor it is to
become; the agent has put it in that executor's container first) and goes on as that executor.
It exits quietly when stdin closes first (the agent stopped or discarded it).
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys

from pymesos_rt import logs
from pymesos_rt.executor.worker import Worker

log = logging.getLogger("pymesos_rt.executor")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    expected = os.environ.get("PYMESOS_RT_PARENT_PID")
    if expected and os.getppid() != int(expected):
        os._exit(1)  # the parent died before prctl took effect


def _become_executor() -> None:
    """Standby: wait for the launch the agent writes on stdin and take on its settings."""
    _die_with_parent()  # while waiting; set again below for the executor's own parent check
    line = sys.stdin.buffer.readline()
    if not line:
        os._exit(0)
    launch = json.loads(line)
    os.environ.clear()
    os.environ.update(launch["env"])
    os.chdir(launch["cwd"])
    for fd, path in ((1, launch["stdout"]), (2, launch["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # what the interpreter would have put first on sys.path, started here with this PYTHONPATH
    # (the standby ran with -P: nothing of its own working directory is on sys.path)
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[0:0] = [launch["cwd"], *[p for p in extra if p not in sys.path]]
    del sys.argv[1:]  # as an executor started directly sees it


def main() -> int:
    if sys.argv[1:] == ["--standby"]:
        _become_executor()
    logs.configure()
    _die_with_parent()
    url = os.environ["PYMESOS_RT_DRIVER_URL"]
    executor_id = os.environ["PYMESOS_RT_EXECUTOR_ID"]
    secret = os.environ.get("PYMESOS_RT_DRIVER_SECRET", "")
    worker = Worker(executor_id)
    signal.signal(signal.SIGTERM, lambda signum, frame: worker.interrupt())
    try:
        why = worker.run(url, secret)
    except (OSError, ValueError) as exc:
        log.error("cannot reach the driver at %s: %s", url, exc)
        return 3
    finally:
        worker.runner.stop()
    log.info("%s", why)
    sys.stdout.flush()
    os._exit(0)  # do not wait for task threads still blocked in user code


if __name__ == "__main__":
    sys.exit(main())
