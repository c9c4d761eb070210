"""Executors import the modules the driver uses before a task needs them (``preload.py``):
numpy by default when the driver has it, ``PYMESOS_RT_PRELOAD`` instead when set, and modules
named after the executors started reach them too. Real executors of an embedded cluster."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import pymesos_rt as rt
from pymesos_rt.preload import PRELOAD_ENV

pytestmark = pytest.mark.integration


@rt.remote
def appears(name: str, timeout: float) -> bool:
    """Whether module ``name`` is imported in this executor within ``timeout`` seconds,
    without this task importing it."""
    import sys
    import time

    deadline = time.monotonic() + timeout
    while name not in sys.modules:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def session():
    yield
    rt.shutdown()


def test_executors_preload_numpy_when_the_driver_has_it(session, monkeypatch):
    monkeypatch.delenv(PRELOAD_ENV, raising=False)
    assert "numpy" in sys.modules and np.__name__ == "numpy"
    rt.init(num_cpus=1)
    assert rt.get(appears.remote("numpy", 30.0))


def test_the_environment_names_the_modules_and_later_names_reach_running_executors(
    session, monkeypatch
):
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    rt.init(num_cpus=1)
    assert rt.get(appears.remote("colorsys", 30.0))
    monkeypatch.setenv(PRELOAD_ENV, "colorsys, wave, no_such_module_here")  # after they started
    assert rt.get(appears.remote("wave", 30.0))  # the missing one is only logged
    assert rt.get(appears.remote("colorsys", 0.0))
