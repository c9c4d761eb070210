"""Actors on a real cluster (``pymesos-rt master`` and ``agent`` processes): placed on remote
agents, re-created elsewhere when their agent is lost, unaffected by a master restart, and
stopped when their program ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from cluster_helpers import read_line

from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration

DRIVER = """
import os, sys
import pymesos_rt as rt

rt.init()

@rt.remote(num_cpus=1, max_restarts=2, max_task_retries=-1)
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n

    def where(self):
        return f"{os.environ.get('PYMESOS_RT_NODE')} {os.getpid()}"

c = Counter.remote()
print("where", rt.get(c.where.remote(), timeout=120), flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "where":
        print("where", rt.get(c.where.remote(), timeout=120), flush=True)
    elif command == "incr":
        print("incr", rt.get(c.incr.remote(), timeout=120), flush=True)
    else:
        break
rt.shutdown()
print("bye", flush=True)
"""


def _driver(tmp: Path, address: str) -> subprocess.Popen[str]:
    script = tmp / "actor_driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(tmp / "actor_driver.err", "w"),
        text=True,
        cwd=tmp,
        env={**os.environ, "PYMESOS_RT_ADDRESS": address},
    )


def _ask(driver: subprocess.Popen[str], command: str) -> list[str]:
    assert driver.stdin is not None
    driver.stdin.write(command + "\n")
    driver.stdin.flush()
    return read_line(driver, command, timeout=120).split()[1:]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_actor_moves_to_another_agent_when_its_agent_is_lost(tmp_path):
    master = start_master(tmp_path, "--agent-timeout", "3", "--agent-reregister-timeout", "2")
    agents = {
        name: start_agent(
            master, tmp_path, "--resources", "cpus:1;mem:2048", "--hostname", name, name=name
        )
        for name in ("node-a", "node-b")
    }
    driver = _driver(tmp_path, master.url)
    try:
        node, pid = read_line(driver, "where", timeout=120).split()[1:]
        assert node in agents
        assert _ask(driver, "incr") == ["1"]
        assert _ask(driver, "incr") == ["2"]
        agents[node].signal(signal.SIGKILL)
        wait_for(lambda: _gone(int(pid)), 30, "the lost agent's executor gone")
        # re-created on the other agent: the constructor ran again
        assert _ask(driver, "incr") == ["1"]
        other = next(n for n in agents if n != node)
        assert _ask(driver, "where")[0] == other
        driver.stdin.write("quit\n")  # type: ignore[union-attr]
        driver.stdin.flush()  # type: ignore[union-attr]
        read_line(driver, "bye", timeout=60)
        assert driver.wait(timeout=60) == 0
    finally:
        driver.kill()
        for agent in agents.values():
            agent.stop()
        master.stop()


def test_actor_keeps_working_through_a_master_restart_and_ends_with_its_program(tmp_path):
    master = start_master(tmp_path)
    port = master.port
    agent = start_agent(master, tmp_path, "--resources", "cpus:2;mem:2048", "--hostname", "n1")
    driver = _driver(tmp_path, master.url)
    new_master = None
    try:
        _, pid = read_line(driver, "where", timeout=120).split()[1:]
        assert _ask(driver, "incr") == ["1"]
        master.signal(signal.SIGKILL)
        master.proc.wait()
        assert _ask(driver, "incr") == ["2"]  # calls need no master
        new_master = start_master(tmp_path, port=port, name="master2")

        def rebuilt():
            state = new_master.try_state()
            return state if state and state["frameworks"] and state["executors"] else None

        state = wait_for(rebuilt, 30, "framework and actor executor back on the new master")
        assert state["counts"]["executors"] == 1
        assert _ask(driver, "incr") == ["3"]  # the same instance: no restart
        assert _ask(driver, "where")[1] == pid
        driver.stdin.write("quit\n")  # type: ignore[union-attr]
        driver.stdin.flush()  # type: ignore[union-attr]
        read_line(driver, "bye", timeout=60)
        assert driver.wait(timeout=60) == 0
        wait_for(lambda: _gone(int(pid)), 30, "the actor's executor ended with its program")
        wait_for(
            lambda: (s := new_master.try_state()) is not None and s["counts"]["executors"] == 0,
            30,
            "no executor left at the master",
        )
    finally:
        driver.kill()
        agent.stop()
        if new_master is not None:
            new_master.stop()
        master.stop()
