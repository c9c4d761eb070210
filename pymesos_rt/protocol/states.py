"""Lifecycle states of executors, tasks and actors, with their legal transitions as tables.

Rules kept here:
- A transition not in the table raises :class:`IllegalTransition` and changes nothing.
- Terminal states have no way out; a repeated report of the same terminal state is not a
  transition (callers treat it as a duplicate, which keeps at-least-once delivery idempotent).

Imports nothing of the package.
"""

from __future__ import annotations

import enum


class IllegalTransition(ValueError):
    """A state change that the transition table does not allow."""


class ExecutorState(enum.StrEnum):
    STAGING = "STAGING"  # accepted, the agent is starting the process
    RUNNING = "RUNNING"  # the process runs
    FINISHED = "FINISHED"  # exited with status 0
    FAILED = "FAILED"  # exited non-zero, or could not start
    KILLED = "KILLED"  # stopped on request
    LOST = "LOST"  # its agent went away
    OOM = "OOM"  # its container hit the memory limit

    @property
    def terminal(self) -> bool:
        return self in _EXECUTOR_TERMINAL


_EXECUTOR_TERMINAL = frozenset(
    {
        ExecutorState.FINISHED,
        ExecutorState.FAILED,
        ExecutorState.KILLED,
        ExecutorState.LOST,
        ExecutorState.OOM,
    }
)

EXECUTOR_TRANSITIONS: dict[ExecutorState, frozenset[ExecutorState]] = {
    ExecutorState.STAGING: frozenset({ExecutorState.RUNNING} | _EXECUTOR_TERMINAL),
    ExecutorState.RUNNING: _EXECUTOR_TERMINAL,
    **{state: frozenset() for state in _EXECUTOR_TERMINAL},
}


class TaskState(enum.StrEnum):
    WAITING = "WAITING"  # some argument refs are not ready
    READY = "READY"  # queued, waiting for an executor
    DISPATCHED = "DISPATCHED"  # sent to an executor
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in _TASK_TERMINAL


_TASK_TERMINAL = frozenset({TaskState.FINISHED, TaskState.FAILED, TaskState.CANCELLED})

TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    # WAITING -> DISPATCHED: sent ahead of its arguments to the executor that produces them
    TaskState.WAITING: frozenset(
        {TaskState.READY, TaskState.DISPATCHED, TaskState.FAILED, TaskState.CANCELLED}
    ),
    TaskState.READY: frozenset({TaskState.DISPATCHED, TaskState.FAILED, TaskState.CANCELLED}),
    # back to READY (or WAITING, if its arguments are gone too): its executor was lost
    TaskState.DISPATCHED: frozenset({TaskState.READY, TaskState.WAITING} | _TASK_TERMINAL),
    **{state: frozenset() for state in _TASK_TERMINAL},
}


def check_executor_transition(old: ExecutorState, new: ExecutorState) -> None:
    if new not in EXECUTOR_TRANSITIONS[old]:
        raise IllegalTransition(f"executor cannot go from {old} to {new}")


def check_task_transition(old: TaskState, new: TaskState) -> None:
    if new not in TASK_TRANSITIONS[old]:
        raise IllegalTransition(f"task cannot go from {old} to {new}")


class ActorState(enum.StrEnum):
    """An actor's life, kept by the framework's scheduler core (``scheduler/actors.py``)."""

    PENDING = "PENDING"  # waiting for an executor, or its constructor is running
    ALIVE = "ALIVE"  # the constructor returned; calls run
    RESTARTING = "RESTARTING"  # its executor died; a new one is being made (max_restarts)
    DEAD = "DEAD"  # for good: killed, exited, out of scope, constructor failed, no restarts left

    @property
    def terminal(self) -> bool:
        return self is ActorState.DEAD


ACTOR_TRANSITIONS: dict[ActorState, frozenset[ActorState]] = {
    # PENDING -> RESTARTING: its executor died before the constructor returned, restarts left
    ActorState.PENDING: frozenset({ActorState.ALIVE, ActorState.RESTARTING, ActorState.DEAD}),
    ActorState.ALIVE: frozenset({ActorState.RESTARTING, ActorState.DEAD}),
    # RESTARTING -> RESTARTING: the new executor died too, before the constructor returned
    ActorState.RESTARTING: frozenset({ActorState.ALIVE, ActorState.RESTARTING, ActorState.DEAD}),
    ActorState.DEAD: frozenset(),
}


def check_actor_transition(old: ActorState, new: ActorState) -> None:
    if new not in ACTOR_TRANSITIONS[old]:
        raise IllegalTransition(f"actor cannot go from {old} to {new}")
