"""A task's exception as the caller gets it: the executor's path (``dumps_exception`` of the
cause, then of the ``TaskError``) and the driver's (``loads_exception``), without processes.

Each case was seen failing from outside (issue 9, points 3-5): deep tracebacks and
``RecursionError`` lost their class, attributes were lost, and ``sys.exit`` in a task ended
the caller's program with status 0."""

from __future__ import annotations

import os
import pickle
import sys
import threading

import pytest

from pymesos_rt import serialization as s
from pymesos_rt.errors import TaskError, make_task_error


def as_the_caller_gets_it(exc: BaseException) -> BaseException:
    """What ``worker.execute`` sends for ``exc`` and ``rt.get`` raises."""
    data, text = s.dumps_exception(exc)
    cause = s.loads_exception(data)
    blob, _ = s.dumps_exception(make_task_error(cause, "task", text))
    return s.loads_exception(blob)


def raised(fn) -> BaseException:
    try:
        fn()
    except BaseException as exc:  # what the executor catches
        return exc
    raise AssertionError("did not raise")


def deep(n: int) -> None:
    if n == 0:
        raise ValueError("at the bottom")
    deep(n - 1)


def forever() -> None:
    forever()


@pytest.mark.parametrize("depth", [10, 250, 400, 2000])
def test_a_deep_exception_keeps_its_class(depth):
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, depth + 200))
    try:
        exc = raised(lambda: deep(depth))
    finally:
        sys.setrecursionlimit(limit)
    err = as_the_caller_gets_it(exc)
    assert isinstance(err, TaskError) and isinstance(err, ValueError)
    assert "at the bottom" in str(err)
    assert isinstance(err.__cause__, ValueError)


def test_recursion_error_keeps_its_class():
    err = as_the_caller_gets_it(raised(forever))
    assert isinstance(err, RecursionError) and isinstance(err, TaskError)
    assert "maximum recursion depth" in str(err)


def test_a_long_chain_of_causes_keeps_the_class():
    def chained() -> None:
        try:
            deep(5)
        except ValueError as first:
            err: Exception = first
            for i in range(50):
                try:
                    raise KeyError(i) from err
                except KeyError as nxt:
                    err = nxt
            raise err

    err = as_the_caller_gets_it(raised(chained))
    assert isinstance(err, KeyError) and err.args == (49,)


class WithField(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.field = 1


class NeedsTwo(Exception):
    """Pickles, but rebuilding calls ``NeedsTwo(a)``, which fails."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(a)
        self.b = b
        self.lock = threading.Lock()


def test_the_task_error_carries_the_instances_attributes():
    err = as_the_caller_gets_it(WithField("bad"))
    assert isinstance(err, WithField)
    assert err.field == 1 and err.args == ("bad",)
    assert err.task_name == "task"


def test_an_exception_that_does_not_rebuild_keeps_its_class_and_state():
    err = as_the_caller_gets_it(NeedsTwo(1, 2))
    assert isinstance(err, NeedsTwo) and isinstance(err, TaskError)
    assert err.args == (1,) and err.b == 2 and not hasattr(err, "lock")


def test_builtin_attributes_arrive():
    err = as_the_caller_gets_it(raised(lambda: os.stat("/nonexistent/file")))
    assert isinstance(err, FileNotFoundError)
    assert err.errno == 2 and err.filename == "/nonexistent/file"
    stop = as_the_caller_gets_it(StopIteration(7))
    assert isinstance(stop, StopIteration) and stop.value == 7


@pytest.mark.parametrize(
    ("exc", "shown"),
    [
        (SystemExit(3), "SystemExit(3)"),
        (KeyboardInterrupt(), "KeyboardInterrupt()"),
        (GeneratorExit(), "GeneratorExit()"),
    ],
)
def test_system_exit_and_friends_become_an_ordinary_exception(exc, shown):
    err = as_the_caller_gets_it(exc)
    assert isinstance(err, Exception) and isinstance(err, TaskError)
    assert not isinstance(err, SystemExit | KeyboardInterrupt | GeneratorExit)
    assert shown in str(err)
    assert type(err.__cause__) is type(exc)


def test_sys_exit_in_a_task_is_not_a_system_exit():
    err = as_the_caller_gets_it(raised(lambda: sys.exit(3)))
    assert type(err) is TaskError and err.args == (3,)
    assert "SystemExit(3)" in str(err)


def test_the_task_error_pickles_again():
    err = as_the_caller_gets_it(WithField("x"))
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, WithField) and back.field == 1


def test_an_error_derived_from_two_builtin_exceptions_keeps_its_class():
    from pymesos_rt.errors import OutOfMemoryError

    back = s.loads_exception(s.dumps_exception(OutOfMemoryError("limit of 100 MiB"))[0])
    assert type(back) is OutOfMemoryError and back.args == ("limit of 100 MiB",)
