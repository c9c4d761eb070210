"""``rt.Executor`` at interpreter exit, as CPython's ``ExecutorShutdownTest`` checks it for its
own executors (``test_interpreter_shutdown``, ``test_submit_after_interpreter_shutdown``,
``test_hang_gh83386``): those scripts import the executor from ``concurrent.futures``, so
they are ported here with the same checks. A task's output reaches the driver prefixed with
the task and node it came from, so "apple" is checked after that prefix."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

PRELUDE = """
import sys, time
import pymesos_rt as rt

def sleep_and_print(t, msg):
    time.sleep(t)
    print(msg)
    sys.stdout.flush()
"""


def run_python(source: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def problems(err: str) -> list[str]:
    """What the program wrote to stderr, but for the runtime's announcement of its dashboard
    (``logs.announce``, info on stderr by default)."""
    return [line for line in err.splitlines() if "logger=pymesos_rt.announce" not in line]


def printed_by_a_task(out: str) -> str:
    match = re.fullmatch(r"\(sleep_and_print \S+ on \S+\) (.*)", out.strip())
    assert match, out
    return match.group(1)


def test_a_future_submitted_before_exit_completes():
    rc, out, err = run_python(
        PRELUDE
        + """
if __name__ == "__main__":
    rt.init(num_cpus=1, memory="1GiB")
    t = rt.Executor(5)
    t.submit(sleep_and_print, 1.0, "apple")
"""
    )
    assert rc == 0, err
    assert not problems(err)
    assert printed_by_a_task(out) == "apple"


def test_submit_after_interpreter_shutdown_is_a_runtime_error():
    _, out, err = run_python(
        """
import atexit
@atexit.register
def run_last():
    try:
        t.submit(id, None)
    except RuntimeError:
        print("runtime-error")
        raise
import pymesos_rt as rt
if __name__ == "__main__":
    rt.init(num_cpus=1, memory="1GiB")
    t = rt.Executor(5)
    t.submit(id, 42).result()
"""
    )
    assert "RuntimeError: cannot schedule new futures" in err
    assert out.strip() == "runtime-error"


def test_shutdown_without_waiting_does_not_drop_the_future_at_exit():
    rc, out, err = run_python(
        PRELUDE
        + """
if __name__ == "__main__":
    rt.init(num_cpus=1, memory="1GiB")
    t = rt.Executor(max_workers=3)
    t.submit(sleep_and_print, 1.0, "apple")
    t.shutdown(wait=False)
"""
    )
    assert rc == 0, err
    assert not problems(err)
    assert printed_by_a_task(out) == "apple"
