"""Cluster mode with real processes: `pymesos-rt master` and `agent` daemons, user programs
attached as frameworks over websockets, and a bare framework speaking the protocol."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
from cluster_helpers import BareFramework, read_line, run_driver

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration

SEED_DRIVER = """
import os, sys, time
import pymesos_rt as rt

rt.init()

def wait_for_release(path):
    while not os.path.exists(path):
        time.sleep(0.01)

@rt.remote(num_cpus=2, memory="1024MiB")
def big(path):
    wait_for_release(path)
    return "big"

@rt.remote(num_cpus=1, memory="2048MiB")
def small(path):
    wait_for_release(path)
    return "small"

refs = [big.remote(sys.argv[1]), small.remote(sys.argv[1])]
print(rt.get(refs, timeout=120), flush=True)
rt.shutdown()
"""


def used(state, agent_index=0):
    return Resources(state["agents"][agent_index]["used"])


def test_seed_example_end_to_end(tmp_path):
    master = start_master(tmp_path)
    agent = start_agent(master, tmp_path, "--resources", "cpus:4;mem:4096")
    release = tmp_path / "release"
    f1 = run_driver(tmp_path, "framework1", SEED_DRIVER, master.url, str(release))
    try:
        # framework 1 launches (2 cpus, 1024 MB) and (1 cpu, 2048 MB)
        wait_for(lambda: used(master.state()) == Resources(cpus=3, mem=3072), 60, "f1 executors")

        async def framework2() -> m.Offers:
            f2 = BareFramework()
            await f2.subscribe(master.url, "framework2")
            return await f2.first(m.Offers)

        offers = asyncio.run(framework2())
        assert [o.resources for o in offers.offers] == [Resources(cpus=1, mem=1024)]
        # while the bare framework was connected /state showed the offer; it is gone now
        release.write_text("go")
        out, _ = f1.communicate(timeout=60)
        assert f1.returncode == 0 and "['big', 'small']" in out
    finally:
        f1.kill()
        agent.stop()
        master.stop()


def test_seed_offer_is_visible_in_state(tmp_path):
    master = start_master(tmp_path)
    agent = start_agent(master, tmp_path, "--resources", "cpus:4;mem:4096")
    release = tmp_path / "release"
    f1 = run_driver(tmp_path, "framework1", SEED_DRIVER, master.url, str(release))
    try:
        wait_for(lambda: used(master.state()) == Resources(cpus=3, mem=3072), 60, "f1 executors")

        async def framework2() -> dict:
            f2 = BareFramework()
            await f2.subscribe(master.url, "framework2")
            await f2.first(m.Offers)
            return master.state("detail=frameworks")

        state = asyncio.run(framework2())
        f2_entry = next(f for f in state["frameworks"] if f["name"] == "framework2")
        assert f2_entry["offers"] == [{"cpus": 1.0, "mem": 1024.0}]
        assert Resources(state["agents"][0]["offered"]) == Resources(cpus=1, mem=1024)
        release.write_text("go")
        assert f1.wait(timeout=60) == 0
    finally:
        f1.kill()
        agent.stop()
        master.stop()


BUSY_DRIVER = """
import sys, time
import pymesos_rt as rt

rt.init(role=sys.argv[1], name=sys.argv[2])

@rt.remote(num_cpus=1)
def work(i):
    time.sleep(0.2)
    return i

pending = [work.remote(i) for i in range(40)]
print("started", flush=True)
i = 40
while True:  # always more work than the cluster holds, until the test kills us
    done, pending = rt.wait(pending, num_returns=1)
    pending.append(work.remote(i))
    i += 1
"""


def cpus_by_framework(state):
    names = {f["id"]: f["name"] for f in state["frameworks"]}
    out = {}
    for ex in state["executors"]:
        name = names.get(ex["framework_id"], ex["framework_id"])
        out[name] = out.get(name, 0.0) + ex["resources"].get("cpus", 0.0)
    return out


def _share_over_time(master, seconds):
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(cpus_by_framework(master.state()))
        time.sleep(0.1)
    return {name: sum(s.get(name, 0.0) for s in samples) / len(samples) for name in ("A", "B")}


@pytest.mark.parametrize(
    ("weights", "cpus", "expect"),
    [(None, 4, {"A": 2.0, "B": 2.0}), ("a=2,b=1", 6, {"A": 4.0, "B": 2.0})],
    ids=["equal", "weights-2-1"],
)
def test_frameworks_share_the_cluster_by_weighted_drf(tmp_path, weights, cpus, expect):
    extra = ["--allocation-interval", "0.2", "--reclaim-interval", "1"]
    if weights:
        extra += ["--weights", weights]
    master = start_master(tmp_path, *extra)
    agent = start_agent(master, tmp_path, "--resources", f"cpus:{cpus};mem:8192")
    a = run_driver(tmp_path, "A", BUSY_DRIVER, master.url, "a", "A")
    b = None
    try:
        # A alone takes the whole cluster
        wait_for(lambda: cpus_by_framework(master.state()).get("A") == cpus, 60, "A holds all")
        b = run_driver(tmp_path, "B", BUSY_DRIVER, master.url, "b", "B")
        # then gives executors back until the weighted shares are even
        wait_for(lambda: cpus_by_framework(master.state()) == expect, 60, f"shares {expect}")
        average = _share_over_time(master, 4.0)
        for name, want in expect.items():
            assert abs(average[name] - want) <= 1.0, (average, expect)  # one task's worth
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.kill()
                proc.wait()
        agent.stop()
        master.stop()


LOSS_DRIVER = """
import json, os, time
import pymesos_rt as rt

rt.init()

@rt.remote(num_cpus=1)
def work(i):
    time.sleep(0.05)
    return [i, os.environ.get("PYMESOS_RT_NODE")]

refs = [work.remote(i) for i in range(500)]
results = []
for n, ref in enumerate(rt.as_completed(refs, timeout=300)):
    results.append(rt.get(ref))
    if n % 10 == 0:
        print(f"done {n}", flush=True)
print(json.dumps(results), flush=True)
rt.shutdown()
"""


def test_agent_killed_midway_its_tasks_run_again_elsewhere_exactly_once(tmp_path):
    master = start_master(tmp_path, "--agent-timeout", "3", "--agent-reregister-timeout", "2")
    agent_a = start_agent(
        master, tmp_path, "--resources", "cpus:2;mem:4096", "--hostname", "node-a", name="agent-a"
    )
    agent_b = start_agent(
        master, tmp_path, "--resources", "cpus:2;mem:4096", "--hostname", "node-b", name="agent-b"
    )
    driver = run_driver(tmp_path, "job", LOSS_DRIVER, master.url)
    try:
        read_line(driver, "done 100")
        agent_a.signal(signal.SIGKILL)
        last = read_line(driver, "[")
        results = json.loads(last)
        assert sorted(i for i, _ in results) == list(range(500))  # each exactly once
        nodes = [node for _, node in results]
        assert "node-a" in nodes[:100] and set(nodes[150:]) == {"node-b"}
        wait_for(
            lambda: [a["hostname"] for a in master.state()["agents"]] == ["node-b"],
            30,
            "lost agent gone from /state",
        )
        assert driver.wait(timeout=60) == 0
    finally:
        driver.kill()
        agent_b.stop()
        agent_a.stop()
        master.stop()


RESTART_DRIVER = """
import json, os, time
import pymesos_rt as rt

rt.init(idle_timeout=600)  # the executors stay until shutdown, for the new master to list

@rt.remote(num_cpus=1)
def work(i):
    time.sleep(0.05)
    return i * 2

refs = [work.remote(i) for i in range(300)]
for n, ref in enumerate(rt.as_completed(refs, timeout=300)):
    if n % 10 == 0:
        print(f"done {n}", flush=True)
print(json.dumps(rt.get(refs)), flush=True)
deadline = time.monotonic() + 120
while not rt.nodes() and time.monotonic() < deadline:  # the job may end before the agent is back
    time.sleep(0.1)
print("framework", rt.nodes()[0]["hostname"], flush=True)
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.05)
rt.shutdown()
"""


# starts and kills several processes: on a loaded machine (parallel tests) well over 120 s
@pytest.mark.timeout(300)
def test_master_restart_agents_and_framework_reconnect_and_the_job_finishes(tmp_path):
    master = start_master(tmp_path)
    port = master.port
    agent = start_agent(master, tmp_path, "--resources", "cpus:2;mem:4096", "--hostname", "node-a")
    driver = run_driver(tmp_path, "job", RESTART_DRIVER, master.url)
    new_master = None
    try:
        read_line(driver, "done 50")
        master.signal(signal.SIGKILL)
        master.proc.wait()
        # running tasks do not depend on the master
        read_line(driver, "done 100")
        new_master = start_master(tmp_path, port=port, name="master2")

        def rebuilt():
            state = new_master.try_state()
            return state and state["agents"] and state["frameworks"] and state["executors"]

        wait_for(rebuilt, 60, "agent and framework back on the new master")
        last = read_line(driver, "[")
        assert json.loads(last) == [i * 2 for i in range(300)]
        framework_line = read_line(driver, "framework")
        assert framework_line.split()[1] == "node-a"
        (tmp_path / "go").touch()
        assert driver.wait(timeout=60) == 0
    finally:
        driver.kill()
        agent.stop()
        if new_master is not None:
            new_master.stop()
        master.stop()


HOLD_DRIVER = """
import os, sys, time
import pymesos_rt as rt

rt.init()

@rt.remote(num_cpus=1)
def hold(path):
    open(path + f".{os.getpid()}", "w").close()
    time.sleep(600)

refs = [hold.remote(sys.argv[1]) for _ in range(2)]
print("submitted", flush=True)
time.sleep(600)
"""


def test_sigterm_stops_an_agent_cleanly_with_its_executors(tmp_path):
    master = start_master(tmp_path)
    agent = start_agent(master, tmp_path, "--resources", "cpus:2;mem:2048")
    driver = run_driver(tmp_path, "holder", HOLD_DRIVER, master.url, str(tmp_path / "pid"))
    try:
        pids = wait_for(
            lambda: (
                [int(p.suffix[1:]) for p in tmp_path.glob("pid.*")]
                if len(list(tmp_path.glob("pid.*"))) == 2
                else None
            ),
            60,
            "two executors running",
        )
        assert agent.stop() == 0  # SIGTERM: executors stopped first, then a clean exit
        assert not [p for p in pids if _alive(p)]
        # their resources went back before the agent left (KILLED updates were delivered)
        assert master.state()["executors"] == []
    finally:
        driver.kill()
        master.stop()


def _alive(pid):
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "args",
    [
        ["master", "--port", "not-a-port"],
        ["master", "--weights", "a=-1"],
        ["agent", "--master", "ftp://x"],
        ["agent", "--resources", "cpus=4"],
        ["up", "--bogus"],
    ],
)
def test_bad_flags_are_refused_with_one_line(args):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pymesos_rt", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("pymesos-rt")


def _executor_pids(agent_pid):
    import psutil

    return [
        p.pid for p in psutil.Process(agent_pid).children(recursive=True) if "sleep" in p.name()
    ]


@pytest.mark.parametrize("back_in_time", [True, False], ids=["within", "after"])
def test_framework_failover_timeout(tmp_path, back_in_time):
    master = start_master(tmp_path)
    agent = start_agent(master, tmp_path, "--resources", "cpus:2;mem:2048", "--isolation", "none")

    async def scenario() -> None:
        fw = BareFramework()
        await fw.subscribe(master.url, "failing-over", failover_timeout=3.0)
        fid = (await fw.first(m.Subscribed)).framework_id
        offers = await fw.first(m.Offers)
        launch = m.ExecutorLaunch("e1", Resources(cpus=1), m.CommandInfo(["sleep", "300"]))
        fw.conn.send(m.Accept([offers.offers[0].offer_id], [launch]))
        await asyncio.to_thread(
            wait_for, lambda: _executor_pids(agent.proc.pid), 30, "executor running"
        )
        fw.conn.close("gone for a while")
        if back_in_time:
            again = BareFramework()
            await again.subscribe(master.url, "failing-over", None, "*", fid, 3.0, fw.credential)
            await again.first(m.Subscribed)
            await asyncio.sleep(4.0)  # longer than the failover timeout: nothing may go
            assert [e["executor_id"] for e in master.state()["executors"]] == ["e1"]
            assert _executor_pids(agent.proc.pid)
        else:
            await asyncio.to_thread(
                wait_for, lambda: not master.state()["executors"], 30, "executors gone"
            )
            await asyncio.to_thread(
                wait_for, lambda: not _executor_pids(agent.proc.pid), 30, "process gone"
            )

    try:
        asyncio.run(scenario())
    finally:
        agent.stop()
        master.stop()
