"""The driver never loses a decision (issue 9, point 6): what its scheduler core decides while
the master is away (here: stop an executor that idled out) is held and sent once the driver has
re-subscribed to the master that comes back. Real master and agent daemons, a real driver."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

import pymesos_rt as rt
from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration


@rt.remote
def wait_for_file(path: str) -> int:
    while not os.path.exists(path):
        time.sleep(0.01)
    return os.getpid()


def test_an_executor_that_idles_out_while_the_master_is_away_ends_when_it_returns(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pymesos_rt.scheduler.driver")
    master = start_master(tmp_path)
    agent = start_agent(master, tmp_path, "--resources", "cpus:2;mem:2048", "--isolation", "none")
    daemons = [master, agent]
    try:
        info = rt.init(master.url, idle_timeout=1.0, failover_timeout=60.0)
        flag = tmp_path / "go"
        ref = wait_for_file.remote(str(flag))

        def ours(state) -> list[dict]:
            return [e for e in state["executors"] if e["framework_id"] == info.framework_id]

        wait_for(lambda: any(e["state"] == "RUNNING" for e in ours(master.state())), 30, "run")
        master.signal(signal.SIGKILL)
        master.proc.wait()
        flag.touch()  # the task ends while the master is away; its executor then idles out
        pid = rt.get(ref, timeout=30)
        wait_for(lambda: "holding KillExecutor" in caplog.text, 30, "the kill decided")

        back = start_master(tmp_path, port=master.port, name="master2")
        daemons.append(back)

        def executor_ended() -> bool:
            state = back.try_state()
            if state is None or not state["agents"]:
                return False
            frameworks = {f["id"] for f in state["frameworks"]}
            return info.framework_id in frameworks and not ours(state)

        wait_for(executor_ended, 30, "the idle executor stopped after the master came back")
        wait_for(lambda: not _alive(pid), 30, "the executor process exited")
    finally:
        rt.shutdown()
        for daemon in reversed(daemons):
            daemon.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
