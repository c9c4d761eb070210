"""``wait`` on many refs, ours beside Ray's in the same run: N refs of ``put`` values (all
ready), ``wait(refs, num_returns=1)`` and ``wait(refs, num_returns=N)``; the median of five
calls each, and the growth exponent over N.

    python benchmarks/wait.py                               # Ray from /work/benchvenv if there
    python benchmarks/wait.py --ray-python /path/to/python --sizes 1000,100000

Each system runs in a subprocess of its own; Ray's inside a loopback-only network namespace
(``unshare -n``) when that works, as in ``bench.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NETNS_PREFIX = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
DEFAULT_RAY_PYTHON = "/work/benchvenv/bin/python"


def worker(system: str, sizes: list[int]) -> None:
    if system == "ray":
        import ray as api

        api.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    else:
        import pymesos_rt as api  # type: ignore[no-redef]

        api.init(num_cpus=2)
    for n in sizes:
        refs = [api.put(i) for i in range(n)]
        api.get(refs[-1])
        time.sleep(1.0)  # let the runtime settle after n puts
        row = {"n": n}
        for key, num in (("one", 1), ("all", n)):
            times = []
            for _ in range(5):
                start = time.perf_counter()
                ready, rest = api.wait(refs, num_returns=num)
                times.append(time.perf_counter() - start)
                assert len(ready) == num and len(rest) == n - num
            row[key] = statistics.median(times)
        print(json.dumps(row), flush=True)
        del refs, ready, rest
    api.shutdown()


def run(system: str, python: str, sizes: list[int]) -> dict[int, dict[str, float]]:
    cmd = [python, str(Path(__file__).resolve()), "--worker", system, "--sizes", _csv(sizes)]
    if system == "ray":
        probe = subprocess.run([*NETNS_PREFIX, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            cmd = [*NETNS_PREFIX, *cmd]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, check=False, env=env
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {row["n"]: row for row in rows}


def _csv(sizes: list[int]) -> str:
    return ",".join(map(str, sizes))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.2f}"


def _growth(points: list[tuple[int, float]]) -> str:
    if len(points) < 2:
        return ""
    (n0, t0), (n1, t1) = points[0], points[-1]
    return f"N^{math.log(t1 / t0) / math.log(n1 / n0):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--ray-python", default=DEFAULT_RAY_PYTHON)
    parser.add_argument("--worker", default="")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        worker(args.worker, sizes)
        return
    load = os.getloadavg()
    ours = run("pymesos_rt", sys.executable, sizes)
    ray = run("ray", args.ray_python, sizes) if Path(args.ray_python).exists() else {}
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores\n")
    print("| wait on N ready refs | " + " | ".join(f"N={n:,}" for n in sizes) + " | growth |")
    print("|---|" + "---|" * len(sizes) + "---|")
    for key, label in (("one", "num_returns=1"), ("all", "num_returns=N")):
        for name, rows in (("pymesos_rt", ours), ("ray", ray)):
            cells = [rows.get(n, {}).get(key) for n in sizes]
            points = [(n, c) for n, c in zip(sizes, cells, strict=True) if c]
            shown = " | ".join(_ms(c) for c in cells)
            print(f"| {name} {label} (ms) | {shown} | {_growth(points)} |")
        ratio = [
            f"{ours[n][key] / ray[n][key]:.2f}x" if n in ours and n in ray else "-" for n in sizes
        ]
        print(f"| ours/ray {label} | " + " | ".join(ratio) + " | |")


if __name__ == "__main__":
    main()
