"""The master with emulated agents over real websockets (``pymesos_rt.testing.emulated``): a
real master process, one helper process with N emulated agents (8 cpus, 32 GiB each) and 10
frameworks that want executors of 1 cpu / 4 GiB without end; then the master is SIGKILLed and
restarted on the same port and every agent re-registers with its executors.

    python benchmarks/emulated.py                 # N = 1,000
    python benchmarks/emulated.py --agents 250,1000,2000

Prints, per N: seconds until every agent registered, until the cluster was full, until all
agents re-registered after the restart, with the master's CPU seconds for each (on a busy
machine the wall times mostly measure waiting for a CPU: compare the CPU seconds); executors
per framework (min-max) before and after; the master's RSS and CPU per second while idle
(heartbeats and usage reports of N agents).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from pymesos_rt.testing.emulated import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="1000")
    parser.add_argument("--frameworks", type=int, default=10)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores\n")
    print(
        "| agents | registered (s) | cluster full (s) | master CPU until full (s) | "
        "executors per framework | master RSS (MiB) | master CPU idle (s/s) | "
        "re-registered after restart (s) | master CPU until then (s) | "
        "executors per framework after | RSS after (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(a) for a in args.agents.split(",")):
        with tempfile.TemporaryDirectory(prefix="pymesos-emulated-") as tmp:
            r = measure(Path(tmp), n, args.frameworks, timeout=900.0, idle_s=args.idle)
        spread = f"{min(r.executors.values())}-{max(r.executors.values())}"
        after = f"{min(r.executors_after.values())}-{max(r.executors_after.values())}"
        print(
            f"| {n:,} | {r.registered_s:.2f} | {r.settled_s:.2f} | {r.master_cpu_fill_s:.2f} | "
            f"{spread} | {r.master_rss_mib:.0f} | {r.master_cpu_per_s:.3f} | "
            f"{r.reregistered_s:.2f} | {r.master_cpu_reregister_s:.2f} | {after} | "
            f"{r.master_rss_after_mib:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
