"""One cluster, one DRF allocator, two kinds of framework: a douban pymesos framework running
shell tasks and a Python program running @rt.remote tasks share an agent; both are offered
resources and, while both have demand, each holds its fair half within one task."""

from __future__ import annotations

import time

import pytest
from cluster_helpers import read_line, run_driver
from mesos_helpers import Framework, command_task

from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration

PROGRAM = """
import sys, time
from pathlib import Path
import pymesos_rt as rt

rt.init()

@rt.remote(num_cpus=1)
def work(i):
    time.sleep(0.2)
    return i

stop = Path(sys.argv[1])
refs = [work.remote(i) for i in range(16)]
print("submitted", flush=True)
n = 16
while not stop.exists():  # keep 16 tasks in flight: demand for every CPU
    ready, refs = rt.wait(refs, num_returns=1, timeout=5)
    for _ in ready:
        refs.append(work.remote(n))
        n += 1
print(f"ran {n - len(refs)}", flush=True)
rt.shutdown()
"""

CPUS = 4


def cpus_of(state, fw_id):
    for f in state["frameworks"]:
        if f["id"] == fw_id:
            return f["used"].get("cpus", 0.0)
    return 0.0


def share_of(state, fw_id):
    """The framework's CPU share of what the allocator gave it: what its tasks use and what it
    is offered (a framework slow to answer an offer still holds it). CPUs are the dominant
    resource of both frameworks' tasks (1 CPU each); offers also carry all of an agent's free
    memory, which says nothing about fairness."""
    for f in state["frameworks"]:
        if f["id"] == fw_id:
            return (f["used"].get("cpus", 0.0) + f["offered"].get("cpus", 0.0)) / CPUS
    return 0.0


def test_pymesos_and_rt_remote_share_the_agent_fairly(tmp_path):
    master = start_master(tmp_path, "--reclaim-interval", "1", "--mesos-heartbeat-interval", "1")
    agent = start_agent(master, tmp_path, "--resources", f"cpus:{CPUS};mem:8192")
    url = f"ws://127.0.0.1:{master.port}"
    stop = tmp_path / "stop"
    mesos = Framework(tmp_path, f"127.0.0.1:{master.port}", name="mesos-shell")
    program = None
    try:
        mesos_id = mesos.wait(lambda e: e["event"] == "registered")["framework_id"]
        for n in range(400):  # more 1-CPU shell tasks than the test can run
            mesos.launch(command_task(f"job-{n}", "sleep 0.5", cpus=1, mem=32))
        mesos.status("job-0", "TASK_RUNNING")
        program = run_driver(tmp_path, "program", PROGRAM, url, str(stop))
        read_line(program, "submitted")

        def both_running():
            state = master.state()
            rt_ids = [f["id"] for f in state["frameworks"] if f["id"] != mesos_id]
            if rt_ids and cpus_of(state, rt_ids[0]) > 0 and cpus_of(state, mesos_id) > 0:
                return rt_ids[0]
            return None

        rt_id = wait_for(both_running, 60, "both frameworks running tasks")
        # let reclaiming settle the split, then watch it for a while (both still have demand)
        wait_for(
            lambda: abs(share_of(s := master.state(), rt_id) - share_of(s, mesos_id)) <= 0.25,
            60,
            "a fair split",
        )
        samples = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            state = master.state()
            samples.append((share_of(state, mesos_id), share_of(state, rt_id)))
            time.sleep(0.1)  # the sampling period, not a synchronisation
        fair, task = 0.5, 1 / CPUS
        within = [abs(a - fair) <= task + 1e-6 and abs(b - fair) <= task + 1e-6 for a, b in samples]
        # a sample can fall between a task's end and the allocation of what it freed
        assert sum(within) >= 0.8 * len(samples), samples
        mean = [sum(s[i] for s in samples) / len(samples) for i in (0, 1)]
        print(f"mean shares (pymesos, rt): {mean}; within one task: {sum(within)}/{len(samples)}")
        assert all(abs(m - fair) <= task for m in mean), (mean, samples)
        stop.touch()
        assert read_line(program, "ran ").startswith("ran ")
        assert program.wait(timeout=60) == 0
        finished = [s for s in mesos.updates() if s["state"] == "TASK_FINISHED"]
        assert len(finished) >= 4
    finally:
        stop.touch()
        mesos.stop()
        if program is not None and program.poll() is None:
            program.kill()
        agent.stop()
        master.stop()
