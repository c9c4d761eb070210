"""The framework's task summary (``scheduler/summary.py``), fed through the scheduler core:
counts per function follow every state change, events wait for the next report within their
caps, and nothing is reported when nothing changed."""

from __future__ import annotations

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import TaskState
from pymesos_rt.scheduler import summary
from pymesos_rt.scheduler.records import Task
from pymesos_rt.scheduler.state import SchedulerState
from pymesos_rt.scheduler.summary import TaskBook, error_line

SHAPE = Resources(cpus=1, mem=1024)
TB = 'Traceback (most recent call last):\n  File "job.py", line 3, in f\nValueError: bad\n'


def task(tid, fn="f", deps=(), max_retries=3, retry_exceptions=False) -> Task:
    return Task(tid, fn, f"{fn}-id", SHAPE, list(deps), max_retries, retry_exceptions)


def running(s: SchedulerState, *tasks: Task, now: float = 0.0) -> None:
    """Submit ``tasks``; one executor takes them (the first runs, the rest are queued)."""
    for t in tasks:
        s.submit(t, now)
    s.offers([m.Offer("O1", "fw1", "ag1", "h", Resources(cpus=1, mem=1024))], now)
    s.executor_connected("p-e1", now)


def counts(report: m.JobSummary | None) -> dict[str, tuple[int, ...]]:
    assert report is not None
    return {
        f.name: (f.queued, f.running, f.done, f.failed, f.cancelled, f.runs)
        for f in report.functions
    }


def test_counts_follow_each_task_through_its_states():
    s = SchedulerState("p")
    t1, t2, t3 = task("t1"), task("t2", fn="g"), task("t3", deps=["t1"])
    running(s, t1, t2, t3)
    s.book.validate(len(s.tasks))
    # t1 runs; t2 waits for a slot; t3 waits for t1's result
    assert counts(s.book.report(1.0)) == {"f": (1, 1, 0, 0, 0, 0), "g": (1, 0, 0, 0, 0, 0)}
    assert s.book.report(1.5) is None  # nothing changed
    s.task_done("p-e1", "t1", 0.25, 2.0)  # then t2 runs, then t3
    assert s.tasks["t2"].state is TaskState.DISPATCHED
    s.task_done("p-e1", "t2", 0.1, 3.0)
    s.task_failed("p-e1", "t3", b"err", 0.5, 3.5)
    s.book.validate(len(s.tasks))
    report = s.book.report(3.5)
    assert counts(report) == {"f": (0, 0, 1, 1, 0, 2), "g": (0, 0, 1, 0, 0, 1)}
    assert report is not None
    assert [(b.name, b.start, b.end, b.ok) for b in report.boxes] == [
        ("f", 1.75, 2.0, True),
        ("g", 2.9, 3.0, True),
        ("f", 3.0, 3.5, False),
    ]
    # an exception a task raised is listed by the driver, which has its traceback
    assert report.failures == []
    assert report.functions[0].seconds == 0.75 and report.now == 3.5
    assert s.book.totals() == (0, 0, 2, 1, 0)


def test_retried_attempts_go_back_to_queued_and_cancelled_tasks_count_apart():
    s = SchedulerState("p")
    t1 = task("t1", retry_exceptions=True, max_retries=1)
    t2 = task("t2")
    running(s, t1, t2)
    s.task_failed("p-e1", "t1", b"err", 0.1, 1.0)  # retried: queued again
    s.cancel("t2", 1.0)
    s.book.validate(len(s.tasks))
    report = s.book.report(1.0)
    # t1 is queued again (behind t2, which ran next and was cancelled while running)
    assert counts(report)["f"] == (1, 0, 0, 0, 1, 1)
    assert report is not None and report.failures == [] and not report.boxes[0].ok


def test_failures_the_core_decides_are_listed_with_their_message_not_their_dependents():
    s = SchedulerState("p")
    running(s, task("t1", max_retries=0))
    s.submit(task("t2", fn="g", deps=["t1"]), 0.0)
    s.submit(task("t3", fn="g", deps=["t2"]), 0.0)
    s.executor_gone("p-e1", "executor_lost", "it was killed", 1.0)
    s.book.validate(len(s.tasks))
    report = s.book.report(1.0)
    assert counts(report) == {"f": (0, 0, 0, 1, 0, 0), "g": (0, 0, 0, 2, 0, 0)}
    assert report is not None and [(f.task_id, f.executor_id) for f in report.failures] == [
        ("t1", "p-e1")
    ]
    assert "it was killed" in report.failures[0].error


def test_functions_beyond_the_bound_count_together():
    book = TaskBook()
    for i in range(summary.MAX_FUNCTIONS + 10):
        book.submitted(f"fn{i}")
    book.moved("fn70", TaskState.READY, TaskState.DISPATCHED)
    book.validate()
    report = book.report(0.0)
    assert report is not None and len(report.functions) == summary.MAX_FUNCTIONS + 1
    other = next(f for f in report.functions if f.name == summary.OTHER)
    assert (other.queued, other.running) == (9, 1)


def test_event_buffers_keep_the_most_recent_and_count_what_they_drop():
    book = TaskBook()
    extra = 7
    for i in range(summary.BOXES_PER_REPORT + extra):
        book.ended("e1", "f", 0.001, True, float(i))
    book.output("t1", "f", "stdout", "x" * 10_000 + "\n" + "\n".join(["y"] * 300), 1.0)
    book.failed("t2", "f", "e1", "", "line\n" * 5000 + "KeyError: 'k'\n", 2.0)
    book.validate()
    report = book.report(3.0)
    assert report is not None
    assert len(report.boxes) == summary.BOXES_PER_REPORT
    assert report.boxes[-1].end == summary.BOXES_PER_REPORT + extra - 1
    assert len(report.output) == summary.OUTPUT_PER_REPORT
    assert all(len(line.text) <= summary.LINE_CHARS for line in report.output)
    assert report.failures[0].error == "KeyError: 'k'"
    assert len(report.failures[0].traceback) <= summary.TRACEBACK_CHARS
    assert report.dropped == extra + 301 - summary.OUTPUT_PER_REPORT
    assert book.report(4.0) is None
    book.resend()
    resent = book.report(5.0)
    assert resent is not None and resent.boxes == [] and resent.dropped == 0


def test_error_line():
    assert error_line(TB) == "ValueError: bad"
    assert error_line("", "executor lost") == "executor lost"
