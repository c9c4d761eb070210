"""What the dashboard costs the control plane as jobs grow: a real master and agent
(``pymesos-rt master``/``agent`` processes), one job of N no-op tasks per row attached from this
process, and a poller that reads ``/state``, ``/jobs`` and ``/jobs/<id>`` once a second (what an
open dashboard does) while it runs. Prints a Markdown table.

    python benchmarks/bench_dashboard.py                 # N = 1,000, 10,000, 100,000
    python benchmarks/bench_dashboard.py --sizes 1000,100000 --cpus 2

Columns: the job's wall time and task rate; the master process's CPU seconds per second while
the job runs (mean and worst one-second sample; the poller's reads included); the largest
``/state``, ``/jobs`` and ``/jobs/<id>`` responses seen, and the largest ``JobSummary`` the
framework sent (encoded). The first row is the same cluster with no job (the poller only).
A bounded summary shows as flat columns from 10^3 to 10^5 tasks. Also printed: the driver's
cost of the summary bookkeeping per task (``TaskBook``, measured alone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

import pymesos_rt as rt
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.states import TaskState
from pymesos_rt.scheduler import driver as driver_mod
from pymesos_rt.scheduler.summary import TaskBook
from pymesos_rt.testing.daemons import Daemon, start_agent, start_master


@rt.remote
def noop(i: int) -> int:
    return i


def _size(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return len(resp.read())


class Poller:
    """Reads the dashboard's endpoints once a second and samples the master's CPU time."""

    def __init__(self, master: Daemon, framework_id: str | None) -> None:
        self.base = f"http://127.0.0.1:{master.port}"
        self.framework_id = framework_id
        self.proc = psutil.Process(master.proc.pid)
        self.cpu: list[float] = []
        self.sizes: dict[str, int] = {"state": 0, "jobs": 0, "job": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu_seconds(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def _run(self) -> None:
        before, then = self._cpu_seconds(), time.monotonic()
        while not self._stop.wait(1.0):
            urls = {"state": "/state", "jobs": "/jobs"}
            if self.framework_id:
                urls["job"] = f"/jobs/{self.framework_id}"
            for key, path in urls.items():
                self.sizes[key] = max(self.sizes[key], _size(self.base + path))
            now, cpu = time.monotonic(), self._cpu_seconds()
            self.cpu.append((cpu - before) / (now - then))
            before, then = cpu, now

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _largest_summary() -> tuple[list[int], Any]:
    """Record the encoded size of every JobSummary the driver sends (patched in its module)."""
    sizes: list[int] = []
    real = TaskBook.report

    def report(self: TaskBook, now: float) -> m.JobSummary | None:
        summary = real(self, now)
        if summary is not None:
            sizes.append(len(codec.Codec.encode([summary])))
        return summary

    TaskBook.report = report  # type: ignore[method-assign]
    return sizes, real


def run_job(master: Daemon, n: int) -> dict[str, Any]:
    sizes, real = _largest_summary()
    try:
        info = rt.init(master.url, name=f"bench-{n}", idle_timeout=30.0)
        rt.get(noop.remote(0))  # executors up
        with Poller(master, info.framework_id) as poller:
            started = time.monotonic()
            refs = [noop.remote(i) for i in range(n)]
            rt.get(refs)
            elapsed = time.monotonic() - started
            del refs
            time.sleep(driver_mod.SUMMARY_INTERVAL_S * 2.5)  # the last summaries arrive
        rt.shutdown()
    finally:
        TaskBook.report = real  # type: ignore[method-assign]
    return {
        "n": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "cpu_mean": statistics.fmean(poller.cpu) if poller.cpu else 0.0,
        "cpu_max": max(poller.cpu, default=0.0),
        **poller.sizes,
        "summary": max(sizes, default=0),
    }


def idle(master: Daemon, seconds: float) -> dict[str, Any]:
    with Poller(master, None) as poller:
        time.sleep(seconds)
    return {
        "n": 0,
        "seconds": seconds,
        "rate": 0.0,
        "cpu_mean": statistics.fmean(poller.cpu) if poller.cpu else 0.0,
        "cpu_max": max(poller.cpu, default=0.0),
        **poller.sizes,
        "summary": 0,
    }


def book_cost(n: int = 200_000) -> float:
    """Microseconds of TaskBook work per task: submit, dispatch, end, finish."""
    book = TaskBook()
    names = [f"fn{i % 8}" for i in range(n)]
    started = time.perf_counter()
    for i, name in enumerate(names):
        book.submitted(name)
        book.moved(name, TaskState.WAITING, TaskState.READY)
        book.moved(name, TaskState.READY, TaskState.DISPATCHED)
        book.ended("e1", name, 0.001, True, float(i))
        book.moved(name, TaskState.DISPATCHED, TaskState.FINISHED)
        if i % 20_000 == 0:
            book.report(float(i))
    return (time.perf_counter() - started) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    work = Path(tempfile.mkdtemp(prefix="pymesos-rt-bench-dashboard-"))
    master = start_master(work)
    agent = start_agent(master, work, "--resources", f"cpus:{args.cpus};mem:8192")
    rows = []
    try:
        rows.append(idle(master, 5.0))
        for n in sizes:
            print(f"job of {n} tasks ...", file=sys.stderr, flush=True)
            rows.append(run_job(master, n))
    finally:
        agent.stop()
        master.stop()
    print(f"load average before/after: {psutil.getloadavg()}", file=sys.stderr)
    print(
        "| tasks | job s | tasks/s | master CPU s/s mean (max) | /state B | /jobs B "
        "| /jobs/<id> B | largest JobSummary B |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        label = f"{r['n']:,}" if r["n"] else "none (idle)"
        print(
            f"| {label} | {r['seconds']:.1f} | {r['rate']:,.0f} | "
            f"{r['cpu_mean']:.3f} ({r['cpu_max']:.3f}) | {r['state']:,} | {r['jobs']:,} | "
            f"{r['job']:,} | {r['summary']:,} |"
        )
    print(f"\nTaskBook bookkeeping in the driver: {book_cost():.2f} us per task")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
