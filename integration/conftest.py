"""Fixtures for integration tests: a real embedded cluster (master, agent, executor processes)."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest

import pymesos_rt as rt


def executor_children() -> list[psutil.Process]:
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "pymesos_rt.executor" in " ".join(child.cmdline()):
                out.append(child)
        except psutil.Error:
            continue
    return out


@pytest.fixture(scope="module")
def cluster() -> Iterator[rt.ClusterInfo]:
    """An embedded cluster with 2 CPUs for the whole module; checks nothing is left after it."""
    info = rt.init(num_cpus=2, memory="4GiB", idle_timeout=5.0)
    yield info
    rt.shutdown()
    assert not rt.is_initialized()
    left = executor_children()
    assert not left, f"executor processes left after shutdown: {left}"
