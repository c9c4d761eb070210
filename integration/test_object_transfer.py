"""Objects between nodes: two agents with different hostnames, each in a mount namespace of its
own with a private tmpfs on /dev/shm (they share no shared memory), a master and an attached
program on loopback. A result made on one agent is pulled by the other straight into its own
store; the program's ``rt.put`` lands in an agent's store, not inline."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from cluster_helpers import read_line, run_driver

from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration

PRIVATE_SHM = [
    "unshare",
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount -t tmpfs -o size=64m tmpfs /dev/shm && exec "$0" "$@"',
]


@pytest.fixture
def two_nodes(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for mount namespaces")
    probe = subprocess.run([*PRIVATE_SHM, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private /dev/shm here: {probe.stderr.strip()}")
    master = start_master(tmp_path)
    agents = []
    try:
        for name, tag in (("host-a", "a"), ("host-b", "b")):
            agents.append(
                start_agent(
                    master,
                    tmp_path,
                    "--resources",
                    f"cpus:1;mem:1024;{tag}:1",
                    "--hostname",
                    name,
                    "--object-store-memory",
                    "64MiB",
                    "--isolation",
                    "none",
                    name=name,
                    prefix=PRIVATE_SHM,
                )
            )
        yield master, agents
    finally:
        for agent in agents:
            agent.stop()
        master.stop()


TRANSFER = """
import gc, os, sys, time, numpy as np
import pymesos_rt as rt

rt.init()
MIB = 2**20

def wait_file(path):
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)

@rt.remote(resources={"a": 1}, num_cpus=0.5)
def produce(n):
    return np.arange(n, dtype=np.float64)

@rt.remote(resources={"b": 0.5}, num_cpus=0.5)
def consume(x):
    return [bool(x.flags.writeable), float(x[-1]), os.environ["PYMESOS_RT_NODE"]]

@rt.remote(resources={"b": 0.5}, num_cpus=0)
class Holder:
    def last(self, x):
        return float(x[-1])

ref = produce.remote(MIB)                      # 8 MiB, stored on host-a
print("pulled", rt.get(consume.remote(ref)), flush=True)
holder = Holder.remote()                       # on host-b: its argument is pulled there too
arg = produce.remote(MIB // 2)
print("actor", rt.get(holder.last.remote(arg)), flush=True)
big = rt.put(np.ones(MIB, dtype=np.float64))  # this program has no store: pushed to an agent's
print("put", rt.get(consume.remote(big)), flush=True)
print("got", float(rt.get(ref).sum()), float(rt.get(big).sum()), flush=True)
from pymesos_rt.client import backend
print("mapped", len(backend.current().driver.stores.mapped), flush=True)  # same host: mapped
wait_file(sys.argv[1])                         # the test looks at /state meanwhile
del ref, big, arg, holder
gc.collect()
print("dropped", flush=True)
wait_file(sys.argv[2])
rt.shutdown()
"""


def _registered(master, hostname: str) -> bool:
    state = master.try_state()
    return bool(state) and any(
        a["hostname"] == hostname and a["state"] == "active" for a in state["agents"]
    )


def _stores(master):
    return {a["hostname"]: a.get("object_store") or {} for a in master.state()["agents"]}


def test_result_is_pulled_agent_to_agent_and_puts_land_in_a_store(two_nodes, tmp_path):
    master, _ = two_nodes
    step1, step2 = tmp_path / "step1", tmp_path / "step2"
    driver = run_driver(tmp_path, "transfer", TRANSFER, master.url, str(step1), str(step2))
    try:
        mib = 2**20
        assert read_line(driver, "pulled") == f"pulled [False, {float(mib - 1)}, 'host-b']\n"
        assert read_line(driver, "actor") == f"actor {float(mib // 2 - 1)}\n"
        assert read_line(driver, "put") == "put [False, 1.0, 'host-b']\n"
        got = read_line(driver, "got").split()
        assert float(got[1]) == float(sum(range(mib))) and float(got[2]) == float(mib)
        # this program runs on the agents' host: it maps their arenas (reads in place)
        assert read_line(driver, "mapped") in ("mapped 1\n", "mapped 2\n")

        def stored() -> dict | None:
            stores = _stores(master)
            a, b = stores.get("host-a", {}), stores.get("host-b", {})
            # host-a holds the results; host-b their pulled copies; one of them the put value
            if a.get("objects", 0) + b.get("objects", 0) >= 5 and b.get("secondary", 0) >= 2:
                return stores
            return None

        stores = wait_for(stored, 30, "objects in the agents' stores")
        assert stores["host-a"]["secondary"] == 0
        step1.touch()
        read_line(driver, "dropped")

        def empty() -> bool:
            return all(st.get("objects", 1) == 0 for st in _stores(master).values())

        wait_for(empty, 30, "every copy freed on every node (the actor's argument's too)")
        step2.touch()
        driver.wait(timeout=60)
        assert driver.returncode == 0
    finally:
        driver.kill()
        driver.wait()


LINEAGE = """
import os, sys, time, numpy as np
import pymesos_rt as rt

rt.init()
MIB = 2**20

def wait_file(path):
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)

@rt.remote(max_retries=1, num_cpus=0.5)
def produce(n, k):
    return np.full(n, k, dtype=np.float64)

@rt.remote(num_cpus=0.5)
def consume(x):
    return [float(x[0]), len(x), os.environ["PYMESOS_RT_NODE"]]

@rt.remote(num_cpus=0.5)
def nested(refs):
    return float(rt.get(refs[0])[0])          # a ref inside a list: read by the task itself

with_retries = produce.remote(MIB, 1.0)
for_task = produce.remote(MIB, 2.0)
no_retries = produce.options(max_retries=0).remote(MIB, 3.0)
in_nested = produce.remote(MIB, 4.0)
print("made", rt.get(consume.remote(with_retries)), flush=True)  # all four on host-a
rt.wait([for_task, no_retries, in_nested], num_returns=3)
print("stored", flush=True)                   # all four results are in host-a's store now
wait_file(sys.argv[1])                        # host-a is SIGKILLed, host-b started
print("task", rt.get(consume.remote(for_task)), flush=True)   # rebuilt, then consumed
print("nested", rt.get(nested.remote([in_nested])), flush=True)  # rebuilt inside the get
value = rt.get(with_retries)                  # rebuilt from its lineage on host-b
print("get", float(value[0]), len(value), flush=True)
try:
    rt.get(no_retries)
except rt.ObjectLostError as exc:
    print("lost", no_retries.hex(), str(exc).replace(chr(10), " "), flush=True)
rt.shutdown()
"""


def test_lost_objects_are_rebuilt_from_lineage_or_raise_object_lost(tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for mount namespaces")
    master = start_master(tmp_path)
    common = ("--resources", "cpus:1;mem:1024", "--object-store-memory", "64MiB")
    first = start_agent(
        master, tmp_path, *common, "--hostname", "host-a", name="host-a", prefix=PRIVATE_SHM
    )
    second = None
    step = tmp_path / "step"
    driver = run_driver(tmp_path, "lineage", LINEAGE, master.url, str(step))
    try:
        assert read_line(driver, "made") == "made [1.0, 1048576, 'host-a']\n"
        # killed only once every task has ended there: one still running would fail with
        # its executor (ExecutorLostError), not lose its result
        assert read_line(driver, "stored") == "stored\n"
        agent_a = next(a["id"] for a in master.state()["agents"] if a["hostname"] == "host-a")
        first.signal(signal.SIGKILL)
        first.proc.wait(timeout=30)
        second = start_agent(
            master,
            tmp_path,
            *common,
            "--hostname",
            "host-b",
            name="host-b",
            prefix=PRIVATE_SHM,
            wait=False,
        )
        wait_for(lambda: _registered(master, "host-b"), 90, "host-b registered")
        step.touch()
        assert read_line(driver, "task") == "task [2.0, 1048576, 'host-b']\n"
        assert read_line(driver, "nested") == "nested 4.0\n"
        assert read_line(driver, "get") == "get 1.0 1048576\n"
        _, oid, message = read_line(driver, "lost").split(" ", 2)
        assert f"object {oid} was lost with agent {agent_a}" in message
        assert "no retries left" in message and "max_retries=0" in message
        driver.wait(timeout=60)
        assert driver.returncode == 0
    finally:
        driver.kill()
        driver.wait()
        if second is not None:
            second.stop()
        first.stop()
        master.stop()


def test_agent_removes_what_a_crashed_predecessor_spilled_and_cleans_up_on_stop(tmp_path):
    master = start_master(tmp_path)
    spill = tmp_path / "agent" / "spill"
    spill.mkdir(parents=True)
    (spill / "0123456789abcdef").write_bytes(b"left by an agent that was SIGKILLed")
    agent = start_agent(master, tmp_path, "--resources", "cpus:1;mem:512")
    try:
        wait_for(lambda: spill.is_dir() and not any(spill.iterdir()), 30, "leftovers removed")
        # the arena is a memfd: it is in no file system (nothing in /dev/shm to leave behind)
        # and goes away with the last process holding it
        fds = Path(f"/proc/{agent.proc.pid}/fd")
        targets = [os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()]
        assert any(t.startswith("/memfd:pymesos-rt-arena") for t in targets), targets
        assert not [t for t in targets if t.startswith("/dev/shm")]
        assert agent.stop() == 0
        assert not spill.exists()
    finally:
        agent.stop()
        master.stop()
