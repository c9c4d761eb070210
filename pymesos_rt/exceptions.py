"""``rt.exceptions``: Ray's exception names, as aliases of ours (``pymesos_rt.errors``), so
``except ray.exceptions.RayTaskError`` works unchanged after ``import pymesos_rt as ray``.

| Ray | ours |
| --- | --- |
| ``RayError``, ``RaySystemError`` | ``PymesosRTError`` |
| ``RayTaskError`` | ``TaskError`` (also an instance of the task's exception class) |
| ``GetTimeoutError`` | ``GetTimeoutError`` (also a ``TimeoutError``) |
| ``TaskCancelledError`` | ``TaskCancelledError`` |
| ``WorkerCrashedError`` | ``ExecutorLostError`` (the executor process died) |
| ``NodeDiedError`` | ``NodeLostError`` |
| ``OutOfMemoryError`` | ``OutOfMemoryError`` (its container hit its memory limit) |
| ``TaskUnschedulableError`` | ``UnschedulableError`` |
| ``ObjectLostError`` | ``ObjectLostError`` |
| ``RayActorError``, ``ActorDiedError``, ``ActorUnavailableError`` | ``ActorDiedError`` |
"""

from __future__ import annotations

from pymesos_rt.errors import (
    ActorDiedError,
    ExecutorLostError,
    GetTimeoutError,
    NodeLostError,
    OutOfMemoryError,
    PymesosRTError,
    RuntimeNotInitializedError,
    TaskCancelledError,
    TaskError,
    UnschedulableError,
)


class ObjectLostError(PymesosRTError):
    """An object's value is gone and cannot be rebuilt (where no other module defines it)."""


RayError = PymesosRTError
RaySystemError = PymesosRTError
RayTaskError = TaskError
WorkerCrashedError = ExecutorLostError
NodeDiedError = NodeLostError
TaskUnschedulableError = UnschedulableError
RayActorError = ActorDiedError
ActorUnavailableError = ActorDiedError

__all__ = [
    "ActorDiedError",
    "ActorUnavailableError",
    "ExecutorLostError",
    "GetTimeoutError",
    "NodeDiedError",
    "NodeLostError",
    "ObjectLostError",
    "OutOfMemoryError",
    "PymesosRTError",
    "RayActorError",
    "RayError",
    "RaySystemError",
    "RayTaskError",
    "RuntimeNotInitializedError",
    "TaskCancelledError",
    "TaskError",
    "TaskUnschedulableError",
    "UnschedulableError",
    "WorkerCrashedError",
]
