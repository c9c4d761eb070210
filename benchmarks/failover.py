"""Master failover time with a real ZooKeeper: SIGKILL the leading master, and time until the
new leader's first offer reaches a framework that follows the leader.

    python benchmarks/failover.py [--sessions 2,4] [--runs 3]

Prints a Markdown table (median and max over the runs, per ZooKeeper session timeout). Needs
Debian's `zookeeper` package (Java) on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from pymesos_rt.coordination import make_detector
from pymesos_rt.coordination.follow import LeaderLink
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.testing.daemons import Daemon, start_agent, start_master, wait_for
from pymesos_rt.testing.zookeeper import unique_chroot, zookeeper_server


class Follower:
    """A framework that follows the leader and notes when offers arrive."""

    def __init__(self, url: str) -> None:
        self.link = LeaderLink(
            make_detector(url, 4.0), "/api/v1/scheduler", codec.scheduler_side, None
        )
        self.offers: list[float] = []
        self.reconnecting: asyncio.Future[None] | None = None
        self.stopping = False

    def on_messages(self, conn: Any, messages: list[Any]) -> None:
        if any(isinstance(msg, m.Offers) for msg in messages):
            self.offers.append(time.monotonic())

    def on_closed(self, conn: Any, reason: str) -> None:
        if not self.stopping:
            self.reconnecting = asyncio.ensure_future(self.connect())

    async def connect(self) -> None:
        while True:
            try:
                conn = await self.link.connect()
            except OSError:
                await asyncio.sleep(0.05)
                continue
            conn.receiver = self
            conn.send(m.Subscribe("failover-probe"))
            return


def leading(masters: list[Daemon]) -> Daemon | None:
    for master in masters:
        if master.proc.poll() is not None:
            continue
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{master.port}/health", timeout=1) as r:
                if json.load(r)["status"] == "leading":
                    return master
        except OSError:
            continue
    return None


async def one_run(work: Path, zk_url: str, session: float) -> float:
    masters = [
        start_master(
            work,
            "--zk",
            zk_url,
            "--zk-session-timeout",
            str(session),
            "--allocation-interval",
            "0.2",
            name=f"m{i}",
        )
        for i in range(2)
    ]
    agent = start_agent(
        masters[0],
        work,
        "--master",
        zk_url,
        "--resources",
        "cpus:1;mem:512",
        "--isolation",
        "none",
        wait=False,
    )
    follower = Follower(zk_url)
    try:
        await follower.link.start()
        await follower.connect()
        await asyncio.to_thread(wait_for, lambda: follower.offers, 60, "a first offer")
        leader = leading(masters)
        assert leader is not None
        before = len(follower.offers)
        killed = time.monotonic()
        leader.signal(signal.SIGKILL)
        await asyncio.to_thread(
            wait_for, lambda: len(follower.offers) > before, 120, "an offer from the new leader"
        )
        return follower.offers[before] - killed
    finally:
        follower.stopping = True
        if follower.reconnecting is not None:
            follower.reconnecting.cancel()
        await follower.link.stop()
        for daemon in (agent, *masters):
            daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="2,4")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with zookeeper_server() as zk:
        for session in [float(s) for s in args.sessions.split(",")]:
            times = []
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory() as work:
                    times.append(asyncio.run(one_run(Path(work), zk.url(unique_chroot()), session)))
                print(f"session {session:g}s: {times[-1]:.2f}s", file=sys.stderr)
            rows.append((session, statistics.median(times), max(times)))
    print("| ZooKeeper session timeout (s) | failover, median (s) | failover, max (s) | goal (s) |")
    print("|---|---|---|---|")
    for session, median, worst in rows:
        print(f"| {session:g} | {median:.2f} | {worst:.2f} | {session + 1:g} |")


if __name__ == "__main__":
    main()
