"""Executors import the modules the driver uses before a task needs them (``preload.py``):
numpy by default when the driver has it, ``PYMESOS_RT_PRELOAD`` instead when set, and modules
named after the executors started reach them too. Real executors of an embedded cluster; an
executor imports only while idle, so the checks leave it idle between them."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

import pymesos_rt as rt
from pymesos_rt.preload import IDLE_S, PRELOAD_ENV

pytestmark = pytest.mark.integration


@rt.remote
def imported(name: str) -> bool:
    import sys

    return name in sys.modules


def _appears(name: str, timeout: float = 30.0) -> bool:
    """Whether the executor has imported ``name`` within ``timeout`` (asked after gaps long
    enough for its preloader, which waits for ``IDLE_S`` with nothing to do)."""
    deadline = time.monotonic() + timeout
    while not rt.get(imported.remote(name)):
        if time.monotonic() > deadline:
            return False
        time.sleep(2 * IDLE_S)  # idle: the executor's preloader waits for that
    return True


@pytest.fixture
def session():
    yield
    rt.shutdown()


def test_executors_preload_numpy_when_the_driver_has_it(session, monkeypatch):
    monkeypatch.delenv(PRELOAD_ENV, raising=False)
    assert "numpy" in sys.modules and np.__name__ == "numpy"
    rt.init(num_cpus=1)
    assert _appears("numpy")


def test_the_environment_names_the_modules_and_later_names_reach_running_executors(
    session, monkeypatch
):
    monkeypatch.setenv(PRELOAD_ENV, "colorsys")
    rt.init(num_cpus=1)
    assert _appears("colorsys")
    monkeypatch.setenv(PRELOAD_ENV, "colorsys, wave, no_such_module_here")  # after they started
    assert _appears("wave")  # the missing one is only logged
