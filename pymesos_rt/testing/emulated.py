"""Emulated agents and frameworks: many of them in one process, each over a real websocket to
a real master, as Mesos measured its master (emulated agents, test frameworks).

- :class:`EmulatedAgent` runs the real agent core (:class:`~pymesos_rt.agent.state.AgentState`):
  it registers (reporting its executors after a master failover), heartbeats, resends status
  updates until acknowledged, reports usage every second, and answers ``LaunchExecutor`` with
  RUNNING and ``StopExecutor`` with KILLED at once, without starting any process.
- :class:`EmulatedFramework` subscribes (with a failover timeout, so it survives a master
  restart), reconciles after each subscription, acknowledges updates, and wants executors of
  one shape without end: from each offer it launches one executor and gives the rest back with
  no filter (the DRF paper's frameworks), declining offers it cannot use for 5 s.
- Both reconnect to the same address when the master goes away.

``python -m pymesos_rt.testing.emulated --master ws://127.0.0.1:5050 --agents 1000
--frameworks 10`` runs them until killed, printing one JSON line when all agents are
registered (and again after each re-registration of all of them). Agents have 8 cpus and
32 GiB; every framework launches executors of 1 cpu and 4 GiB, so a full cluster holds
8 x agents executors and DRF gives each framework the same number, within one. (With shapes
that leave fragments one framework can use and another cannot, shares near a full cluster
drift apart whatever the allocator, and only fair-share reclaims pull them back, one executor
per framework per ``reclaim_interval``; see docs/performance.md.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import queue
import random
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from pymesos_rt.agent import state as core
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState
from pymesos_rt.testing import daemons
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)

AGENT = Resources(cpus=8, mem=32768)
EXECUTOR = Resources(cpus=1, mem=4096)
CMD = m.CommandInfo(["true"])


class _Link:
    """One connection to the master that comes back when it is lost."""

    def __init__(self, url: str, secret: str | None, gate: asyncio.Semaphore) -> None:
        self.url, self.secret, self.gate = url, secret, gate
        self.conn: Connection | None = None
        self.stopping = False
        self.reconnecting: asyncio.Future[None] | None = None

    async def open(self, side: Any) -> ws.ClientConnection:
        delay = 0.1
        while True:
            try:
                async with self.gate:
                    conn = await ws.connect(self.url, side(), self.secret, timeout=30)
                return conn
            except (OSError, ConnectionError) as exc:
                log.debug("connect %s failed: %s", self.url, exc)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)


class EmulatedAgent:
    def __init__(self, index: int, url: str, secret: str | None, gate: asyncio.Semaphore) -> None:
        self.core = core.AgentState(f"emulated-{index}", AGENT, "none")
        self.link = _Link(url.rstrip("/") + "/api/v1/agent", secret, gate)
        self.registrations = 0
        self.on_registered: Any = None

    async def connect(self) -> None:
        conn = await self.link.open(codec.agent_side)
        self.link.conn = conn
        conn.receiver = self
        conn.start_reading()
        self._apply(self.core.connected(time.monotonic()))

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        now = time.monotonic()
        for msg in messages:
            self._apply(self.core.on_master_event(msg, now))
            if isinstance(msg, m.AgentRegistered):
                self.registrations += 1
                if self.on_registered is not None:
                    self.on_registered(self)

    def on_closed(self, conn: Connection, reason: str) -> None:
        self.link.conn = None
        if not self.link.stopping:
            self.link.reconnecting = asyncio.ensure_future(self.connect())

    def _apply(self, effects: list[core.Effect]) -> None:
        now = time.monotonic()
        for eff in effects:
            if isinstance(eff, core.ToMaster):
                if self.link.conn is not None:
                    self.link.conn.send(eff.message)
            elif isinstance(eff, core.StartProcess):
                self._apply(self.core.process_started(eff.framework_id, eff.executor_id, now))
            else:  # StopProcess: the emulated process ends at once
                self._apply(
                    self.core.process_exited(eff.framework_id, eff.executor_id, 0, None, now)
                )

    def tick(self) -> None:
        self._apply(self.core.tick(time.monotonic()))
        running = self.core.running()
        if running and self.link.conn is not None and self.core.usage_due(time.monotonic()):
            usage = {"cpu_seconds": 1.0, "memory": 2**20, "memory_peak": 2**21, "pids": 1.0}
            records = [m.UsageRecord(r.framework_id, r.executor_id, usage) for r in running]
            self.link.conn.send(m.ExecutorUsage(records))


class EmulatedFramework:
    def __init__(
        self, name: str, shape: Resources, url: str, secret: str | None, gate: asyncio.Semaphore
    ) -> None:
        self.name, self.shape = name, shape
        self.link = _Link(url.rstrip("/") + "/api/v1/scheduler", secret, gate)
        self.framework_id: str | None = None
        self.credential = secrets.token_urlsafe(16)  # proves this framework at re-subscription
        self.executors: dict[str, str] = {}  # executor id -> agent id
        self.seq = 0
        self.subscribed = asyncio.Event()

    async def connect(self) -> None:
        conn = await self.link.open(codec.scheduler_side)
        self.link.conn = conn
        conn.receiver = self
        conn.start_reading()
        conn.send(m.Subscribe(self.name, "*", self.framework_id, 3600.0, self.credential))

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        for msg in messages:
            match msg:
                case m.Subscribed():
                    self.framework_id = msg.framework_id
                    self.subscribed.set()
                    refs = [m.ExecutorRef(a, e) for e, a in sorted(self.executors.items())]
                    conn.send(m.Reconcile(refs))
                case m.Offers():
                    self._offers(conn, msg.offers)
                case m.ExecutorUpdate():
                    update = msg.update
                    if update.update_id:
                        conn.send(m.Acknowledge(update.agent_id, update.update_id))
                    if update.state.terminal:
                        self.executors.pop(update.executor_id, None)
                    elif update.state is ExecutorState.RUNNING:
                        self.executors.setdefault(update.executor_id, update.agent_id)
                case m.Reclaim():
                    for executor_id, agent_id in list(self.executors.items())[: msg.count]:
                        conn.send(m.KillExecutor(agent_id, executor_id))

    def _offers(self, conn: Connection, offers: list[m.Offer]) -> None:
        for offer in offers:
            if not self.shape.fits(offer.resources):
                conn.send(m.Decline([offer.offer_id], refuse_seconds=5.0))
                continue
            self.seq += 1
            eid = f"{self.name}-e{self.seq}"
            self.executors[eid] = offer.agent_id
            launch = m.ExecutorLaunch(eid, self.shape, CMD)
            conn.send(m.Accept([offer.offer_id], [launch], refuse_seconds=0.0))

    def on_closed(self, conn: Connection, reason: str) -> None:
        self.link.conn = None
        if not self.link.stopping:
            self.link.reconnecting = asyncio.ensure_future(self.connect())


async def run(url: str, agents: int, frameworks: int, secret: str | None) -> None:
    gate = asyncio.Semaphore(64)  # connections being opened at once
    fleet = [EmulatedAgent(i, url, secret, gate) for i in range(agents)]
    registered: set[int] = set()
    started = time.monotonic()

    def on_registered(agent: EmulatedAgent) -> None:
        nonlocal started
        registered.add(id(agent))
        if len(registered) == agents:
            rounds = min(a.registrations for a in fleet)
            took = time.monotonic() - started
            print(json.dumps({"registered": agents, "round": rounds, "seconds": took}), flush=True)
            registered.clear()
            started = time.monotonic()

    for agent in fleet:
        agent.on_registered = on_registered
    # frameworks first: each agent is then offered as it joins, to the framework with the
    # least share (a framework that came after the cluster was given out would have to wait
    # for fair-share reclaims, one executor per framework per reclaim interval)
    apps = [
        EmulatedFramework(f"emulated-{i}", EXECUTOR, url, secret, gate) for i in range(frameworks)
    ]
    await asyncio.gather(*(app.connect() for app in apps))
    async with asyncio.timeout(120):
        await asyncio.gather(*(app.subscribed.wait() for app in apps))
    started = time.monotonic()
    await asyncio.gather(*(agent.connect() for agent in fleet))
    while True:
        await asyncio.sleep(1.0)
        for agent in fleet:
            agent.tick()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True, help="ws://host:port of the master")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--frameworks", type=int, default=10)
    parser.add_argument("--secret", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.agents + args.frameworks + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    asyncio.run(run(args.master, args.agents, args.frameworks, args.secret))
    return 0


# --- the scenario: a real master process, emulated agents and frameworks, a master restart --


HELPER = [sys.executable, "-m", "pymesos_rt.testing.emulated"]


@dataclass
class ScaleReport:
    """What :func:`measure` saw: seconds, shares (executors per framework), master usage."""

    agents: int
    frameworks: int
    registered_s: float = 0.0  # first registration of every agent, seen by the helper
    settled_s: float = 0.0  # from the helper's start until the cluster was full
    executors: dict[str, int] = field(default_factory=dict)  # framework name -> executors
    master_cpu_fill_s: float = 0.0  # CPU seconds of the master until the cluster was full
    master_rss_mib: float = 0.0
    master_cpu_per_s: float = 0.0  # idle full cluster: heartbeats and usage reports
    reregistered_s: float = 0.0  # from the restarted master's start until all agents are back
    master_cpu_reregister_s: float = 0.0  # CPU seconds of the new master until then
    executors_after: dict[str, int] = field(default_factory=dict)
    master_rss_after_mib: float = 0.0


class _Lines:
    """The helper's JSON lines, read on a thread so that waits have deadlines."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, out: Any) -> None:
        for line in out:
            self.queue.put(line)

    def next(self, timeout: float) -> dict[str, Any]:
        try:
            line: dict[str, Any] = json.loads(self.queue.get(timeout=timeout))
        except queue.Empty:
            raise TimeoutError(f"the emulator said nothing for {timeout:.0f} s") from None
        return line


def _shares(master: daemons.Daemon) -> dict[str, int]:
    state = master.state("limit=1000")
    return {f["name"]: f["executor_count"] for f in state["frameworks"] if f["connected"]}


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def measure(
    work: Path,
    agents: int,
    frameworks: int = 10,
    timeout: float = 300.0,
    idle_s: float = 10.0,
) -> ScaleReport:
    """Run the whole scenario; raises ``TimeoutError`` naming the step that did not finish."""
    report = ScaleReport(agents, frameworks)
    flags = ("--agent-timeout", "120", "--agent-reregister-timeout", "120")
    master = daemons.start_master(work, *flags)
    helper = subprocess.Popen(
        [*HELPER, "--master", master.url, "--agents", str(agents), "--frameworks", str(frameworks)],
        stdout=subprocess.PIPE,
        text=True,
    )
    full = agents * (AGENT.get("cpus") // EXECUTOR.get("cpus"))
    try:
        lines = _Lines(helper)
        started = time.monotonic()
        report.registered_s = lines.next(timeout)["seconds"]

        def settled() -> dict[str, int] | None:
            counts = master.state("limit=1")["counts"]
            shares = _shares(master) if counts["executors"] == full else {}
            return shares if len(shares) == frameworks else None

        report.executors = daemons.wait_for(settled, timeout, "a full cluster")
        report.settled_s = time.monotonic() - started
        proc = psutil.Process(master.proc.pid)
        report.master_cpu_fill_s = before = _cpu(proc)
        time.sleep(idle_s)  # measuring an interval, not waiting for anything
        report.master_cpu_per_s = (_cpu(proc) - before) / idle_s
        report.master_rss_mib = proc.memory_info().rss / 2**20
        master.signal(signal.SIGKILL)
        master.proc.wait(30)
        restarted = time.monotonic()
        master = daemons.start_master(work, *flags, port=master.port, name="master2")

        def back() -> dict[str, int] | None:
            counts = master.state("limit=1")["counts"]
            if counts["agents_connected"] < agents:
                return None
            shares = _shares(master)
            return shares if len(shares) == frameworks and sum(shares.values()) == full else None

        report.executors_after = daemons.wait_for(back, timeout, "all agents re-registered")
        report.reregistered_s = time.monotonic() - restarted
        proc = psutil.Process(master.proc.pid)
        report.master_cpu_reregister_s = _cpu(proc)
        report.master_rss_after_mib = proc.memory_info().rss / 2**20
        return report
    finally:
        helper.kill()
        helper.wait(30)
        master.stop()


if __name__ == "__main__":
    sys.exit(main())
