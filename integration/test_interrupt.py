"""Ctrl-C during ``rt.get``/``rt.wait`` in a real embedded cluster: the interrupted call
cancels the tasks it waited for that nothing else needs, and only those (a task that another
task takes as an argument keeps running, and so do tasks the call did not wait for); with
``cancel_on_interrupt=False`` it cancels nothing. The interrupt is a real SIGINT sent to this
process once the master's ``/jobs`` shows the tasks running."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

import pymesos_rt as rt
from pymesos_rt.testing.daemons import wait_for

pytestmark = pytest.mark.integration


@rt.remote
def forever(tag: str) -> str:
    for _ in range(60000):
        time.sleep(0.01)
    return tag


@rt.remote
def consume(value: str) -> str:
    return value


@pytest.fixture(autouse=True)
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a script or notebook run from a terminal; a test
    run started in the background (``cmd &`` in a script) inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def counts(info: rt.ClusterInfo, name: str) -> dict[str, int]:
    url = f"{info.dashboard_url}/jobs/{info.framework_id}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        job = json.load(resp)
    return next((f for f in job["functions"] if f["name"] == name), {})


def interrupt_when(info: rt.ClusterInfo, running: int) -> threading.Thread:
    """SIGINT this process once ``running`` tasks of ``forever`` run."""

    def go() -> None:
        wait_for(lambda: counts(info, "forever").get("running") == running, 60, "tasks running")
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def test_interrupted_get_cancels_only_what_nothing_else_needs(cluster):
    a, b, c = forever.remote("a"), forever.remote("b"), forever.remote("c")  # c waits: 2 CPUs
    d = consume.remote(c)  # c is an argument of d: needed elsewhere
    thread = interrupt_when(cluster, 2)
    with pytest.raises(KeyboardInterrupt):
        rt.get([a, c], progress=True)
    thread.join(10)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(a, timeout=30)
    wait_for(lambda: counts(cluster, "forever").get("cancelled") == 1, 30, "a cancelled")
    ready, _ = rt.wait([b, c, d], num_returns=3, timeout=0)
    assert ready == []  # b was not waited for; c is needed by d
    for ref in (d, c, b):
        rt.cancel(ref)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(d, timeout=30)
    wait_for(lambda: counts(cluster, "forever").get("running") == 0, 30, "nothing running")


def test_interrupted_wait_with_cancel_on_interrupt_false_keeps_its_tasks(cluster):
    e = forever.remote("e")
    thread = interrupt_when(cluster, 1)
    with pytest.raises(KeyboardInterrupt):
        rt.wait([e], cancel_on_interrupt=False)
    thread.join(10)
    assert rt.wait([e], timeout=0.5) == ([], [e])  # still running
    before = counts(cluster, "forever").get("cancelled", 0)
    rt.cancel(e)
    wait_for(lambda: counts(cluster, "forever").get("cancelled") == before + 1, 30, "cancelled")
