"""Reconciliation after a master restart, with real daemons and a bare framework: an executor
launch lost with the old master is reported LOST, and an executor the framework does not hold
is stopped on its agent."""

from __future__ import annotations

import asyncio
import signal

import pytest
from cluster_helpers import BareFramework

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState
from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration

SLEEPER = m.CommandInfo(["sleep", "600"])


def running(daemon) -> list[str]:
    """Executors the master knows its agent runs (not those it has only asked to start)."""
    state = daemon.try_state()
    executors = state["executors"] if state else []
    return sorted(e["executor_id"] for e in executors if e["state"] == "RUNNING")


def updates_of(fw: BareFramework, executor_id: str) -> list[m.StatusUpdate]:
    return [
        e.update
        for e in fw.events
        if isinstance(e, m.ExecutorUpdate) and e.update.executor_id == executor_id
    ]


async def end_of(fw: BareFramework, executor_id: str, timeout: float = 30.0) -> m.StatusUpdate:
    """The first terminal update of the executor (this bare framework acknowledges nothing,
    so agents resend earlier updates too)."""
    async with asyncio.timeout(timeout):
        while True:
            for update in updates_of(fw, executor_id):
                if update.state.terminal:
                    return update
            await asyncio.sleep(0.01)


def test_reconciliation_after_a_master_restart(tmp_path):
    master = start_master(tmp_path)
    port = master.port
    agent = start_agent(master, tmp_path, "--resources", "cpus:2;mem:2048", "--isolation", "none")
    masters = [master]

    async def scenario() -> None:
        fw = BareFramework()
        await fw.subscribe(master.url, "reconciling", failover_timeout=60.0)
        fid = (await fw.first(m.Subscribed)).framework_id
        offer = (await fw.first(m.Offers)).offers[0]
        launches = [
            m.ExecutorLaunch(eid, Resources(cpus=1, mem=256), SLEEPER) for eid in ("keep", "orphan")
        ]
        fw.conn.send(m.Accept([offer.offer_id], launches))
        await asyncio.to_thread(
            wait_for, lambda: running(master) == ["keep", "orphan"], 30, "both executors"
        )
        master.signal(signal.SIGKILL)
        master.proc.wait()

        new_master = start_master(tmp_path, port=port, name="master2")
        masters.append(new_master)
        back = BareFramework()
        await back.subscribe(new_master.url, "reconciling", None, "*", fid, 60.0, fw.credential)
        await back.first(m.Subscribed)
        # it holds "keep", and "launch-lost", whose launch the old master never carried out
        held = [m.ExecutorRef(offer.agent_id, "keep"), m.ExecutorRef(offer.agent_id, "launch-lost")]
        back.conn.send(m.Reconcile(held))

        lost = await end_of(back, "launch-lost")
        assert lost.state is ExecutorState.LOST and lost.update_id == ""
        assert "reconciliation" in lost.message
        # the orphan is stopped on its agent, whether the agent re-registered before or after
        await asyncio.to_thread(wait_for, lambda: running(new_master) == ["keep"], 30, "orphan")
        await end_of(back, "orphan")
        assert not [u for u in updates_of(back, "keep") if u.state.terminal]

    try:
        asyncio.run(scenario())
    finally:
        agent.stop()
        for daemon in masters:
            daemon.stop()
