"""GPUs as Mesos does them, tested without GPUs: agents told their devices (``--gpu-devices``,
``--resources gpus:N``, ``rt.init(num_gpus=N)``) offer ``gpus``, give each executor its device
indices in ``CUDA_VISIBLE_DEVICES`` and, with cgroups-v1, deny it every other ``/dev/nvidia*``
(checked by opening device nodes made with mknod: a denied one fails with EPERM, an allowed one
with ENXIO, as there is no driver); the master offers GPU agents only to frameworks that use
GPUs. Fractional GPUs share a device, as in Ray."""

from __future__ import annotations

import json
import math
import os
import random
import stat
import time

import pytest
from cluster_helpers import read_line, run_driver

import pymesos_rt as ray
from pymesos_rt.agent.containers import Unavailable, cgroupfs
from pymesos_rt.agent.containers.cgroups_v1 import OPTIONAL, REQUIRED
from pymesos_rt.testing.daemons import start_agent, start_master

pytestmark = pytest.mark.integration


def _devices_cgroup_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "device cgroups and mknod need root"
    try:
        dirs = cgroupfs.v1_dirs(REQUIRED, OPTIONAL)
    except (Unavailable, OSError) as exc:
        return str(exc)
    return None if "devices" in dirs else "no devices hierarchy"


DEVICES_SKIP = _devices_cgroup_unavailable()


@pytest.fixture(scope="module")
def gpu_cluster(tmp_path_factory):
    """A master (GPU agents only for GPU frameworks, Mesos's default), an agent with two
    (pretend) GPUs in cgroups-v1 containers, and an agent without GPUs."""
    if DEVICES_SKIP is not None:
        pytest.skip(f"cgroups-v1 devices: {DEVICES_SKIP}")
    work = tmp_path_factory.mktemp("gpus")
    nodes = work / "dev"
    nodes.mkdir()
    for index in (0, 1):  # stand-ins for /dev/nvidia0 and /dev/nvidia1 (char 195:N)
        os.mknod(nodes / f"nvidia{index}", 0o666 | stat.S_IFCHR, os.makedev(195, index))
    master = start_master(work)
    gpu = start_agent(
        master,
        work,
        "--resources",
        "cpus:2;mem:2048",
        "--gpu-devices",
        "0,1",
        "--isolation",
        "cgroups-v1",
        name="gpu-agent",
    )
    cpu = start_agent(master, work, "--resources", "cpus:2;mem:2048", name="cpu-agent")
    yield master, nodes
    gpu.stop()
    cpu.stop()
    master.stop()


GPU_DRIVER = """
import errno, json, os, sys, time
import pymesos_rt as ray

nodes, barrier = sys.argv[1], sys.argv[2]

@ray.remote
def where():
    return ray.get_runtime_context().get_node_id()

@ray.remote(num_gpus=1)
def probe(barrier):
    # both tasks run at once (each waits for the other), so each holds a device of its own
    open(os.path.join(barrier, str(os.getpid())), "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(barrier)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    opened = {}
    for index in (0, 1):
        try:
            os.close(os.open(os.path.join(nodes, f"nvidia{index}"), os.O_RDWR))
            opened[index] = "ok"
        except OSError as exc:
            opened[index] = errno.errorcode[exc.errno]
    return {
        "gpu_ids": ray.get_gpu_ids(),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "node": ray.get_runtime_context().get_node_id(),
        "opened": opened,
        "assigned": ray.get_runtime_context().get_assigned_resources(),
    }

nodes_by_gpus = {n["Resources"].get("GPU", 0): n["NodeID"] for n in ray.nodes()}
cpu_only = ray.get([where.remote() for _ in range(4)])  # before any GPU task
print("CPU " + json.dumps({"ran_on": cpu_only, "nodes": nodes_by_gpus}), flush=True)
print("GPU " + json.dumps(ray.get([probe.remote(barrier) for _ in range(2)])), flush=True)
"""


def test_gpu_tasks_get_their_devices_and_no_others(gpu_cluster, tmp_path):
    master, nodes = gpu_cluster
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    driver = run_driver(tmp_path, "gpus", GPU_DRIVER, master.url, str(nodes), str(barrier))
    try:
        cpu = json.loads(read_line(driver, "CPU ", 120)[4:])
        results = json.loads(read_line(driver, "GPU ", 120)[4:])
        assert driver.wait(60) == 0
    finally:
        driver.kill()
    gpu_node, cpu_node = cpu["nodes"]["2.0"], cpu["nodes"]["0"]
    # a framework that has asked for no GPU is not offered the GPU agent
    assert set(cpu["ran_on"]) == {cpu_node}
    assert sorted(r["gpu_ids"][0] for r in results) == [0, 1]
    for r in results:
        (index,) = r["gpu_ids"]
        assert r["cuda"] == str(index) and r["node"] == gpu_node
        assert r["assigned"]["GPU"] == 1.0
        # its own device is allowed (ENXIO: no driver behind it), the other one denied
        assert r["opened"] == {str(index): "ENXIO", str(1 - index): "EPERM"}


# --- the embedded cluster: rt.init(num_gpus=...) ------------------------------------------------


def _resource_dicts_close(d1, d2, *, abs_tol=1e-3):
    d1 = {k: v for k, v in d1.items() if v != 0}
    d2 = {k: v for k, v in d2.items() if v != 0}
    if d1.keys() != d2.keys():
        return False
    return all(math.isclose(v, d2[k], abs_tol=abs_tol) for k, v in d1.items())


@pytest.fixture(scope="module")
def fractional_cluster():
    # no CPU quotas: Ray's CPUs are logical, and a quota of a few percent of a CPU (the test's
    # random shapes) makes starting a Python process take seconds
    info = ray.init(
        num_cpus=2, num_gpus=2, resources={"Custom": 2}, memory="4GiB", isolation="none"
    )
    yield info
    ray.shutdown()


def test_fractional_gpus_share_a_device(fractional_cluster):
    @ray.remote(num_gpus=0.5)
    def half():
        import time

        time.sleep(0.5)
        return ray.get_gpu_ids(), os.environ["CUDA_VISIBLE_DEVICES"]

    results = ray.get([half.remote() for _ in range(4)])
    assert all(ids == [int(cuda)] for ids, cuda in results)
    assert {ids[0] for ids, _ in results} <= {0, 1}
    assert ray.get_gpu_ids() == []  # the driver holds none


def test_many_fractional_resources(fractional_cluster):
    # test_basic.py::test_many_fractional_resources, with its assertions
    def _get_available_resources():
        return {k: v for k, v in ray.available_resources().items() if k in {"CPU", "GPU", "Custom"}}

    original_available_resources = _get_available_resources()
    assert original_available_resources == {"CPU": 2.0, "GPU": 2.0, "Custom": 2.0}

    # Ray's test runs g with one CPU; here a blocked task lends its executor to tasks its shape
    # covers but does not hand its resources back to the cluster (docs/ray-compat.md), so a
    # one-CPU g could wait for CPUs that blocked parents hold
    @ray.remote(num_cpus=0)
    def g():
        return 1

    @ray.remote
    def check_assigned_resources(block, expected_resources):
        assigned_resources = ray.get_runtime_context().get_assigned_resources()
        if block:
            ray.get(g.remote())
        if not _resource_dicts_close(assigned_resources, expected_resources):
            raise RuntimeError(
                "Mismatched resources.",
                "Expected:",
                expected_resources,
                "Assigned:",
                assigned_resources,
            )

    def _rand_resource_val():
        return int(random.random() * 10000) / 10000

    result_ids = []
    for _ in range(10):
        resources = {
            "CPU": _rand_resource_val(),
            "GPU": _rand_resource_val(),
            "Custom": _rand_resource_val(),
        }
        for block in [False, True]:
            result_ids.append(
                check_assigned_resources.options(
                    num_cpus=resources["CPU"],
                    num_gpus=resources["GPU"],
                    resources={"Custom": resources["Custom"]},
                ).remote(block, resources)
            )
    ray.get(result_ids, timeout=300)
    # Ray's wait_for_condition: once executors still starting have connected (or been given
    # up), the idle ones count as available, and everything is available again
    deadline = time.monotonic() + 60
    while _get_available_resources() != original_available_resources:
        assert time.monotonic() < deadline, _get_available_resources()
        time.sleep(0.1)


def test_submit_api(fractional_cluster):
    # test_basic.py::test_submit_api (f._remote(args, **options) spelled f.options(**options)
    # .remote(*args)); Ray leaves an infeasible task pending, ours fails it at .remote()
    @ray.remote
    def f(n):
        return list(range(n))

    @ray.remote
    def g():
        return ray.get_gpu_ids()

    assert f.options(num_returns=0).remote(0) is None
    id1 = f.options(num_returns=1).remote(1)
    assert ray.get(id1) == [0]
    id1, id2 = f.options(num_returns=2).remote(2)
    assert ray.get([id1, id2]) == [0, 1]
    id1, id2, id3 = f.options(num_returns=3).remote(3)
    assert ray.get([id1, id2, id3]) == [0, 1, 2]
    assert ray.get(g.options(num_cpus=1, num_gpus=1, resources={"Custom": 1}).remote()) in (
        [0],
        [1],
    )
    with pytest.raises(ray.exceptions.TaskUnschedulableError, match="NonexistentCustom"):
        g.options(resources={"NonexistentCustom": 1}).remote()
    assert ray.get(g.remote()) == []

    # Check mismatch with num_returns.
    with pytest.raises(ValueError):
        ray.get(f.options(num_returns=2).remote(3))


def test_max_calls_releases_resources(fractional_cluster):
    # test_basic.py::test_max_calls_releases_resources (ray-project/ray#10960)
    @ray.remote(num_cpus=0)
    def g():
        return 0

    @ray.remote(num_cpus=1, num_gpus=1, max_calls=1, max_retries=0)
    def f():
        return [g.remote()]

    for _ in range(10):
        ray.get(f.remote(), timeout=60)  # This will hang if GPU resources aren't released.
