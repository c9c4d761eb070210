"""Two test hosts in network namespaces of our own (a veth pair, private addresses that exist
only inside them): master and program on host A, an agent on host B. Executors on B must dial
back to the program on A, so the program listens on its address towards the master."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import textwrap

import pytest

from pymesos_rt.testing.daemons import start_agent, start_master

pytestmark = pytest.mark.integration

SECRET = "multihost-secret"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def two_hosts():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to make network namespaces")
    tag = secrets.token_hex(3)
    a, b = f"pmrt-a-{tag}", f"pmrt-b-{tag}"
    subnet = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}"
    try:
        _ip("netns", "add", a)
        _ip("netns", "add", b)
        _ip("link", "add", f"va{tag}", "type", "veth", "peer", "name", f"vb{tag}")
        _ip("link", "set", f"va{tag}", "netns", a)
        _ip("link", "set", f"vb{tag}", "netns", b)
        for ns, dev, addr in ((a, f"va{tag}", f"{subnet}.1"), (b, f"vb{tag}", f"{subnet}.2")):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot make network namespaces here: {exc.stderr.decode().strip()}")
    yield (["ip", "netns", "exec", a], f"{subnet}.1"), (["ip", "netns", "exec", b], f"{subnet}.2")
    for ns in (a, b):
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


REMOTE_DRIVER = """
import os, time
import pymesos_rt as rt

rt.init()
deadline = time.monotonic() + 60
while not rt.nodes() and time.monotonic() < deadline:  # the agent on host B registers
    time.sleep(0.05)

@rt.remote
def where(x):
    return [x * x, os.environ["PYMESOS_RT_NODE"]]

print(sorted({n["hostname"] for n in rt.nodes()}), flush=True)
print(rt.get([where.remote(i) for i in range(20)], timeout=60), flush=True)
print(len(rt.get(rt.put(b"x" * (2 * 2**20)), timeout=60)), flush=True)
rt.shutdown()
"""


def test_tasks_run_on_an_agent_of_another_host(two_hosts, tmp_path):
    (in_a, addr_a), (in_b, _) = two_hosts
    env = {"PYMESOS_RT_SECRET": SECRET}
    master = start_master(tmp_path, "--host", addr_a, env=env, prefix=in_a)
    agent = start_agent(
        master,
        tmp_path,
        "--resources",
        "cpus:2;mem:2048",
        "--hostname",
        "host-b",
        env=env,
        prefix=in_b,
        wait=False,
    )
    driver = None
    script = tmp_path / "remote.py"
    script.write_text(textwrap.dedent(REMOTE_DRIVER))
    try:
        driver = subprocess.Popen(
            [*in_a, sys.executable, str(script)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYMESOS_RT_ADDRESS": master.url, **env},
        )
        out, _ = driver.communicate(timeout=120)
        lines = out.strip().splitlines()
        assert driver.returncode == 0, (out, agent.log_text()[-2000:])
        assert lines[0] == "['host-b']"
        assert lines[1] == str([[i * i, "host-b"] for i in range(20)])
        assert lines[2] == str(2 * 2**20)  # pushed to host B's store over TCP, pulled back
    finally:
        if driver is not None:
            driver.kill()
        agent.stop()
        master.stop()
