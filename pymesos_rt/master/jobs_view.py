"""The JSON-able views of the master's jobs (``jobs.py``) served at ``/jobs`` (every framework,
running and finished, with its counts per function) and ``/jobs/<framework id>`` (one job:
task stream, failures, output, executors with their usage over the last minutes).

Times are seconds relative to the response (negative: in the past), so no reader needs the
master's clock. Sizes are bounded by ``jobs.py``'s bounds, not by the number of tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymesos_rt.master.jobs import Job, UsageTrace
from pymesos_rt.protocol.resources import MEM

if TYPE_CHECKING:
    from pymesos_rt.master.state import MasterState


def _rel(t: float | None, now: float) -> float | None:
    return None if t is None else round(t - now, 3)


def job_row(state: MasterState, job: Job, now: float) -> dict[str, Any]:
    fw = state.frameworks.get(job.framework_id) if job.ended is None else None
    functions = []
    for f in job.functions:
        functions.append(
            {
                "name": f.name,
                "queued": f.queued,
                "running": f.running,
                "done": f.done,
                "failed": f.failed,
                "cancelled": f.cancelled,
                "mean_seconds": round(f.seconds / f.runs, 6) if f.runs else None,
            }
        )
    return {
        "id": job.framework_id,
        "name": job.name,
        "role": job.role,
        "state": "finished" if job.ended is not None else "running",
        "started": _rel(job.started, now),
        "ended": _rel(job.ended, now),
        "reason": job.reason,
        "connected": fw is not None and fw.conn is not None,
        "share": round(state.allocator.share(job.framework_id), 6) if fw is not None else 0.0,
        "executors": len(fw.executors) if fw is not None else 0,
        "totals": job.totals(),
        "functions": functions,
    }


def jobs_overview(state: MasterState, now: float) -> dict[str, Any]:
    """Every running framework's job, and the finished ones (newest first)."""
    book = state.jobs
    return {
        "active": [job_row(state, job, now) for job in book.active.values()],
        "finished": [job_row(state, job, now) for job in reversed(book.finished)],
        "finished_kept": book.finished.maxlen,
    }


def _trace(trace: UsageTrace | None, now: float) -> dict[str, Any]:
    if trace is None:
        return {"samples": [], "cpu": None, "memory": None}
    samples = [[_rel(t, now), cpu, mem] for t, cpu, mem in trace.samples]
    last = trace.samples[-1] if trace.samples else None
    return {
        "samples": samples,
        "cpu": last[1] if last else None,
        "memory": last[2] if last else None,
    }


def job_detail(
    state: MasterState, framework_id: str, now: float, since: int = 0
) -> dict[str, Any] | None:
    """One job; ``since``: only output lines numbered above it (``output_seq`` is the last)."""
    job = state.jobs.get(framework_id)
    if job is None:
        return None
    executors: list[dict[str, Any]] = []
    live = state.frameworks.get(framework_id) if job.ended is None else None
    seen: set[str] = set()
    for eid in sorted(live.executors) if live is not None else []:
        entry = state.executors.get((framework_id, eid))
        if entry is None:
            continue
        seen.add(eid)
        agent = state.agents.get(entry.agent_id)
        executors.append(
            {
                "id": eid,
                "agent_id": entry.agent_id,
                "hostname": agent.hostname if agent is not None else "",
                "resources": entry.resources.to_dict(),
                "memory_limit": entry.resources.get(MEM) * 2**20,
                "state": str(entry.state),
                "ended": None,
                **_trace(job.executors.get(eid), now),
            }
        )
    for trace in job.executors.values():
        if trace.executor_id in seen:
            continue
        agent = state.agents.get(trace.agent_id)
        executors.append(
            {
                "id": trace.executor_id,
                "agent_id": trace.agent_id,
                "hostname": agent.hostname if agent is not None else "",
                "resources": trace.resources.to_dict(),
                "memory_limit": trace.resources.get(MEM) * 2**20,
                "state": trace.state,
                "ended": _rel(trace.ended, now),
                **_trace(trace, now),
            }
        )
    return {
        **job_row(state, job, now),
        "boxes": [
            [b.executor_id, b.name, _rel(b.start, now), _rel(b.end, now), b.ok] for b in job.boxes
        ],
        "failures": [
            {
                "at": _rel(f.at, now),
                "task_id": f.task_id,
                "name": f.name,
                "executor_id": f.executor_id,
                "error": f.error,
                "traceback": f.traceback,
            }
            for f in job.failures
        ],
        "output": [
            {
                "seq": line.seq,
                "at": _rel(line.at, now),
                "task_id": line.task_id,
                "name": line.name,
                "stream": line.stream,
                "text": line.text,
            }
            for line in job.lines_after(since)
        ],
        "output_seq": job.output_seq,
        "dropped": job.dropped,
        "executor_list": executors,
    }
