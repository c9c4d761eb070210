"""Compare pymesos_rt with Ray and Dask distributed on the same workloads; print a Markdown table.

Run ``python benchmarks/bench.py [--quick] [--only NAME,...] [--systems pymesos_rt,ray,dask]
[--json PATH]``. Each system is measured in a fresh subprocess of this script (``--worker
SYSTEM``) that reports JSON lines on its stdout, so the runtimes never share a process; Ray's
runs inside a network namespace that has only loopback when ``unshare`` allows it. A system
that is not importable with this interpreter is skipped with a note; a workload that fails shows
``error: ...`` in its cell. Progress goes to stderr, the table to stdout.

Workloads: init, memory, latency, noop_1k, noop_10k, square_10k, results_1mib, big_array, chain,
wordcount, cpu_bound, actor_*, num_returns, streaming (see ``bench_workloads``, ``bench_actors``,
``bench_rayapi``).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import logging
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bench_tasks
from bench_systems import SYSTEMS
from bench_workloads import WORKLOAD_NAMES, Context, Sizes, run_worker, workloads

log = logging.getLogger("bench")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NETNS_PREFIX = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


@dataclass
class SystemRun:
    """What the parent learned about one system from its worker subprocess(es)."""

    name: str
    status: str = "not run"  # ok | skipped | failed
    version: str = ""
    notes: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def _csv(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})"
        )
    return items


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--only",
        type=lambda v: _csv(v, WORKLOAD_NAMES, "workload"),
        default=list(WORKLOAD_NAMES),
        help=f"workloads: {','.join(WORKLOAD_NAMES)}",
    )
    p.add_argument(
        "--systems",
        type=lambda v: _csv(v, SYSTEMS, "system"),
        default=list(SYSTEMS),
        help=f"systems: {','.join(SYSTEMS)}",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write raw numbers here")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds a worker may go silent before it is killed (300; 120 quick)",
    )
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1, help=argparse.SUPPRESS)
    p.add_argument("--no-netns", action="store_true", help="run Ray without a loopback-only netns")
    p.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    p.add_argument("--spin-iterations", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _netns_available() -> tuple[bool, str]:
    try:
        probe = subprocess.run(
            [*NETNS_PREFIX, "true"], check=False, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return probe.returncode == 0, (probe.stderr or probe.stdout).strip()


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    """Kill the worker we started, its process group, and every descendant it has left."""
    descendants: list[Any] = []
    try:
        import psutil

        descendants = psutil.Process(proc.pid).children(recursive=True)
    except Exception:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for child in descendants:
        with contextlib.suppress(Exception):
            child.kill()
    proc.wait()


def _spawn(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[list[dict[str, Any]], str]:
    """Run one worker; return its events and, if it did not finish cleanly, why."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True, cwd=REPO
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    events: list[dict[str, Any]] = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            _kill_tree(proc)
            return events, f"no progress for {timeout:g} s; killed"
        if line is None:
            break
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            log.warning("worker said (not JSON): %s", line.rstrip())
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    rc = proc.wait()
    if events and events[-1]["event"] in ("done", "skipped", "fatal"):
        return events, ""
    return events, f"worker exited with code {rc}"


def measure_system(
    system: str, args: argparse.Namespace, spin_iterations: int, use_netns: bool
) -> SystemRun:
    """Measure the selected workloads on ``system``, restarting its worker after a crash/hang."""
    run = SystemRun(system)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    timeout = args.timeout or (120.0 if args.quick else 300.0)
    remaining = [n for n in WORKLOAD_NAMES if n in args.only]
    import_s: float | None = None
    while remaining:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            system,
            "--only",
            ",".join(remaining),
            "--spin-iterations",
            str(spin_iterations),
            "--num-cpus",
            str(args.num_cpus),
        ]
        if args.quick:
            cmd.append("--quick")
        if use_netns:
            cmd = [*NETNS_PREFIX, *cmd]
        log.info("%s: measuring %s", system, ",".join(remaining))
        events, problem = _spawn(cmd, env, timeout)
        current: str | None = None
        for ev in events:
            kind, name = str(ev["event"]), str(ev.get("workload", ""))
            if kind == "skipped":
                run.status = "skipped"
                run.notes.append(ev["reason"])
                return run
            if kind == "meta":
                run.version = ev["version"]
                import_s = ev["import_s"]
                run.notes.extend(ev.get("notes", []))
            elif kind == "start":
                current = name
            elif kind in ("result", "error") and name not in run.results:
                run.results[name] = ev["data"] if kind == "result" else {"error": ev["error"]}
            elif kind == "fatal":
                problem = ev["error"]
                current = "init"
        remaining = [n for n in remaining if n not in run.results]
        if not remaining:
            break
        if current in (None, "init"):  # nothing can run without a started system
            first_start = "error" in run.results.get("init", {"error": ""})
            for name in remaining:
                why = "init failed" if first_start else problem
                run.results[name] = {"error": f"no runtime ({why})"}
            if first_start:
                run.results["init"] = {"error": problem, "import_s": import_s}
            run.status = "failed" if first_start else "partly failed"
            return run
        culprit = current if current in remaining else remaining[0]
        run.results[culprit] = {"error": problem}
        remaining.remove(culprit)
        log.warning("%s: %s failed (%s); restarting for the rest", system, culprit, problem)
    run.status = "ok"
    return run


def _fmt(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(result: dict[str, Any] | None, key: str) -> tuple[str, float | None]:
    if result is None:
        return "-", None
    value = result.get(key)
    if "error" in result and not isinstance(value, int | float):
        text = str(result["error"]).replace("|", "\\|").replace("\n", " ")
        return f"error: {text[:100]}", None
    if not isinstance(value, int | float):
        return "-", None
    return _fmt(float(value)), float(value)


def render_table(runs: list[SystemRun], only: list[str], sizes: Sizes) -> str:
    shown = [r for r in runs if r.status != "skipped"]
    ours = next((r for r in shown if r.name == "pymesos_rt"), None)
    peers = [r for r in shown if r.name != "pymesos_rt"] if ours else []
    header = ["workload", "better", *(r.name for r in shown), *(f"ours/{p.name}" for p in peers)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload in workloads(sizes):
        if workload.name not in only:
            continue
        for metric in workload.metrics:
            cells = [metric.label, "higher" if metric.higher_is_better else "lower"]
            values: dict[str, float | None] = {}
            for r in shown:
                text, values[r.name] = _cell(r.results.get(workload.name), metric.key)
                cells.append(text)
            for p in peers:
                mine, theirs = values.get("pymesos_rt"), values.get(p.name)
                cells.append(f"{mine / theirs:.2f}x" if mine is not None and theirs else "-")
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render_notes(runs: list[SystemRun], meta: dict[str, Any]) -> str:
    notes = [
        f"- machine: {meta['cpus']} CPUs, Python {meta['python']} ({meta['executable']}); "
        f"every system started with num_cpus={meta['num_cpus']}"
        + (" (--quick sizes)" if meta["quick"] else ""),
        "- memory: summed USS (unique set size) of the driver and all its descendant processes "
        "after init, warm-up and a short idle pause; PSS and RSS sums are in --json",
        "- pymesos_rt's bytecode is compiled before the run, as pip does for Ray's and Dask's",
        "- ratios are ours/peer: above 1 is better for 'higher' rows, worse for 'lower' rows",
    ]
    if any(r.name == "dask" and r.status != "skipped" for r in runs):
        notes.append(
            "- Dask: LocalCluster(processes=True, threads_per_worker=1, one worker per CPU, no "
            "dashboard); batches use client.map, every task pure=False, put is "
            "scatter(hash=False)"
        )
    if meta["spin_iterations"] > 1:
        notes.append(
            f"- CPU-bound tasks spin {meta['spin_iterations']:,} iterations (calibrated here to "
            f"{meta['cpu_task_s']} s); ideal time is ceil(tasks/CPUs) x task time"
        )
    for r in runs:
        label = f"{r.name} {r.version}".strip()
        if r.status == "skipped":
            notes.append(f"- {r.name}: skipped ({'; '.join(r.notes)})")
        elif r.notes:
            notes.append(f"- {label}: {'; '.join(r.notes)}")
        else:
            notes.append(f"- {label}: {r.status}")
        big = r.results.get("big_array", {})
        if big.get("kind") == "bytes":
            notes.append(f"- {r.name}: numpy missing, big_array used a bytes object")
    return "\n".join(notes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [%(process)d] %(message)s",
    )
    log.setLevel(logging.INFO)  # our progress; the systems' own loggers stay at WARNING
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.worker:
        ctx = Context(sizes, args.num_cpus, args.spin_iterations or 1)
        return run_worker(args.worker, args.only, ctx)

    # Ray's and Dask's wheels were byte-compiled when pip installed them; an editable checkout
    # under PYTHONDONTWRITEBYTECODE never is, and would pay compiling in its import and init rows
    compileall.compile_dir(REPO / "pymesos_rt", quiet=1)
    spin_iterations = 1
    if "cpu_bound" in args.only:
        spin_iterations = bench_tasks.calibrate_spin(sizes.cpu_task_s)
        log.info("calibrated spin: %d iterations ~ %.2f s", spin_iterations, sizes.cpu_task_s)
    runs: list[SystemRun] = []
    for system in args.systems:
        use_netns = False
        netns_note = ""
        if system == "ray" and not args.no_netns:
            use_netns, why = _netns_available()
            netns_note = (
                "ran in a loopback-only network namespace (unshare -n)"
                if use_netns
                else f"unshare -n failed ({why or 'unknown'}): ran without a netns"
            )
        elif system == "ray":
            netns_note = "ran without a netns (--no-netns)"
        started = time.perf_counter()
        run = measure_system(system, args, spin_iterations, use_netns)
        if netns_note and run.status != "skipped":
            run.notes.insert(0, netns_note)
        log.info("%s: %s in %.1f s", system, run.status, time.perf_counter() - started)
        runs.append(run)

    meta = {
        "cpus": os.cpu_count(),
        "num_cpus": args.num_cpus,
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "quick": args.quick,
        "spin_iterations": spin_iterations,
        "cpu_task_s": sizes.cpu_task_s,
        "memory_metric": "sum of USS over the driver and its descendants (MiB)",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    print(render_table(runs, args.only, sizes))
    print()
    print(render_notes(runs, meta))
    if args.json:
        payload = {
            "meta": meta,
            "sizes": asdict(sizes),
            "workloads": args.only,
            "systems": {r.name: asdict(r) for r in runs},
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        log.info("raw numbers written to %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
