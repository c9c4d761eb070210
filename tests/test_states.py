"""Executor and task state tables: legal moves pass, everything else raises."""

from __future__ import annotations

import itertools

import pytest

from pymesos_rt.protocol.states import (
    EXECUTOR_TRANSITIONS,
    TASK_TRANSITIONS,
    ExecutorState,
    IllegalTransition,
    TaskState,
    check_executor_transition,
    check_task_transition,
)

E = ExecutorState
T = TaskState

EXECUTOR_LEGAL = {
    (E.STAGING, E.RUNNING),
    *((E.STAGING, s) for s in (E.FINISHED, E.FAILED, E.KILLED, E.LOST, E.OOM)),
    *((E.RUNNING, s) for s in (E.FINISHED, E.FAILED, E.KILLED, E.LOST, E.OOM)),
}

TASK_LEGAL = {
    (T.WAITING, T.READY),
    (T.WAITING, T.FAILED),
    (T.WAITING, T.CANCELLED),
    (T.WAITING, T.DISPATCHED),  # sent ahead of its arguments to the executor producing them
    (T.READY, T.DISPATCHED),
    (T.READY, T.FAILED),
    (T.READY, T.CANCELLED),
    (T.DISPATCHED, T.READY),  # retried after its executor was lost
    (T.DISPATCHED, T.WAITING),  # the same, and its arguments were lost with the executor
    (T.DISPATCHED, T.FINISHED),
    (T.DISPATCHED, T.FAILED),
    (T.DISPATCHED, T.CANCELLED),
}


def test_terminal_executor_states():
    assert {s for s in E if s.terminal} == {E.FINISHED, E.FAILED, E.KILLED, E.LOST, E.OOM}


def test_terminal_task_states():
    assert {s for s in T if s.terminal} == {T.FINISHED, T.FAILED, T.CANCELLED}


def test_tables_cover_every_state():
    assert set(EXECUTOR_TRANSITIONS) == set(E)
    assert set(TASK_TRANSITIONS) == set(T)


@pytest.mark.parametrize(("old", "new"), list(itertools.product(E, E)))
def test_executor_transitions(old, new):
    if (old, new) in EXECUTOR_LEGAL:
        check_executor_transition(old, new)
    else:
        with pytest.raises(IllegalTransition, match=f"executor cannot go from {old} to {new}"):
            check_executor_transition(old, new)


@pytest.mark.parametrize(("old", "new"), list(itertools.product(T, T)))
def test_task_transitions(old, new):
    if (old, new) in TASK_LEGAL:
        check_task_transition(old, new)
    else:
        with pytest.raises(IllegalTransition, match=f"task cannot go from {old} to {new}"):
            check_task_transition(old, new)


def test_states_are_strings_on_the_wire():
    assert E.RUNNING == "RUNNING"
    assert str(T.DISPATCHED) == "DISPATCHED"
    assert issubclass(IllegalTransition, ValueError)
