"""The first round across many agents: a real master and K real agents (processes), one
driver attached; N no-op tasks timed twice: the first round includes launching the executors
on every agent, the second runs on warm executors.

    python benchmarks/agents.py                         # K = 1 and 16, N = 10,000
    python benchmarks/agents.py --agents 1,4,16 --tasks 20000 --cpus 2

Every agent declares ``--cpus`` CPUs (so K agents hold K x cpus executors of one CPU) and uses
``--isolation`` (default ``auto``). All agents share this machine's cores: launching K x cpus
executor processes costs what it costs, where a real cluster would start them in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from pymesos_rt.testing.daemons import start_agent, start_master

DRIVER = textwrap.dedent(
    """
    import json, sys, time
    import pymesos_rt as rt

    @rt.remote
    def noop():
        return None

    rt.init(sys.argv[1])
    rounds = []
    for _ in range(2):
        start = time.perf_counter()
        rt.get([noop.remote() for _ in range(int(sys.argv[2]))])
        rounds.append(time.perf_counter() - start)
    print(json.dumps({"rounds": rounds}), flush=True)
    rt.shutdown()
    """
)


def run(agents: int, tasks: int, cpus: int, work: Path, isolation: str) -> list[float]:
    master = start_master(work)
    daemons = [master]
    try:
        for i in range(agents):
            daemons.append(
                start_agent(
                    master,
                    work,
                    "--resources",
                    f"cpus:{cpus};mem:{1024 * cpus}",
                    "--isolation",
                    isolation,
                    name=f"agent{i}",
                )
            )
        script = work / "driver.py"
        script.write_text(DRIVER)
        out = subprocess.run(
            [sys.executable, str(script), master.url, str(tasks)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
            cwd=work,
        ).stdout
        rounds: list[float] = json.loads(out.strip().splitlines()[-1])["rounds"]
        return rounds
    finally:
        for daemon in reversed(daemons):
            daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="1,16")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--isolation", default="auto")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores\n")
    print("| agents | executors | first round (tasks/s) | second round (tasks/s) |")
    print("|---|---|---|---|")
    for k in (int(a) for a in args.agents.split(",")):
        with tempfile.TemporaryDirectory(prefix="pymesos-agents-") as tmp:
            first, second = run(k, args.tasks, args.cpus, Path(tmp), args.isolation)
        rate = args.tasks / first, args.tasks / second
        print(f"| {k} | {k * args.cpus} | {rate[0]:,.0f} | {rate[1]:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
