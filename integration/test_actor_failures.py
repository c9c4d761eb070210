"""Actors whose executors die: SIGKILL with and without restarts, a container's memory limit,
exits that count as crashes, and the resources of a stopped actor back at the master.

Each test starts its own embedded cluster (resources and isolation differ). Ported in part
from Ray's python/ray/tests/test_actor_failures.py (test_actor_restart) and its
fault-tolerance docs' example (actor_restart.py), assertions kept.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import psutil
import pytest
from test_isolation import needs_v1

import pymesos_rt as rt
from pymesos_rt.testing.daemons import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def slots() -> Iterator[rt.ClusterInfo]:
    """An embedded cluster with a custom resource to watch in ``/state``."""
    info = rt.init(num_cpus=2, memory="4GiB", resources={"slot": 4})
    yield info
    rt.shutdown()


@rt.remote
class Counter:
    def __init__(self) -> None:
        self.value = 0

    def incr(self) -> int:
        self.value += 1
        return self.value

    def pid(self) -> int:
        return os.getpid()

    def sleep(self, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _free_slots() -> float:
    return rt.available_resources().get("slot", 0.0)


def test_sigkill_without_restarts_fails_pending_and_later_calls(slots):
    c = Counter.remote()
    pid = rt.get(c.pid.remote(), timeout=30)
    pending = c.sleep.remote(30)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(rt.ActorDiedError) as err:
        rt.get(pending, timeout=30)
    message = str(err.value)
    assert "Counter" in message and "killed by signal 9" in message, message
    assert isinstance(err.value, rt.PymesosRTError)
    with pytest.raises(rt.ActorDiedError, match="killed by signal 9"):
        rt.get(c.incr.remote(), timeout=30)


def test_sigkill_with_restarts_reruns_the_constructor_and_retries_the_running_call(slots):
    c = Counter.options(max_restarts=1, max_task_retries=1).remote()
    assert rt.get([c.incr.remote() for _ in range(3)], timeout=30) == [1, 2, 3]
    pid = rt.get(c.pid.remote(), timeout=30)
    running = c.sleep.remote(1.0)
    queued = c.incr.remote()
    time.sleep(0.3)  # let the sleep start (it is retried either way)
    os.kill(pid, signal.SIGKILL)
    assert rt.get(running, timeout=60) == "slept"  # ran again on the new executor
    assert rt.get(queued, timeout=30) == 1  # the constructor ran again: state is new
    new_pid = rt.get(c.pid.remote(), timeout=30)
    assert new_pid != pid
    os.kill(new_pid, signal.SIGKILL)  # no restart left
    with pytest.raises(rt.ActorDiedError, match=r"after 1 restart\(s\)"):
        rt.get(c.incr.remote(), timeout=30)


def test_restart_sequence_as_in_ray(slots):
    """Ray: actor_restart.py (max_restarts=4, max_task_retries=-1, os._exit every 10 calls)."""

    @rt.remote(max_restarts=4, max_task_retries=-1)
    class Actor:
        def __init__(self):
            self.counter = 0

        def increment_and_possibly_fail(self):
            if self.counter == 10:
                os._exit(0)
            self.counter += 1
            return self.counter

    actor = Actor.remote()
    # restarted 4 times: 50 calls succeed, the retried ones included
    values = [rt.get(actor.increment_and_possibly_fail.remote(), timeout=60) for _ in range(50)]
    assert values == list(range(1, 11)) * 5
    for _ in range(3):
        with pytest.raises(rt.ActorDiedError):
            rt.get(actor.increment_and_possibly_fail.remote(), timeout=60)


def test_restart_runs_later_calls_on_a_fresh_actor(slots):
    """Ray: test_actor_restart (its assertions, literally: calls before the death ran in
    order, some around it may fail, the ones after ran in order on a fresh actor)."""

    @rt.remote(max_restarts=1)
    class RestartableActor:
        def __init__(self):
            self.value = 0

        def increase(self, exit=False):
            if exit:
                os._exit(-1)
            self.value += 1
            return self.value

    actor = RestartableActor.remote()
    results = [actor.increase.remote(exit=(i == 100)) for i in range(200)]
    # all calls before the death ran in order
    i = 1
    while results:
        res = results[0]
        try:
            r = rt.get(res, timeout=60)
            if r != i:  # restarted at this call without a failed call in between
                break
            results.pop(0)
            i += 1
        except rt.ActorDiedError:
            break
    # skip the calls that failed
    skipped = 0
    while results:
        try:
            rt.get(results[0], timeout=60)
        except rt.ActorDiedError:
            results.pop(0)
            skipped += 1
        else:
            break
    assert i > 50 and skipped >= 1  # the first half ran; at least the exiting call failed
    # every call that ran after the restart ran in order on the fresh actor
    i = 1
    while results:
        assert rt.get(results.pop(0), timeout=60) == i
        i += 1
    assert rt.get(actor.increase.remote(), timeout=60) == i  # the restarted actor serves


def test_stopped_actor_gives_its_resources_back_to_the_master(slots):
    wait_for(lambda: _free_slots() == 4.0, 30, "all slots free")
    a = Counter.options(resources={"slot": 3}).remote()
    pid = rt.get(a.pid.remote(), timeout=30)
    assert _free_slots() == 1.0  # the master counts the actor's executor
    del a
    wait_for(lambda: _gone(pid), 30, "actor process gone")
    wait_for(lambda: _free_slots() == 4.0, 30, "slots back at the master")
    assert not [e for e in _state()["executors"] if e["resources"].get("slot")]
    # a killed actor's too
    b = Counter.options(resources={"slot": 4}).remote()
    rt.get(b.pid.remote(), timeout=30)
    assert _free_slots() == 0.0
    rt.kill(b)
    wait_for(lambda: _free_slots() == 4.0, 30, "slots back after rt.kill")


def _state() -> dict:
    from pymesos_rt.client import backend as backend_mod

    return backend_mod.current().cluster_state()


def test_default_actors_hold_no_cpu(slots):
    """Placed where 1 CPU is free, a default actor's executor then holds nothing: the CPUs
    stay free for tasks (as Ray's), and /state lists its executor holding nothing."""
    wait_for(lambda: rt.available_resources().get("CPU") == 2.0, 30, "both CPUs free")
    actors = [Counter.remote() for _ in range(3)]
    pids = rt.get([a.pid.remote() for a in actors], timeout=60)
    assert len(set(pids)) == 3
    assert rt.available_resources()["CPU"] == 2.0
    held = [e["resources"] for e in _state()["executors"]]
    assert held.count({}) >= 3, held


def test_unschedulable_actor_fails_at_once(slots):
    with pytest.raises(rt.UnschedulableError):
        Counter.options(resources={"slot": 5}).remote()


def test_program_end_stops_its_actors():
    rt.init(num_cpus=2, memory="4GiB")
    try:
        pids = rt.get([c.pid.remote() for c in [Counter.remote() for _ in range(2)]], timeout=60)
    finally:
        rt.shutdown()
    for pid in pids:
        wait_for(lambda pid=pid: _gone(pid), 30, "actor processes stopped at shutdown")


@needs_v1
def test_memory_limit_kills_the_actor_and_names_the_limit():
    @rt.remote(memory="100MiB", max_restarts=1)
    class Hog:
        def __init__(self):
            self.held = []

        def eat(self, mib):
            self.held += [b"x" * 2**20 for _ in range(mib)]
            return len(self.held)

    rt.init(num_cpus=2, memory="4GiB", isolation="cgroups-v1")
    try:
        h = Hog.remote()
        assert rt.get(h.eat.remote(10), timeout=60) == 10
        with pytest.raises(rt.ActorDiedError) as err:
            rt.get(h.eat.remote(300), timeout=60)
        message = str(err.value)
        assert "Hog" in message and "memory limit of 100 MiB reached" in message, message
        # restarted within its limit: the state is new
        assert rt.get(h.eat.remote(10), timeout=60) == 10
        with pytest.raises(rt.ActorDiedError, match="memory limit of 100 MiB"):
            rt.get(h.eat.remote(300), timeout=60)
        with pytest.raises(rt.ActorDiedError, match="memory limit of 100 MiB"):
            rt.get(h.eat.remote(1), timeout=60)
    finally:
        rt.shutdown()
