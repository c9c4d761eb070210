"""The master at scale: drive the sans-IO ``MasterState`` and its allocator directly (no
sockets, no processes) with N agents of 32 cpus / 128 GiB and F frameworks, and print how each
piece of master work grows with N.

    python benchmarks/scale.py                       # N = 100, 1,000, 10,000
    python benchmarks/scale.py --sizes 100,1000 --budget 20 --json out.json

Rows (each cell: the median of ``--repeat`` runs, each on a fresh master):
- cold round: N idle agents, F frameworks subscribed and wanting; one ``allocate``.
- steady round: every agent full (8 executors of 4 cpus / 16 GiB, F=10 frameworks); 10
  executors end on 10 agents; one ``allocate`` (the offers of those 10 agents).
- idle round: the same full cluster, nothing free; one ``allocate`` (the shell runs one after
  every batch of messages).
- re-registration storm: a fresh master after failover, F=10 frameworks re-subscribed; N agents
  re-register with 8 executors each, with one allocation cycle after each registration (the
  worst case: each registration in its own event-loop iteration).
- cluster notices of that storm: encoding every message the storm sends to frameworks.
- joins: N empty agents register into a master with 10 frameworks wanting, a cycle per join
  (each join is offered at once).
- ``/state``: the default response of the full cluster, snapshot and JSON encoding.
- ``/state`` page: one page of agent details (``?detail=agents&limit=100``) where supported.

Times are CPU time of this process (``time.process_time``): on an idle machine that is the
wall time; on a busy one it leaves out the waiting for a core. The last column is the growth
exponent: the slope of log(time) over log(N) fitted through the
measured cells. A cell whose estimate (from the smaller N and the growth so far) exceeds
``--budget`` seconds is not run and shows ``~estimate``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from pymesos_rt.master.records import MasterConfig, Send
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

AGENT = Resources(cpus=32, mem=131072)
EXECUTOR = Resources(cpus=4, mem=16384)
PER_AGENT = 8
CMD = m.CommandInfo(["true"])

Setup = Callable[[int], Callable[[], Any]]  # N -> the measured call


def _master() -> MasterState:
    # no fair-share reclaims, generous timeouts: only the work named in each row is measured
    return MasterState(config=MasterConfig(reclaim=False, agent_timeout=1e9), master_id="M")


def _subscribe(ms: MasterState, frameworks: int) -> None:
    for j in range(frameworks):
        ms.on_framework_call(f"f{j}", m.Subscribe(f"app{j}", framework_id=f"fw{j}"), 0.0)


def _register(ms: MasterState, i: int, frameworks: int, full: bool) -> list[Any]:
    executors = (
        [
            m.ExecutorRecord(f"fw{(i * PER_AGENT + k) % frameworks}", f"e{i}-{k}", EXECUTOR)
            for k in range(PER_AGENT)
        ]
        if full
        else []
    )
    call = m.RegisterAgent(f"host{i}", AGENT, f"ag{i}", executors)
    return ms.on_agent_call(f"a{i}", call, 0.0)


def _full_cluster(n: int, frameworks: int = 10) -> MasterState:
    ms = _master()
    _subscribe(ms, frameworks)
    for i in range(n):
        _register(ms, i, frameworks, full=True)
    ms.allocate(0.0)
    return ms


def cold(frameworks: int) -> Setup:
    def setup(n: int) -> Callable[[], Any]:
        ms = _master()
        for i in range(n):
            _register(ms, i, frameworks, full=False)
        _subscribe(ms, frameworks)
        return lambda: ms.allocate(1.0)

    return setup


def steady(n: int) -> Callable[[], Any]:
    ms = _full_cluster(n)
    step = max(1, n // 10)
    for i in range(0, step * 10, step):
        k = 0
        update = m.StatusUpdate(
            f"u{i}", f"ag{i}", f"fw{(i * PER_AGENT + k) % 10}", f"e{i}-{k}", ExecutorState.FINISHED
        )
        ms.on_agent_call(f"a{i}", m.AgentStatus(update), 1.0)
    return lambda: ms.allocate(1.0)


def idle(n: int) -> Callable[[], Any]:
    ms = _full_cluster(n)
    return lambda: ms.allocate(1.0)


_STORM_SENT: dict[int, list[Any]] = {}


def storm(n: int) -> Callable[[], Any]:
    ms = _master()
    _subscribe(ms, 10)

    def run() -> None:
        sent: list[Any] = []
        for i in range(n):
            sent += _register(ms, i, 10, full=True)
            sent += ms.allocate(0.0)
        _STORM_SENT[n] = [e.message for e in sent if isinstance(e, Send) and e.conn[0] == "f"]

    return run


def storm_encode(n: int) -> Callable[[], Any]:
    if n not in _STORM_SENT:
        storm(n)()
    messages = _STORM_SENT.pop(n)
    return lambda: sum(len(codec.Codec.encode([msg])) for msg in messages)


def joins(n: int) -> Callable[[], Any]:
    ms = _master()
    _subscribe(ms, 10)

    def run() -> None:
        for i in range(n):
            _register(ms, i, 10, full=False)
            ms.allocate(0.0)

    return run


def state_default(n: int) -> Callable[[], Any]:
    ms = _full_cluster(n)
    return lambda: len(json.dumps(ms.snapshot()))


def state_page(n: int) -> Callable[[], Any] | None:
    ms = _full_cluster(n)
    try:
        from pymesos_rt.master.snapshot import StateQuery
    except ImportError:
        return None
    query = StateQuery(detail=frozenset({"agents"}), limit=100, offset=n // 2)
    return lambda: len(json.dumps(ms.snapshot(query)))


ROWS: list[tuple[str, str, Setup]] = [
    ("cold1", "cold allocation round, F=1 wanting", cold(1)),
    ("cold10", "cold allocation round, F=10 wanting", cold(10)),
    ("cold100", "cold allocation round, F=100 wanting", cold(100)),
    ("steady", "steady round (10 agents freed), F=10", steady),
    ("idle", "idle round (nothing free), F=10", idle),
    ("storm", "re-registration storm (N x 8 executors), F=10", storm),
    ("encode", "encoding the storm's notices to frameworks, F=10", storm_encode),
    ("join", "N empty agents joining, F=10 wanting", joins),
    ("state", "/state default response (snapshot + JSON)", state_default),
    ("page", "/state page of 100 agents' details", state_page),  # type: ignore[list-item]
]


def _measure(setup: Setup, n: int, repeat: int) -> float | None:
    times = []
    for _ in range(repeat):
        call = setup(n)
        if call is None:
            return None
        gc.collect()
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return statistics.median(times)


def _fmt(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def _growth(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(max(t, 1e-9)) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--rows", default=",".join(key for key, _, _ in ROWS))
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per cell at most")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    wanted = args.rows.split(",")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores")
    print()
    print("| master work | " + " | ".join(f"N={n:,}" for n in sizes) + " | growth |")
    print("|---|" + "---|" * len(sizes) + "---|")
    results: dict[str, dict[int, float | None]] = {}
    for key, label, setup in ROWS:
        if key not in wanted:
            continue
        cells, points = [], []
        results[key] = {}
        for n in sizes:
            estimate = None
            if points:
                slope = _growth(points) if len(points) > 1 else 2.0
                last_n, last_t = points[-1]
                estimate = last_t * (n / last_n) ** max(slope or 1.0, 1.0)
            if estimate is not None and estimate * args.repeat > args.budget:
                cells.append(f"~{_fmt(estimate)}")
                results[key][n] = None
                continue
            repeat = args.repeat if estimate is None or estimate < args.budget / 10 else 1
            took = _measure(setup, n, repeat)
            if took is None:
                cells.append("n/a")
                results[key][n] = None
                continue
            cells.append(_fmt(took))
            points.append((n, took))
            results[key][n] = took
        growth = _growth(points)
        shown = "" if growth is None else f"N^{growth:.2f}"
        print(f"| {label} | " + " | ".join(cells) + f" | {shown} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"load": load, "results": results}, fh, indent=1)


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
