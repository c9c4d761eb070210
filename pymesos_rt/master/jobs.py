"""The master's record of each framework's job, for the dashboard and ``pymesos-rt logs``: the
bounded summaries frameworks send (``scheduler/summary.py``), the usage history of their
executors, and the frameworks that ended (the history).

Rules kept here:
- What is kept per framework is bounded whatever the number of its tasks: the latest counts of
  at most ``MAX_FUNCTIONS + 1`` functions, the last ``BOXES_KEPT`` ended attempts,
  ``FAILURES_KEPT`` failures and ``OUTPUT_KEPT`` lines of output, and for each executor at most
  ``USAGE_SAMPLES`` usage samples (one per agent report, at most one per ``USAGE_EVERY_S``); of the
  executors that ended, the last ``ENDED_EXECUTORS_KEPT``. (Actors are in ``/state``: see
  ``master/actors.py``.)
- Frameworks that ended stay listed, newest first, up to ``completed_kept`` of them (Mesos's
  ``max_completed_frameworks``, 50 by default); then the oldest goes.
- Times are in the master's clock (the ``now`` of each call). A summary's times are in its
  sender's clock and are moved into ours with the summary's own ``now``.
- Output lines are numbered per framework from 1, so readers can ask for what follows a line.

No I/O, no clock. Imports ``protocol`` only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

BOXES_KEPT = 1000
FAILURES_KEPT = 20
OUTPUT_KEPT = 500
USAGE_SAMPLES = 150
USAGE_EVERY_S = 2.0
ENDED_EXECUTORS_KEPT = 16
COMPLETED_KEPT = 50
MAX_FUNCTIONS = 65  # the framework's own bound (64) and its "other functions" row


@dataclass(frozen=True)
class Line:
    """One numbered line of a task's output."""

    seq: int
    at: float
    task_id: str
    name: str
    stream: str
    text: str


@dataclass
class UsageTrace:
    """An executor's resources and its usage over the last minutes: (time, CPU cores in use,
    memory bytes) samples; the CPU rate comes from two readings of its CPU seconds."""

    executor_id: str
    agent_id: str
    resources: Resources
    started: float
    ended: float | None = None
    state: str = "RUNNING"
    samples: deque[tuple[float, float, float]] = field(
        default_factory=lambda: deque(maxlen=USAGE_SAMPLES)
    )
    cpu_reading: tuple[float, float] | None = None  # (time, cpu seconds) of the last sample


@dataclass
class Job:
    framework_id: str
    name: str
    role: str
    started: float
    ended: float | None = None
    reason: str = ""  # why it ended
    functions: list[m.FunctionCounts] = field(default_factory=list)
    boxes: deque[m.TaskBox] = field(default_factory=lambda: deque(maxlen=BOXES_KEPT))
    failures: deque[m.TaskFailure] = field(default_factory=lambda: deque(maxlen=FAILURES_KEPT))
    output: deque[Line] = field(default_factory=lambda: deque(maxlen=OUTPUT_KEPT))
    output_seq: int = 0
    dropped: int = 0  # events the framework's per-report caps left out
    executors: dict[str, UsageTrace] = field(default_factory=dict)
    updated: float = 0.0  # when the last summary came

    def totals(self) -> dict[str, int]:
        sums = {"queued": 0, "running": 0, "finished": 0, "failed": 0, "cancelled": 0}
        for f in self.functions:
            sums["queued"] += f.queued
            sums["running"] += f.running
            sums["finished"] += f.done
            sums["failed"] += f.failed
            sums["cancelled"] += f.cancelled
        return sums

    def lines_after(self, seq: int) -> list[Line]:
        """Output lines numbered above ``seq`` that are still kept (oldest first)."""
        if not self.output or self.output[-1].seq <= seq:
            return []
        first = self.output[0].seq
        skip = max(0, seq - first + 1)
        return list(self.output)[skip:]


class JobBook:
    def __init__(self, completed_kept: int = COMPLETED_KEPT) -> None:
        self.active: dict[str, Job] = {}
        self.finished: deque[Job] = deque(maxlen=completed_kept)  # newest last

    def get(self, framework_id: str) -> Job | None:
        job = self.active.get(framework_id)
        if job is not None:
            return job
        for old in reversed(self.finished):
            if old.framework_id == framework_id:
                return old
        return None

    # --- inputs ------------------------------------------------------------------------------
    def started(self, framework_id: str, name: str, role: str, now: float) -> None:
        """A framework subscribed (again: then nothing changes)."""
        if framework_id not in self.active:
            self.active[framework_id] = Job(framework_id, name, role, now)

    def summary(self, framework_id: str, msg: m.JobSummary, now: float) -> dict[str, int] | None:
        """Take a framework's summary; returns its task totals (None: no such framework)."""
        job = self.active.get(framework_id)
        if job is None:
            return None
        shift = now - msg.now  # the sender's clock to ours
        job.functions = list(msg.functions[:MAX_FUNCTIONS])
        for box in msg.boxes:
            job.boxes.append(
                m.TaskBox(box.executor_id, box.name, box.start + shift, box.end + shift, box.ok)
            )
        for fail in msg.failures:
            job.failures.append(
                m.TaskFailure(
                    fail.at + shift,
                    fail.task_id,
                    fail.name,
                    fail.executor_id,
                    fail.error,
                    fail.traceback,
                )
            )
        for out in msg.output:
            job.output_seq += 1
            job.output.append(
                Line(job.output_seq, out.at + shift, out.task_id, out.name, out.stream, out.text)
            )
        job.dropped += msg.dropped
        job.updated = now
        return job.totals()

    def usage(
        self,
        framework_id: str,
        executor_id: str,
        agent_id: str,
        resources: Resources,
        usage: dict[str, float],
        now: float,
    ) -> None:
        """An agent's latest reading of one executor's usage (kept every ``USAGE_EVERY_S``)."""
        job = self.active.get(framework_id)
        if job is None:
            return
        trace = job.executors.get(executor_id)
        if trace is None:
            trace = job.executors[executor_id] = UsageTrace(executor_id, agent_id, resources, now)
        if trace.samples and now - trace.samples[-1][0] < USAGE_EVERY_S:
            return
        cpu = 0.0
        seconds = usage.get("cpu_seconds")
        if seconds is not None:
            if trace.cpu_reading is not None and now > trace.cpu_reading[0]:
                then, before = trace.cpu_reading
                cpu = max(0.0, (seconds - before) / (now - then))
            trace.cpu_reading = (now, seconds)
        trace.samples.append((now, round(cpu, 4), float(usage.get("memory", 0.0))))

    def executor_ended(self, framework_id: str, executor_id: str, state: str, now: float) -> None:
        job = self.active.get(framework_id)
        trace = job.executors.get(executor_id) if job is not None else None
        if job is None or trace is None or trace.ended is not None:
            return
        trace.ended, trace.state = now, state
        ended = [t for t in job.executors.values() if t.ended is not None]
        if len(ended) > ENDED_EXECUTORS_KEPT:
            oldest = min(ended, key=lambda t: t.ended or 0.0)
            del job.executors[oldest.executor_id]

    def ended(self, framework_id: str, now: float, reason: str) -> None:
        """The framework is gone for good: its job moves to the history."""
        job = self.active.pop(framework_id, None)
        if job is None:
            return
        job.ended, job.reason = now, reason
        for trace in job.executors.values():
            if trace.ended is None:
                trace.ended, trace.state = now, "KILLED"
        self.finished.append(job)

    def validate(self) -> None:
        assert self.finished.maxlen is not None and len(self.finished) <= self.finished.maxlen
        for fw_id, job in self.active.items():
            assert job.ended is None and job.framework_id == fw_id
        for job in [*self.active.values(), *self.finished]:
            assert job in self.active.values() or job.ended is not None
            assert len(job.functions) <= MAX_FUNCTIONS
            assert len(job.boxes) <= BOXES_KEPT and len(job.failures) <= FAILURES_KEPT
            assert len(job.output) <= OUTPUT_KEPT
            seqs = [line.seq for line in job.output]
            assert seqs == sorted(seqs) and (not seqs or seqs[-1] == job.output_seq)
            ended = [t for t in job.executors.values() if t.ended is not None]
            assert len(ended) <= ENDED_EXECUTORS_KEPT
            for trace in job.executors.values():
                assert len(trace.samples) <= USAGE_SAMPLES
