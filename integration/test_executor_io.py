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
