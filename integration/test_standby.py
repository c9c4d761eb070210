"""The agent's warm standby executor (agent/launcher.py), with real processes: a launch takes the
standby, which becomes exactly the executor a fresh process would have been (environment,
sandbox, output files, container), a new standby replaces it, and none is left behind."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import psutil
import pytest

import pymesos_rt as rt
from pymesos_rt.agent.containers import make_containerizer
from pymesos_rt.agent.launcher import Launcher
from pymesos_rt.agent.standby import EXECUTOR_ARGV
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

pytestmark = pytest.mark.integration

UNREACHABLE = "ws://127.0.0.1:9/never"  # the discard port: the executor cannot connect


async def launch_once(tmp_path: Path, warm_standby: bool, kill_standby: bool = False):
    """Launch one executor whose driver is unreachable; returns (exit code, standby pids seen,
    the executor's pid, its sandbox)."""
    exits: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    launcher = Launcher(
        make_containerizer("none", "t", tmp_path),
        tmp_path,
        {"PYMESOS_RT_NODE": "here"},
        lambda fw, eid, code, why: exits.put_nowait((eid, code)),
        warm_standby=warm_standby,
    )
    launcher.start_standby()
    standby = launcher._standby
    if kill_standby and standby is not None:
        standby.kill()
        standby.wait()
    command = m.CommandInfo(list(EXECUTOR_ARGV), {"PYMESOS_RT_DRIVER_URL": UNREACHABLE})
    pid = launcher.start("fw", "e1", Resources(cpus=1), command)
    eid, code = await asyncio.wait_for(exits.get(), 30)
    assert eid == "e1"
    if warm_standby:  # a new standby follows, a little later (STANDBY_DELAY_S)
        async with asyncio.timeout(10):
            while launcher._standby is None:
                await asyncio.sleep(0.05)
    replacement = launcher._standby
    await launcher.stop_all()
    assert launcher._standby is None
    pids = [p.pid for p in (standby, replacement) if p is not None]
    for p in pids:
        assert not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE
    return code, pids, pid, tmp_path / "executors" / "fw.e1"


def test_a_launch_takes_the_standby_which_becomes_that_executor(tmp_path):
    code, standbys, pid, sandbox = asyncio.run(launch_once(tmp_path, warm_standby=True))
    assert standbys[0] == pid  # the standby became the executor
    assert len(standbys) == 2 and standbys[1] != pid  # and another took its place
    assert code == 3  # the executor's own "cannot reach the driver" exit
    assert UNREACHABLE in (sandbox / "stderr").read_text()  # its env and its stderr file


def test_without_standby_or_with_a_dead_one_a_new_process_starts(tmp_path):
    code, standbys, _, sandbox = asyncio.run(launch_once(tmp_path / "a", warm_standby=False))
    assert standbys == [] and code == 3
    code, standbys, pid, sandbox = asyncio.run(
        launch_once(tmp_path / "b", warm_standby=True, kill_standby=True)
    )
    assert pid not in standbys and code == 3
    assert UNREACHABLE in (sandbox / "stderr").read_text()


@rt.remote
def where() -> dict[str, object]:
    import sys

    os.write(1, b"straight to fd 1\n")
    return {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "argv": sys.argv,
        "executor_id": os.environ.get("PYMESOS_RT_EXECUTOR_ID"),
        "cgroups": Path("/proc/self/cgroup").read_text(),
    }


def test_embedded_executors_come_from_the_standby_and_are_confined(tmp_path):
    isolation = (
        "cgroups-v1" if os.geteuid() == 0 and Path("/sys/fs/cgroup/memory").is_dir() else "none"
    )
    rt.init(num_cpus=2, isolation=isolation)
    try:
        submitted = time.time()
        info = rt.get(where.remote())
        created = psutil.Process(info["pid"]).create_time()
        assert created < submitted  # started ahead of need
        sandbox = Path(info["cwd"])
        assert sandbox.name.endswith(info["executor_id"]) and info["path0"] == str(sandbox)
        assert info["argv"] == [str(Path(rt.__file__).parent / "executor" / "__main__.py")]
        assert (sandbox / "stdout").read_text() == "straight to fd 1\n"
        if isolation == "cgroups-v1":
            memory = next(line for line in info["cgroups"].splitlines() if ":memory:" in line)
            assert info["executor_id"] in memory
    finally:
        rt.shutdown()
    left = [
        p for p in psutil.Process().children(recursive=True) if "executor" in " ".join(p.cmdline())
    ]
    assert not left


@rt.remote
def pid_of_executor() -> int:
    return os.getpid()


def test_init_from_a_thread_that_ends_leaves_working_executors():
    """A standby is bound to the thread that starts it (PR_SET_PDEATHSIG): init() called from a
    short-lived thread must not start one there, or its executor would die with the thread."""
    import threading

    started = threading.Thread(target=rt.init, kwargs={"num_cpus": 1, "isolation": "none"})
    started.start()
    started.join()
    try:
        first = rt.get(pid_of_executor.remote(), timeout=60)
        assert rt.get(pid_of_executor.remote(), timeout=60) == first  # still alive, reused
    finally:
        rt.shutdown()


def test_no_standby_is_made_while_the_agent_has_no_room(tmp_path):
    """An agent whose resources are all taken makes no standby it could not use; one follows
    once an executor ends."""
    import socket

    async def main() -> None:
        quiet = socket.socket()  # listens, never accepts: the executor waits for its driver
        quiet.bind(("127.0.0.1", 0))
        quiet.listen(1)
        room = [False]
        exits: asyncio.Queue[str] = asyncio.Queue()

        def on_exit(fw: str, eid: str, code: int, why: str | None) -> None:
            room[0] = True  # as the agent's resources come back
            exits.put_nowait(eid)

        launcher = Launcher(
            make_containerizer("none", "t", tmp_path),
            tmp_path,
            {"PYMESOS_RT_NODE": "here"},
            on_exit,
            warm_standby=True,
        )
        launcher.has_room = lambda: room[0]
        room[0] = True
        launcher.start_standby()
        first = launcher._standby
        assert first is not None
        room[0] = False  # the launch below takes the last CPU
        url = f"ws://127.0.0.1:{quiet.getsockname()[1]}/api/v1/executor"
        command = m.CommandInfo(list(EXECUTOR_ARGV), {"PYMESOS_RT_DRIVER_URL": url})
        assert launcher.start("fw", "e1", Resources(cpus=1), command) == first.pid
        launcher.start_standby()  # what the launch scheduled: nothing, there is no room
        assert launcher._standby is None
        launcher.stop("fw", "e1")
        assert await asyncio.wait_for(exits.get(), 30) == "e1"
        async with asyncio.timeout(10):  # room again: a standby follows (STANDBY_DELAY_S)
            while launcher._standby is None:
                await asyncio.sleep(0.05)
        await launcher.stop_all()
        quiet.close()

    asyncio.run(main())
