"""Actors whose executors die: SIGKILL with and without restarts, a container's memory limit,
exits that count as crashes, and the resources of a stopped actor back at the master.

Each test starts its own embedded cluster (resources and isolation differ). Ported in part
from Ray's python/ray/tests/test_actor_failures.py (test_actor_restart) and its
fault-tolerance docs' example (actor_restart.py), assertions kept.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

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

    def sleep(self, seconds: float, mark: str = "", gate: str = "") -> str:
        if mark:  # tells the test the call started
            with open(mark, "a") as f:
                f.write("started\n")
        if gate:  # instead of the sleep: until the file exists
            wait_for(lambda: os.path.exists(gate), 60, "the gate file")
        else:
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


def test_sigkill_with_restarts_reruns_the_constructor_and_retries_the_running_call(slots, tmp_path):
    c = Counter.options(max_restarts=1, max_task_retries=1).remote()
    assert rt.get([c.incr.remote() for _ in range(3)], timeout=30) == [1, 2, 3]
    pid = rt.get(c.pid.remote(), timeout=30)
    mark, killed = tmp_path / "started", tmp_path / "killed"
    # runs until the kill (a fixed sleep could end first on a loaded machine)
    running = c.sleep.remote(0.0, str(mark), str(killed))
    queued = c.incr.remote()
    # its line, not the file: open() makes the file before the line is written
    wait_for(lambda: mark.exists() and mark.read_text() == "started\n", 30, "the sleep started")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid), 30, "actor process gone")
    killed.touch()
    assert rt.get(running, timeout=60) == "slept"  # ran again on the new executor
    assert mark.read_text() == "started\n" * 2
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


@rt.remote
class Restartable:
    def __init__(self) -> None:
        self.value = 0

    def increase(self, exit: bool = False, gate: str = "") -> int:
        if exit:
            os._exit(1)
        if gate:  # hold the calls behind this one in flight until the file exists
            wait_for(lambda: os.path.exists(gate), 60, "the gate file")
        self.value += 1
        return self.value

    def get_pid(self) -> int:
        return os.getpid()


def _actor_rows() -> list[dict]:
    return _state()["actors"]


def test_no_call_is_lost_with_max_task_retries(slots, tmp_path):
    """Ray: test_actor_restart_with_retry (max_restarts=1, max_task_retries=-1): none of 100
    calls in flight at the SIGKILL fails, they ran in order before and after the restart.
    (Ray kills "while the above task is still being executed"; here the first call waits for
    a file made after the kill, so the calls are surely in flight: 100 calls of a no-op
    method can all be done before ``os.kill`` runs.)"""
    actor = Restartable.options(max_restarts=1, max_task_retries=-1).remote()
    pid = rt.get(actor.get_pid.remote(), timeout=30)
    gate = tmp_path / "gate"
    results = [actor.increase.remote(gate=str(gate))]
    results += [actor.increase.remote() for _ in range(99)]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid), 30, "actor process gone")
    gate.touch()
    seq = list(range(1, 101))
    values = rt.get(results, timeout=120)
    failed_task_index = None
    for i, res in enumerate(values):
        if res != seq[0]:
            if failed_task_index is None:
                failed_task_index = i
            assert res + failed_task_index == seq[0]
        seq.pop(0)
    assert rt.get(actor.increase.remote(), timeout=30) == values[-1] + 1
    # the restart is counted in /state
    wait_for(
        lambda: any(a["restarts"] == 1 and a["state"] == "ALIVE" for a in _actor_rows()),
        30,
        "the restart in /state",
    )
    # killed once more: no restart left, later calls fail
    results = [actor.increase.remote() for _ in range(100)]
    pid = rt.get(actor.get_pid.remote(), timeout=60)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid), 30, "actor process gone")
    with pytest.raises(rt.ActorDiedError, match=r"Restartable.*after 1 restart\(s\)"):
        rt.get(actor.increase.remote(), timeout=30)


def test_no_restart_after_the_last_one_nor_after_a_graceful_stop(slots):
    """Ray: test_actor_restart, its second half: an actor out of restarts fails every later
    call; one stopped by ``__ray_terminate__`` is not restarted."""
    actor = Restartable.options(max_restarts=1).remote()
    first = rt.get(actor.get_pid.remote(), timeout=30)
    actor.increase.remote(exit=True)
    wait_for(lambda: _gone(first), 30, "first process gone")
    # restarted: the next call that answers runs on a fresh actor
    second = wait_for(lambda: _pid_or_none(actor), 60, "the restarted actor answers")
    assert second != first
    actor.increase.remote(exit=True)
    for _ in range(20):
        with pytest.raises(rt.ActorDiedError):
            rt.get(actor.increase.remote(), timeout=30)
    actor = Restartable.options(max_restarts=1).remote()
    pid = rt.get(actor.get_pid.remote(), timeout=30)
    actor.__ray_terminate__.remote()
    with pytest.raises(rt.ActorDiedError):
        rt.get(actor.increase.remote(), timeout=30)
    wait_for(lambda: _gone(pid), 30, "terminated actor's process gone")
    ended = actor._actor_id
    row = wait_for(
        lambda: next((a for a in _actor_rows() if a["actor_id"] == ended), None), 30, "row"
    )
    wait_for(
        lambda: any(a["actor_id"] == ended and a["state"] == "DEAD" for a in _actor_rows()),
        30,
        "the terminated actor DEAD in /state",
    )
    assert row["restarts"] == 0


def _wait_restarts(actor, n: int) -> dict:
    """The actor's /state row once it shows ``n`` restarts (the driver saw the deaths)."""
    actor_id = actor._actor_id

    def row() -> dict | None:
        found = [a for a in _actor_rows() if a["actor_id"] == actor_id]
        return found[0] if found and found[0]["restarts"] == n else None

    return wait_for(row, 60, f"restart {n} of {actor_id} in /state")


def _pid_or_none(actor) -> int | None:
    try:
        return rt.get(actor.get_pid.remote(), timeout=30)
    except rt.ActorDiedError:
        return None


def test_unlimited_restarts_are_counted_in_state_and_status(slots):
    """``max_restarts=-1``: re-created after every SIGKILL; /state and ``pymesos-rt status``
    show how often (Ray: test_multiple_actor_restart's SlowCounter, on one node)."""
    from pymesos_rt.cli import render_status

    actor = Restartable.options(name="phoenix", max_restarts=-1, max_task_retries=-1).remote()
    pids = set()
    for n in range(1, 5):
        assert rt.get(actor.increase.remote(), timeout=60) == 1  # a fresh instance each time
        pid = rt.get(actor.get_pid.remote(), timeout=60)
        assert pid not in pids
        pids.add(pid)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda pid=pid: _gone(pid), 30, "actor process gone")

        def counted(n=n):
            rows = [a for a in _actor_rows() if a["name"] == "phoenix"]
            return rows if rows and rows[0]["restarts"] == n else None

        rows = wait_for(counted, 60, f"restart {n} in /state")
    assert rt.get(actor.increase.remote(), timeout=60) == 1
    wait_for(
        lambda: any(a["name"] == "phoenix" and a["state"] == "ALIVE" for a in _actor_rows()),
        30,
        "alive again",
    )
    text = render_status(_state())
    line = next(x for x in text.splitlines() if "phoenix" in x)
    assert "ALIVE" in line and line.split()[-2:] == ["4", "0"], line  # restarts, pending
    assert rows[0]["class"] == "Restartable"


def test_a_restarted_caller_keeps_its_handles(slots):
    """Ray: test_caller_actor_restart (the constructor's handle argument is kept for the
    restart)."""

    @rt.remote(max_restarts=1)
    class Caller:
        def __init__(self, actor):
            self.actor = actor

        def increase(self):
            return rt.get(self.actor.increase.remote())

        def get_pid(self):
            return os.getpid()

    remote_actor = Restartable.options(max_restarts=1).remote()
    actor = Caller.remote(remote_actor)
    for _ in range(3):
        rt.get(actor.increase.remote(), timeout=30)
    pid = rt.get(actor.get_pid.remote(), timeout=30)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _gone(pid), 30, "caller process gone")
    # a call made before the driver saw the death would count as in flight (lost without
    # max_task_retries, as in Ray): wait until /state shows the restart
    _wait_restarts(actor, 1)
    assert rt.get(actor.increase.remote(), timeout=60) == 4


def test_a_retried_task_calls_the_actor_again(slots):
    """Ray: test_caller_task_reconstruction (a task whose executor died is retried, and its
    calls reach the actor again)."""

    @rt.remote(max_retries=5)
    def retryable_task(actor):
        value = rt.get(actor.increase.remote())
        if value > 2:
            return value
        os._exit(0)

    remote_actor = Restartable.options(max_restarts=1).remote()
    assert rt.get(retryable_task.remote(remote_actor), timeout=120) == 3


def test_the_last_holder_letting_go_stops_the_actor_and_frees_its_resources(slots):
    """Handles held by another actor and by the driver: the actor lives while either holds
    one, and its executor's resources go back to the master when the last lets go."""

    @rt.remote
    class Holder:
        def __init__(self):
            self.held = None

        def hold(self, handle):
            self.held = handle
            return rt.get(self.held.incr.remote())

        def use(self):
            return rt.get(self.held.incr.remote())

        def drop(self):
            self.held = None

    wait_for(lambda: _free_slots() == 4.0, 30, "all slots free")
    a = Counter.options(resources={"slot": 3}).remote()
    pid = rt.get(a.pid.remote(), timeout=30)
    holder = Holder.remote()
    assert rt.get(holder.hold.remote(a), timeout=30) == 1
    assert _free_slots() == 1.0
    del a  # the driver lets go; the holder's handle keeps the actor
    assert rt.get(holder.use.remote(), timeout=30) == 2
    assert rt.get(holder.use.remote(), timeout=30) == 3
    assert not _gone(pid)
    rt.get(holder.drop.remote(), timeout=30)  # the last handle goes
    wait_for(lambda: _gone(pid), 30, "actor stopped after its last holder let go")
    wait_for(lambda: _free_slots() == 4.0, 30, "slots back at the master")
    # the same when the holder itself ends
    b = Counter.options(resources={"slot": 4}).remote()
    pid = rt.get(b.pid.remote(), timeout=30)
    holder2 = Holder.remote()
    assert rt.get(holder2.hold.remote(b), timeout=30) == 1
    del b
    assert rt.get(holder2.use.remote(), timeout=30) == 2
    rt.kill(holder2)
    wait_for(lambda: _gone(pid), 30, "actor stopped after its holder was killed")
    wait_for(lambda: _free_slots() == 4.0, 30, "slots back after the holder ended")


def test_death_in_the_constructor(slots, tmp_path):
    """Ray: test_actor_creation_task_crash (a constructor that kills its process: without
    restarts every call raises ActorDiedError; with restarts the constructor runs again)."""

    @rt.remote(max_restarts=0)
    class Actor:
        def __init__(self):
            os._exit(0)

        def f(self):
            return "ACTOR OK"

    a = Actor.remote()
    with pytest.raises(rt.ActorDiedError):
        rt.get(a.f.remote(), timeout=60)

    @rt.remote(max_restarts=3)
    class RestartableActor:
        def __init__(self, path):
            count = int(Path(path).read_text()) + 1 if os.path.exists(path) else 1
            if count < 3:  # dies the first 2 times
                with open(path, "w") as f:
                    f.write(str(count))
                os._exit(0)

        def f(self):
            return "ACTOR OK"

    ra = RestartableActor.remote(str(tmp_path / "count"))
    assert rt.get(ra.f.remote(), timeout=120) == "ACTOR OK"
    _wait_restarts(ra, 2)


def test_an_actor_out_of_scope_is_not_restarted(slots):
    """Ray: test_deleted_actor_no_restart (the last handle went while a task held one: the
    actor stops once the task ends and is not restarted, whatever its max_restarts)."""

    @rt.remote(resources={"slot": 4}, max_restarts=3)
    class Actor:
        def method(self):
            return 1

        def getpid(self):
            return os.getpid()

    @rt.remote
    def f(actor, signal):
        rt.get(signal.wait.remote())
        return rt.get(actor.method.remote())

    @rt.remote
    class Signal:
        def __init__(self):
            self.event = asyncio.Event()

        async def send(self):
            self.event.set()

        async def wait(self):
            await self.event.wait()

    signal = Signal.remote()
    a = Actor.remote()
    pid = rt.get(a.getpid.remote(), timeout=30)
    x_id = f.remote(a, signal)
    del a
    rt.get(signal.send.remote(), timeout=30)
    assert rt.get(x_id, timeout=30) == 1
    wait_for(lambda: _gone(pid), 30, "actor stopped after the task ended")
    # all slots free again: the old actor was not restarted
    a = Actor.remote()
    assert rt.get(a.getpid.remote(), timeout=60) != pid


def test_an_actor_holds_its_gpus_while_it_lives():
    """``num_gpus`` is an actor option (Ray: test_decorator_args): placed where the GPUs are
    free, its executor holds them until the actor stops."""
    rt.init(num_cpus=2, memory="4GiB", num_gpus=1)
    try:

        @rt.remote(num_gpus=1)
        class GpuActor:
            def pid(self):
                return os.getpid()

            def gpus(self):
                return rt.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES")

        wait_for(lambda: rt.available_resources().get("GPU") == 1.0, 30, "the GPU free")
        a = GpuActor.remote()
        pid = rt.get(a.pid.remote(), timeout=60)
        assert rt.available_resources().get("GPU", 0.0) == 0.0
        assert rt.get(a.gpus.remote(), timeout=30) == ([0], "0")
        with pytest.raises(rt.UnschedulableError, match="gpus"):
            GpuActor.options(num_gpus=2).remote()
        del a
        wait_for(lambda: _gone(pid), 30, "the GPU actor stopped")
        wait_for(lambda: rt.available_resources().get("GPU") == 1.0, 30, "the GPU back")
    finally:
        rt.shutdown()
