"""The executor's own writes (executor/worker.py): a result held back to share a frame with the
results of tasks queued behind it still reaches the driver while those tasks run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import pymesos_rt as rt

pytestmark = pytest.mark.integration


@rt.remote
def quick_or_held(release: str) -> int:
    if release:
        deadline = time.monotonic() + 120
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
    return os.getpid()


def test_a_result_held_for_batching_is_not_held_behind_a_long_task(tmp_path: Path):
    rt.init(num_cpus=1, isolation="none")
    try:
        pids = {rt.get(quick_or_held.remote("")) for _ in range(20)}  # learn it is short
        assert len(pids) == 1
        release = tmp_path / "release"
        first = quick_or_held.remote("")
        second = quick_or_held.remote(str(release))  # queued behind `first` on the executor
        # `first` finished while `second` was queued: its result was held to share a frame,
        # and must still arrive while `second` waits (if it did not, this get would time out)
        assert rt.get(first, timeout=60) in pids
        release.write_text("go")
        assert rt.get(second, timeout=60) in pids
    finally:
        rt.shutdown()


@rt.remote
def thread_name() -> str:
    import threading

    return threading.current_thread().name


@rt.remote
class Named:
    def thread_name(self) -> str:
        import threading

        return threading.current_thread().name

    def nested(self, x: int) -> int:
        return rt.get(double.remote(x))  # the reading role has moved on meanwhile


@rt.remote
def double(x: int) -> int:
    return 2 * x


def test_an_idle_executor_runs_a_call_on_the_thread_that_read_it():
    """No hand-off to a sleeping runner or actor thread when the executor is idle (worker.py:
    leader and followers); a call that blocks in get still gets its answer, read by the next
    leader, and the actor's order holds."""
    rt.init(num_cpus=2, isolation="none")
    try:
        # (a call that arrives while the one before still sends its result may be handed off)
        names = {rt.get(thread_name.remote()) for _ in range(10)}
        assert not all(n.startswith("task-runner") for n in names), names
        actor = Named.remote()
        names = {rt.get(actor.thread_name.remote()) for _ in range(10)}
        assert not all(n.startswith("actor-") for n in names), names
        assert rt.get([actor.nested.remote(i) for i in range(10)]) == [2 * i for i in range(10)]
    finally:
        rt.shutdown()
