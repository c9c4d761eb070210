"""What ``pymesos-rt status`` and ``pymesos-rt logs`` print about jobs, from the master's
``/jobs`` endpoints (the dashboard's data): counts per function, and a framework's output and
failures, once or following as they come.

Imports nothing of the package; the CLI (``cli.py``) wires it to flags.
"""

from __future__ import annotations

import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO

from pymesos_rt.logs import printable

FOLLOW_EVERY_S = 1.0


class NotFound(LookupError):
    """No framework of that id or name is known to the master."""


def fetch(base: str, path: str, tls: ssl.SSLContext | None = None) -> Any:
    with urllib.request.urlopen(base + path, timeout=10, context=tls) as resp:
        return json.load(resp)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    return f"{value:.1f}s" if value < 60 else f"{value / 60:.1f}min"


def render_functions(job: dict[str, Any]) -> list[str]:
    """One job's counts per function, as the dashboard shows them."""
    t = job["totals"]
    state = job["state"] if job["state"] == "finished" else f"share {job['share']:.3f}"
    head = (
        f"{job['name'][:40]} ({job['id']}, {state}): {t['finished']} done, {t['failed']} failed, "
        f"{t['running']} running, {t['queued']} queued"
    )
    if t.get("cancelled"):
        head += f", {t['cancelled']} cancelled"
    lines = [
        head,
        f"  {'FUNCTION':32} {'QUEUED':>8} {'RUNNING':>8} {'DONE':>8} {'FAILED':>8} "
        f"{'CANCELLED':>9} {'MEAN':>8}",
    ]
    for f in sorted(job["functions"], key=lambda f: f["name"]):
        lines.append(
            f"  {f['name'][:32]:32} {f['queued']:8d} {f['running']:8d} {f['done']:8d} "
            f"{f['failed']:8d} {f['cancelled']:9d} {_seconds(f['mean_seconds']):>8}"
        )
    return lines


def render_jobs(jobs: dict[str, Any], finished_shown: int = 5) -> str:
    lines = ["", "JOBS"]
    if not jobs["active"]:
        lines.append("  no framework is running")
    for job in jobs["active"]:
        lines += render_functions(job)
    if jobs["finished"]:
        lines += ["", f"FINISHED (the last {jobs['finished_kept']} are kept)"]
        for job in jobs["finished"][:finished_shown]:
            t = job["totals"]
            lines.append(
                f"  {job['name'][:32]:32} {job['id']:20} ended {_seconds(-job['ended'])} ago: "
                f"{t['finished']} done, {t['failed']} failed ({job['reason']})"
            )
    return "\n".join(lines)


def find_framework(base: str, which: str, tls: ssl.SSLContext | None = None) -> str:
    """The id of the framework named or numbered ``which`` (a running one before a finished
    one, the newest first)."""
    jobs = fetch(base, "/jobs", tls)
    for job in [*reversed(jobs["active"]), *jobs["finished"]]:
        if which in (job["id"], job["name"]):
            return str(job["id"])
    names = ", ".join(f"{j['name']} ({j['id']})" for j in [*jobs["active"], *jobs["finished"]])
    raise NotFound(f"no framework {which!r} here; known: {names or 'none'}")


def _line(out: dict[str, Any]) -> str:
    return f"({out['name']} {out['task_id']}) {out['text']}"


def _failure(f: dict[str, Any]) -> list[str]:
    where = f" on {f['executor_id']}" if f["executor_id"] else ""
    lines = [f"FAILED {f['name']} {f['task_id']}{where}: {f['error']}"]
    lines += ["  " + row for row in f["traceback"].rstrip().splitlines()]
    return lines


def print_logs(
    base: str,
    framework_id: str,
    follow: bool,
    out: TextIO = sys.stdout,
    tls: ssl.SSLContext | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> None:
    """A framework's output and failures; with ``follow``, then what comes, until it ends."""
    seq = 0
    seen: set[str] = set()  # a task fails for good once
    path = "/jobs/" + urllib.parse.quote(framework_id, safe="")
    while True:
        job = fetch(base, f"{path}?since={seq}", tls)
        lines = [_line(o) for o in job["output"]]
        for f in job["failures"]:
            if f["task_id"] not in seen:
                seen.add(f["task_id"])
                lines += _failure(f)
        if job["output"] and job["output"][0]["seq"] > seq + 1:
            lines.insert(0, f"... ({job['output'][0]['seq'] - seq - 1} earlier lines not kept)")
        if lines:
            out.write("\n".join(printable(line) for line in lines) + "\n")
            out.flush()
        seq = job["output_seq"]
        if not follow or job["state"] == "finished":
            return
        pause(FOLLOW_EVERY_S)


def watch(render: Callable[[], str], interval: float, out: TextIO = sys.stdout) -> None:
    """Redraw ``render()`` every ``interval`` seconds until interrupted (Ctrl-C)."""
    clear = "\x1b[H\x1b[2J" if out.isatty() else ""
    while True:
        text = render()
        stamp = time.strftime("%H:%M:%S")
        out.write(f"{clear}{text}\n\n(updated {stamp}, every {interval:g}s; Ctrl-C stops)\n")
        out.flush()
        time.sleep(interval)
