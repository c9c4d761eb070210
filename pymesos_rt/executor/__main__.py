"""Entry point of an executor process: ``python -m pymesos_rt.executor``.

Configuration comes from the environment the agent sets: ``PYMESOS_RT_DRIVER_URL``,
``PYMESOS_RT_EXECUTOR_ID``, and ``PYMESOS_RT_DRIVER_SECRET`` (its driver's data-plane secret,
which the driver put in the launch command). The process exits when its driver connection
closes, when asked to stop, on SIGTERM, and (through PR_SET_PDEATHSIG) when its agent dies.
"""

from __future__ import annotations

import asyncio
import ctypes
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


def main() -> int:
    logs.configure()
    _die_with_parent()
    url = os.environ["PYMESOS_RT_DRIVER_URL"]
    executor_id = os.environ["PYMESOS_RT_EXECUTOR_ID"]
    secret = os.environ.get("PYMESOS_RT_DRIVER_SECRET", "")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(executor_id, loop)
    loop.add_signal_handler(signal.SIGTERM, worker.done.set)
    try:
        loop.run_until_complete(worker.run(url, secret))
    except OSError as exc:
        log.error("cannot reach the driver at %s: %s", url, exc)
        return 3
    finally:
        worker.runner.stop()
    sys.stdout.flush()
    os._exit(0)  # do not wait for task threads still blocked in user code


if __name__ == "__main__":
    sys.exit(main())
