"""The executor's task runner: one task at a time, one more per task blocked in get."""

from __future__ import annotations

import threading

from pymesos_rt.executor.runner import Runner
from pymesos_rt.protocol import messages as m


def task(tid: str) -> m.RunTask:
    return m.RunTask(tid, tid, "fn", None, b"", [])


def test_runs_in_order_one_at_a_time():
    order: list[str] = []
    active = 0
    most = 0
    lock = threading.Lock()
    done = threading.Event()

    def execute(t: m.RunTask) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        order.append(t.task_id)
        with lock:
            active -= 1
        if t.task_id == "t19":
            done.set()

    runner = Runner(execute)
    for i in range(20):
        runner.submit(task(f"t{i}"))
    assert done.wait(10)
    assert order == [f"t{i}" for i in range(20)] and most == 1
    runner.stop()


def test_blocked_task_gives_its_slot_to_the_next():
    second_ran = threading.Event()
    runner: Runner

    def execute(t: m.RunTask) -> None:
        if t.task_id == "outer":
            runner.blocked(+1)  # as a task waiting in get does
            assert second_ran.wait(10), "the queued task never ran while outer was blocked"
            runner.blocked(-1)
        else:
            second_ran.set()

    runner = Runner(execute)
    runner.submit(task("outer"))
    runner.submit(task("inner"))
    assert second_ran.wait(10)
    runner.stop()


def test_cancel_drops_a_queued_task():
    gate = threading.Event()
    ran: list[str] = []

    def execute(t: m.RunTask) -> None:
        gate.wait(10)
        ran.append(t.task_id)

    runner = Runner(execute)
    runner.submit(task("a"))
    runner.submit(task("b"))
    dropped = runner.cancel("b")
    gate.set()
    assert dropped is not None and dropped.task_id == "b"
    runner.stop()


def _interrupt_probe(finish_first: bool) -> bool:
    """Run one task that waits, cancel it while it waits; True if it was interrupted."""
    waiting, release, done = threading.Event(), threading.Event(), threading.Event()
    interrupted: list[bool] = []
    runner: Runner

    def execute(t: m.RunTask) -> None:
        try:
            if finish_first:
                runner.finishing(t.task_id)  # as the worker does once user code has ended
            waiting.set()
            while not release.wait(0.01):  # Python-level waiting: interruptible
                pass
            interrupted.append(False)
        except KeyboardInterrupt:
            interrupted.append(True)
        finally:
            done.set()

    runner = Runner(execute)
    runner.submit(task("t"))
    assert waiting.wait(10)
    assert runner.cancel("t") is None
    release.set()
    assert done.wait(10)
    runner.stop()
    return interrupted == [True]


def test_cancel_interrupts_a_running_task():
    assert _interrupt_probe(finish_first=False)


def test_cancel_leaves_a_task_that_is_reporting_its_result_alone():
    assert not _interrupt_probe(finish_first=True)
