"""Ray's placement and runtime-env options on a real cluster: a ``pymesos-rt master`` and two
agents as processes, user programs attached as frameworks (``PYMESOS_RT_ADDRESS``)."""

from __future__ import annotations

import json

import pytest
from cluster_helpers import read_line, run_driver

from pymesos_rt.testing.daemons import start_agent, start_master

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster2(tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster2")
    master = start_master(work)
    agents = [
        start_agent(master, work, "--resources", "cpus:2;mem:2048", name=f"agent{i}")
        for i in range(2)
    ]
    yield master
    for agent in agents:
        agent.stop()
    master.stop()


PLACEMENT = """
import json, time
import pymesos_rt as ray
from pymesos_rt.util.scheduling_strategies import NodeAffinitySchedulingStrategy

@ray.remote
def where(seconds):
    time.sleep(seconds)
    return ray.get_runtime_context().get_node_id()

nodes = sorted(n["NodeID"] for n in ray.nodes())
out = {"nodes": nodes}
out["spread"] = ray.get([where.options(scheduling_strategy="SPREAD").remote(1) for _ in range(2)])
out["pinned"] = ray.get(
    [where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(nodes[1])).remote(0)
     for _ in range(3)]
)
gone = NodeAffinitySchedulingStrategy("agent-gone", soft=True)
out["soft"] = ray.get(where.options(scheduling_strategy=gone).remote(0))
try:
    ray.get(where.options(scheduling_strategy=NodeAffinitySchedulingStrategy("agent-gone"))
            .remote(0))
    out["hard"] = "ran"
except ray.exceptions.TaskUnschedulableError as exc:
    out["hard"] = "unschedulable" if "agent-gone" in str(exc) else str(exc)
print("RESULT " + json.dumps(out), flush=True)
"""


def test_spread_and_node_affinity(cluster2, tmp_path):
    driver = run_driver(tmp_path, "placement", PLACEMENT, cluster2.url)
    try:
        out = json.loads(read_line(driver, "RESULT ", 120)[len("RESULT ") :])
        assert driver.wait(60) == 0
    finally:
        driver.kill()
    nodes = out["nodes"]
    assert len(nodes) == 2
    assert sorted(out["spread"]) == nodes  # one on each agent
    assert out["pinned"] == [nodes[1]] * 3
    assert out["soft"] in nodes
    assert out["hard"] == "unschedulable"


RUNTIME_ENV = """
import json, os, sys
import pymesos_rt as ray

work, lib = sys.argv[1], sys.argv[2]

@ray.remote
def probe():
    import helper  # only in the working_dir
    import mylib   # only in py_modules
    return {
        "cwd": os.getcwd(),
        "helper": helper.VALUE,
        "mylib": mylib.NAME,
        "env": os.environ.get("GREETING"),
        "pid": os.getpid(),
    }

@ray.remote
def plain():
    return os.getpid(), os.environ.get("GREETING")

env = {"working_dir": work, "py_modules": [lib], "env_vars": {"GREETING": "hello"}}
with_env = probe.options(runtime_env=env)
results = ray.get([with_env.remote() for _ in range(3)])
plain_pid, plain_env = ray.get(plain.remote())
print("RESULT " + json.dumps({"results": results, "plain": [plain_pid, plain_env]}), flush=True)
try:
    probe.options(runtime_env={"pip": ["requests"]})
except ValueError as exc:
    print("PIP " + str(exc), flush=True)
"""


def test_runtime_env_in_cluster_mode(cluster2, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    (work / "helper.py").write_text("VALUE = 42\n")
    lib = tmp_path / "libs" / "mylib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("NAME = 'mylib'\n")
    driver = run_driver(tmp_path, "renv", RUNTIME_ENV, cluster2.url, str(work), str(lib))
    try:
        out = json.loads(read_line(driver, "RESULT ", 120)[len("RESULT ") :])
        pip = read_line(driver, "PIP ", 30)
        assert driver.wait(60) == 0
    finally:
        driver.kill()
    for result in out["results"]:
        assert result["helper"] == 42 and result["mylib"] == "mylib"
        assert result["env"] == "hello"
        # unpacked into the executor's sandbox, not the driver's directory
        assert result["cwd"].endswith("/working_dir") and str(work) not in result["cwd"]
    plain_pid, plain_env = out["plain"]
    assert plain_env is None  # executors of another runtime env are other processes
    assert plain_pid not in {r["pid"] for r in out["results"]}
    assert "not supported" in pip
