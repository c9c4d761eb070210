"""High availability with a real ZooKeeper: three masters elect one leader; agents and programs
find it through ZooKeeper and follow it when it changes; no task result is lost or doubled."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from datetime import UTC

import pytest
from cluster_helpers import read_line, run_driver

from pymesos_rt.testing.daemons import start_agent, start_master, wait_for
from pymesos_rt.testing.zookeeper import unique_chroot, zookeeper_server

pytestmark = pytest.mark.integration

SESSION = "2"  # ZooKeeper session timeout of the masters (seconds)


@pytest.fixture(scope="module")
def zk():
    with zookeeper_server() as server:
        yield server


def health(master):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{master.port}/health", timeout=2) as resp:
            return json.load(resp)
    except OSError:
        return None


def leader_of(masters):
    leading = [
        m for m in masters if m.proc.poll() is None and (health(m) or {}).get("status") == "leading"
    ]
    return leading[0] if len(leading) == 1 else None


def agents_on(master):
    """How many agents ``master`` lists (None: it is not answering as leader right now)."""
    state = master.try_state() if master is not None else None
    return len(state["agents"]) if state else None


def start_masters(tmp_path, zk_url, n=3):
    return [
        start_master(tmp_path, "--zk", zk_url, "--zk-session-timeout", SESSION, name=f"master{i}")
        for i in range(n)
    ]


JOB = """
import json, time
import pymesos_rt as rt

rt.init()

@rt.remote(num_cpus=1)
def work(i):
    time.sleep(0.02)
    return i

refs = [work.remote(i) for i in range(2000)]
seen = []
for n, ref in enumerate(rt.as_completed(refs, timeout=600)):
    seen.append(rt.get(ref))
    if n % 50 == 0:
        print(f"done {n}", flush=True)
print(json.dumps(seen), flush=True)
rt.shutdown()
"""


# starts and kills several processes: on a loaded machine (parallel tests) well over 120 s
@pytest.mark.timeout(300)
def test_leader_killed_midway_a_standby_takes_over_and_every_result_arrives_once(zk, tmp_path):
    url = zk.url(unique_chroot())
    masters = start_masters(tmp_path, url)
    agents = [
        start_agent(
            masters[0],
            tmp_path,
            "--master",
            url,
            "--resources",
            "cpus:2;mem:4096",
            "--hostname",
            f"node-{i}",
            name=f"agent{i}",
            wait=False,
        )
        for i in range(2)
    ]
    driver = None
    try:
        first = wait_for(lambda: leader_of(masters), 30, "a leader")
        standby = [m for m in masters if m is not first]
        assert all(health(m)["status"] == "standby" for m in standby)
        # a standby sends /state and the dashboard to the leader
        for path in ("/state", "/"):
            req = urllib.request.Request(f"http://127.0.0.1:{standby[0].port}{path}")
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.url.endswith(f":{first.port}{path}")
        wait_for(lambda: agents_on(first) == 2, 30, "agents on the leader")
        driver = run_driver(tmp_path, "job", JOB, url)
        read_line(driver, "done 500")
        first.signal(signal.SIGKILL)
        wait_for(lambda: leader_of(standby), 30, "a new leader")
        # under load a new leader may yet step down (its lease lapsing) and another take over
        wait_for(lambda: agents_on(leader_of(standby)) == 2, 60, "agents on the new leader")
        results = json.loads(read_line(driver, "["))
        assert sorted(results) == list(range(2000))  # none lost, none twice
        assert driver.wait(timeout=60) == 0
    finally:
        if driver is not None:
            driver.kill()
        for daemon in agents + masters:
            daemon.stop()


ENSEMBLE_JOB = """
import json, time
import pymesos_rt as rt

rt.init()

@rt.remote(num_cpus=1)
def work(i):
    time.sleep(0.02)
    return i

refs = [work.remote(i) for i in range(600)]
for n, ref in enumerate(rt.as_completed(refs, timeout=600)):
    if n % 50 == 0:
        print(f"done {n}", flush=True)
print(json.dumps(rt.get(refs)), flush=True)
rt.shutdown()
"""


def test_zookeeper_ensemble_losing_one_server_then_all(tmp_path):
    from pymesos_rt.testing.zookeeper import zookeeper_ensemble

    with zookeeper_ensemble(3) as ensemble:
        url = ensemble.url(unique_chroot())
        masters = start_masters(tmp_path, url, n=2)
        agent = start_agent(
            masters[0], tmp_path, "--master", url, "--resources", "cpus:2;mem:4096", wait=False
        )
        driver = None
        try:
            leader = wait_for(lambda: leader_of(masters), 30, "a leader")
            wait_for(lambda: agents_on(leader_of(masters)) == 1, 30, "agent registered")
            leader_id = health(leader)["master_id"]
            driver = run_driver(tmp_path, "job", ENSEMBLE_JOB, url)
            read_line(driver, "done 100")
            ensemble.kill(ensemble.follower_indexes()[0])
            read_line(driver, "done 200")
            assert wait_for(lambda: leader_of(masters), 30, "a leader")  # quorum of 2 left
            assert health(leader_of(masters))["master_id"] == leader_id  # the same one
            ensemble.kill_all()  # the whole ensemble goes
            results = json.loads(read_line(driver, "["))
            assert results == list(range(600))  # running tasks finished without ZooKeeper

            # the leader steps down once its session is suspended, and nobody takes over
            def nobody_leads():
                return all((health(m) or {}).get("status") != "leading" for m in masters)

            wait_for(nobody_leads, 30, "the leader stepped down")
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                assert nobody_leads()
                time.sleep(0.1)
        finally:
            if driver is not None:
                driver.kill()
            for daemon in [agent, *masters]:
                daemon.stop()


def _offer_times(master):
    """(wall time, offer line) of every offer the master logged (its log is logfmt, UTC)."""
    from datetime import datetime

    out = []
    for line in master.log_text().splitlines():
        if 'msg="offer ' not in line:
            continue
        stamp = line.split(" ", 1)[0].removeprefix("ts=").removesuffix("Z")
        when = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
        out.append((when, line))
    return out


def test_partitioned_leader_steps_down_and_never_offers_again(zk, tmp_path):
    url = zk.url(unique_chroot())
    masters = [
        start_master(
            tmp_path,
            "--zk",
            url,
            "--zk-session-timeout",
            SESSION,
            "--log-level",
            "DEBUG",
            "--allocation-interval",
            "0.2",
            name=f"master{i}",
        )
        for i in range(2)
    ]
    agent = start_agent(
        masters[0],
        tmp_path,
        "--master",
        url,
        "--resources",
        "cpus:2;mem:2048",
        "--isolation",
        "none",
        wait=False,
    )
    driver = run_driver(tmp_path, "job", ENSEMBLE_JOB, url)
    try:
        first = wait_for(lambda: leader_of(masters), 30, "a leader")
        second = next(m for m in masters if m is not first)
        read_line(driver, "done 100")
        paused_at = time.time()
        first.signal(signal.SIGSTOP)  # partitioned: its ZooKeeper session expires
        wait_for(lambda: leader_of([second]), 30, "the standby takes over")
        wait_for(lambda: _offer_times(second), 30, "the new leader offers")
        first.signal(signal.SIGCONT)
        wait_for(lambda: (health(first) or {}).get("status") == "standby", 30, "old leader yields")
        results = json.loads(read_line(driver, "["))
        assert results == list(range(600))
        # the old leader offered nothing from the moment it was paused; the new one only after
        assert all(when < paused_at for when, _ in _offer_times(first))
        assert all(when > paused_at for when, _ in _offer_times(second))
    finally:
        for daemon in masters:
            daemon.signal(signal.SIGCONT)
        driver.kill()
        agent.stop()
        for daemon in masters:
            daemon.stop()
