"""What a framework tells the master about its tasks, for the dashboard: a bounded summary.

Rules kept here:
- Counts per function follow every task state change (``Task.move`` calls :meth:`moved`), at
  O(1) each: WAITING and READY count as queued, DISPATCHED as running, and the three terminal
  states as done, failed and cancelled. At most ``MAX_FUNCTIONS`` names are counted apart; the
  tasks of any further function count under ``OTHER``.
- Events (ended attempts for the task stream, failures, lines of output) wait in buffers until
  the next report. Each buffer keeps only its most recent ``*_PER_REPORT`` entries, and every
  entry is cut to a fixed size; what the caps leave out is counted in ``dropped``.
- :meth:`report` returns a summary only when something changed since the last one (or after
  :meth:`resend`, e.g. when a new master leads), so an idle framework sends nothing.

So one summary holds at most ``MAX_FUNCTIONS + 1`` counts, ``BOXES_PER_REPORT`` boxes,
``FAILURES_PER_REPORT`` failures of at most ``ERROR_CHARS + TRACEBACK_CHARS`` characters and
``OUTPUT_PER_REPORT`` lines of at most ``LINE_CHARS`` characters, whatever the number of tasks:
the master's cost per framework does not grow with the job.

No I/O and no clock: callers pass ``now`` (any clock; the summary says which reading it was
sent at, and the master rebases the times into its own clock).
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.states import TaskState

MAX_FUNCTIONS = 64
OTHER = "(other functions)"
BOXES_PER_REPORT = 500
FAILURES_PER_REPORT = 10
OUTPUT_PER_REPORT = 200
ERROR_CHARS = 300
TRACEBACK_CHARS = 4096
LINE_CHARS = 500

E = TypeVar("E", m.TaskFailure, m.OutputLine)
QUEUED, RUNNING, DONE, FAILED, CANCELLED, RUNS, SECONDS = range(7)
# keyed by the members' ids: hashing an enum member runs Python code, and this is per task
_BUCKET = {
    id(TaskState.WAITING): QUEUED,
    id(TaskState.READY): QUEUED,
    id(TaskState.DISPATCHED): RUNNING,
    id(TaskState.FINISHED): DONE,
    id(TaskState.FAILED): FAILED,
    id(TaskState.CANCELLED): CANCELLED,
}


def error_line(traceback: str, fallback: str = "") -> str:
    """The exception line of a formatted traceback (its last non-empty line)."""
    for line in reversed(traceback.splitlines()):
        if line.strip():
            return line.strip()[:ERROR_CHARS]
    return fallback[:ERROR_CHARS]


def _cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, keeping its end (where a traceback says most)."""
    if len(text) <= limit:
        return text
    return "...\n" + text[-(limit - 4) :]


class TaskBook:
    def __init__(self) -> None:
        # name -> [queued, running, done, failed, cancelled, runs, seconds run]
        self._counts: dict[str, list[float]] = {}
        # (executor, name, start, end, ok): made into TaskBoxes when reported
        self._boxes: deque[tuple[str, str, float, float, bool]] = deque(maxlen=BOXES_PER_REPORT)
        self._failures: deque[m.TaskFailure] = deque(maxlen=FAILURES_PER_REPORT)
        self._output: deque[m.OutputLine] = deque(maxlen=OUTPUT_PER_REPORT)
        self._dropped = 0
        self._changed = True

    # --- counts ------------------------------------------------------------------------------
    def _row(self, name: str) -> list[float]:
        row = self._counts.get(name)
        if row is None:
            if len(self._counts) >= MAX_FUNCTIONS:
                name = OTHER
                row = self._counts.get(OTHER)
            if row is None:
                row = self._counts[name] = [0, 0, 0, 0, 0, 0, 0.0]
        return row

    def submitted(self, name: str) -> None:
        (self._counts.get(name) or self._row(name))[QUEUED] += 1
        self._changed = True

    def moved(self, name: str, old: TaskState, new: TaskState) -> None:
        before, after = _BUCKET[id(old)], _BUCKET[id(new)]
        if before != after:
            row = self._counts.get(name) or self._row(name)
            row[before] -= 1
            row[after] += 1
            self._changed = True

    def totals(self) -> tuple[int, int, int, int, int]:
        """(queued, running, done, failed, cancelled) over all functions."""
        sums = [0, 0, 0, 0, 0]
        for row in self._counts.values():
            for i in range(5):
                sums[i] += int(row[i])
        return sums[0], sums[1], sums[2], sums[3], sums[4]

    # --- events ------------------------------------------------------------------------------
    def ended(self, executor_id: str, name: str, duration: float, ok: bool, now: float) -> None:
        """An attempt ended on ``executor_id`` after running ``duration`` seconds."""
        row = self._counts.get(name) or self._row(name)
        row[RUNS] += 1
        row[SECONDS] += duration
        if len(self._boxes) == BOXES_PER_REPORT:
            self._dropped += 1  # the oldest box goes
        self._boxes.append((executor_id, name, now - duration, now, ok))
        self._changed = True

    def failed(
        self, task_id: str, name: str, executor_id: str, error: str, traceback: str, now: float
    ) -> None:
        """A task failed for good (retries spent): its exception line and traceback."""
        failure = m.TaskFailure(
            now,
            task_id,
            name,
            executor_id,
            error_line(traceback, error),
            _cut(traceback, TRACEBACK_CHARS),
        )
        self._push(self._failures, failure)

    def output(self, task_id: str, name: str, stream: str, text: str, now: float) -> None:
        for line in text.splitlines():
            self._push(self._output, m.OutputLine(now, task_id, name, stream, line[:LINE_CHARS]))

    def _push(self, buffer: deque[E], item: E) -> None:  # failures and output lines
        if len(buffer) == buffer.maxlen:
            self._dropped += 1  # the oldest entry goes
        buffer.append(item)
        self._changed = True

    # --- reporting ---------------------------------------------------------------------------
    def resend(self) -> None:
        """Report at the next chance even if nothing changed (a new master knows nothing)."""
        self._changed = True

    def report(self, now: float) -> m.JobSummary | None:
        if not self._changed:
            return None
        functions = [
            m.FunctionCounts(
                name,
                int(queued),
                int(running),
                int(done),
                int(failed),
                int(cancelled),
                int(runs),
                round(seconds, 6),
            )
            for name, (queued, running, done, failed, cancelled, runs, seconds) in (
                self._counts.items()
            )
        ]
        summary = m.JobSummary(
            now,
            functions,
            [m.TaskBox(*box) for box in self._boxes],
            list(self._failures),
            list(self._output),
            self._dropped,
        )
        self._boxes.clear()
        self._failures.clear()
        self._output.clear()
        self._dropped = 0
        self._changed = False
        return summary

    def validate(self, live_tasks: int | None = None) -> None:
        """Invariants: counts are never negative, names stay within bounds, buffers within
        their caps; with ``live_tasks``, queued + running equals the core's unfinished tasks."""
        assert len(self._counts) <= MAX_FUNCTIONS + 1, len(self._counts)
        assert OTHER in self._counts or len(self._counts) <= MAX_FUNCTIONS
        for name, row in self._counts.items():
            assert len(row) == 7 and all(n >= 0 for n in row), (name, row)
        assert len(self._boxes) <= BOXES_PER_REPORT
        assert len(self._failures) <= FAILURES_PER_REPORT
        assert len(self._output) <= OUTPUT_PER_REPORT
        if live_tasks is not None:
            queued, running, *_ = self.totals()
            assert queued + running == live_tasks, (queued, running, live_tasks)
