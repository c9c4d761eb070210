"""A program attached to a cluster has no object store of its own: where its ``rt.put`` values
go (issue 11: stored on the cluster, not inline)."""

from __future__ import annotations

import socket
import threading

import numpy as np

from pymesos_rt.objects import layout
from pymesos_rt.objects.service import StoreService
from pymesos_rt.objects.stores import Stores
from pymesos_rt.scheduler.driver_objects import DriverObjects
from pymesos_rt.scheduler.objects import ObjectTable
from pymesos_rt.scheduler.state import SchedulerState

MIB = 2**20


def _objects() -> DriverObjects:
    return DriverObjects(ObjectTable(), SchedulerState("fw-"), Stores(), {})


def test_a_put_right_after_subscribing_waits_for_the_list_of_agents():
    objects = _objects()
    waiting = threading.Event()

    class Watched(threading.Event):
        def wait(self, timeout=None):
            waiting.set()
            return super().wait(timeout)

    objects.cluster_known = Watched()
    picked: list = []
    putter = threading.Thread(target=lambda: picked.append(objects.push_target()))
    putter.start()
    assert waiting.wait(10), "the put did not wait for the master's list of agents"
    objects.addresses = {"agent-1": "127.0.0.1:4000"}  # as the loop thread does it
    objects.cluster_known.set()
    putter.join(10)
    assert picked == [("agent-1", "127.0.0.1:4000")]


def test_push_targets_go_round_robin_and_none_without_agents():
    objects = _objects()
    objects.cluster_known.set()
    assert objects.push_target() is None
    objects.addresses = {"a": "h:1", "b": "h:2", "c": ""}  # c has no store
    assert {objects.push_target()[0] for _ in range(4)} == {"a", "b"}


def test_a_put_goes_to_the_next_agent_when_one_is_unreachable(tmp_path):
    svc = StoreService(64 * MIB, tmp_path / "spill", secret="s")
    svc.start()
    svc.agent_id = "agent-up"
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    targets = iter([("agent-gone", dead), ("agent-up", svc.address), ("agent-gone", dead)])
    stores = Stores("s")
    stores.pick_target = lambda: next(targets)
    value = np.arange(MIB // 8, dtype=np.float64)
    try:
        loc = stores.put("x", layout.encode(value))
        assert loc is not None and (loc.agent_id, loc.store_id) == ("agent-up", svc.store_id)
        assert (stores.load("x", loc) == value).all()
    finally:
        stores.close()
        svc.stop()
