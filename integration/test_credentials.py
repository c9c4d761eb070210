"""Framework and agent credentials with real daemons (issue 9, point 1): a program that holds
the cluster secret (every program does) cannot act as another framework or agent, before or
after a master failover; see docs/cluster.md's trust model."""

from __future__ import annotations

import asyncio
import signal

import pytest
from cluster_helpers import BareFramework, read_line, run_driver

from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.testing.daemons import start_agent, start_master, wait_for
from pymesos_rt.transport import websocket as ws

pytestmark = pytest.mark.integration

SECRET = "credentials-test-secret"
ENV = {"PYMESOS_RT_SECRET": SECRET}

VICTIM = """
import os, sys, time
import pymesos_rt as rt

info = rt.init()

@rt.remote(max_retries=0)
def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.01)
    return os.getpid()

ref = wait_for.remote(sys.argv[1])
print("framework", info.framework_id, flush=True)
print("result", rt.get(ref, timeout=120), flush=True)
rt.shutdown()
"""


def executors_of(master, fw_id: str) -> list[dict]:
    state = master.try_state()
    return [e for e in (state or {}).get("executors", []) if e["framework_id"] == fw_id]


def framework(master, fw_id: str) -> dict | None:
    state = master.try_state()
    return next((f for f in (state or {}).get("frameworks", []) if f["id"] == fw_id), None)


async def refused(url: str, fw_id: str, credential: str = "") -> m.Error:
    """Subscribe as ``fw_id`` with the cluster secret: the master answers Error and closes."""
    bare = BareFramework()
    await bare.subscribe(url, "impostor", SECRET, "*", fw_id, 60.0, credential)
    async with asyncio.timeout(20):
        await bare.closed.wait()
    errors = [e for e in bare.events if isinstance(e, m.Error)]
    assert errors and not [e for e in bare.events if isinstance(e, m.Subscribed)], bare.events
    assert "another credential" in errors[0].message
    return errors[0]


def start_cluster(tmp_path, port: int = 0):
    master = start_master(tmp_path, port=port, env=ENV)
    agent = start_agent(
        master, tmp_path, "--resources", "cpus:2;mem:2048", "--isolation", "none", env=ENV
    )
    return master, agent


def test_the_cluster_secret_does_not_make_a_program_another_framework(tmp_path):
    master, agent = start_cluster(tmp_path)
    gate = tmp_path / "go"
    victim = run_driver(tmp_path, "victim", VICTIM, master.url, str(gate), env=ENV)
    try:
        fw_id = read_line(victim, "framework ").split()[1]
        wait_for(lambda: any(e["state"] == "RUNNING" for e in executors_of(master, fw_id)), 60)
        asyncio.run(refused(master.url, fw_id))  # no credential
        asyncio.run(refused(master.url, fw_id, "a guess"))  # a wrong one
        # the victim kept its connection, its executor and its task
        assert framework(master, fw_id)["connected"]
        assert [e["state"] for e in executors_of(master, fw_id)] == ["RUNNING"]
        gate.touch()
        assert read_line(victim, "result ")
        assert victim.wait(60) == 0
    finally:
        victim.kill()
        agent.stop()
        master.stop()


def test_after_a_failover_a_claimant_is_evicted_by_the_agents_report(tmp_path):
    """The new leader hears from an impostor before anyone else: it claims the framework's id.
    The agent running the framework's executor comes back and vouches for the owner's
    credential: the impostor is closed, the owner re-subscribes and its task finishes."""
    master, agent = start_cluster(tmp_path)
    gate = tmp_path / "go"
    victim = run_driver(tmp_path, "victim", VICTIM, master.url, str(gate), env=ENV)
    daemons = [agent, master]
    try:
        fw_id = read_line(victim, "framework ").split()[1]
        wait_for(lambda: any(e["state"] == "RUNNING" for e in executors_of(master, fw_id)), 60)
        agent.signal(signal.SIGSTOP)
        victim.send_signal(signal.SIGSTOP)
        master.signal(signal.SIGKILL)
        master.proc.wait()
        new = start_master(tmp_path, port=master.port, env=ENV, name="master2")
        daemons.append(new)

        async def scenario() -> None:
            impostor = BareFramework()
            await impostor.subscribe(new.url, "impostor", SECRET, "*", fw_id, 60.0, "mine now")
            await impostor.first(m.Subscribed)  # claimed: nothing to check it against yet
            agent.signal(signal.SIGCONT)
            async with asyncio.timeout(30):
                await impostor.closed.wait()
            assert any(isinstance(e, m.Error) for e in impostor.events)

        asyncio.run(scenario())
        victim.send_signal(signal.SIGCONT)
        wait_for(lambda: (framework(new, fw_id) or {}).get("connected"), 60, "owner back")
        asyncio.run(refused(new.url, fw_id, "mine now"))  # vouched for: nobody else gets in
        gate.touch()
        assert read_line(victim, "result ")
        assert victim.wait(60) == 0
    finally:
        victim.kill()
        agent.signal(signal.SIGCONT)
        for daemon in daemons:
            daemon.stop()


def test_the_cluster_secret_does_not_make_a_program_another_agent(tmp_path):
    master, agent = start_cluster(tmp_path)
    try:
        (real,) = master.state()["agents"]

        async def impersonate() -> str:
            closed = asyncio.Event()
            why: list[str] = []

            class Side:
                def on_messages(self, conn, messages):
                    why.append(repr(messages))

                def on_closed(self, conn, reason):
                    why.append(reason)
                    closed.set()

            conn = await ws.connect(f"{master.url}/api/v1/agent", codec.agent_side(), SECRET)
            conn.receiver = Side()
            conn.start_reading()
            conn.send(
                m.RegisterAgent("fake", Resources(cpus=64), real["id"], [], "none", credential="x")
            )
            async with asyncio.timeout(20):
                await closed.wait()
            return " ".join(why)

        assert real["id"] in asyncio.run(impersonate())
        (after,) = master.state()["agents"]
        assert after["id"] == real["id"] and after["hostname"] == real["hostname"]
        assert after["state"] == real["state"]
    finally:
        agent.stop()
        master.stop()
