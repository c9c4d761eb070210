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
| ``ObjectLostError``, ``ObjectReconstructionFailedError`` | ``ObjectLostError`` |
| ``ObjectStoreFullError`` | ``ObjectStoreFullError`` (also a ``MemoryError``) |
| ``RayActorError``, ``ActorDiedError``, ``ActorUnavailableError`` | ``ActorDiedError`` |
"""

from __future__ import annotations

from pymesos_rt.errors import (
    ActorDiedError,
    ExecutorLostError,
    GetTimeoutError,
    NodeLostError,
    ObjectLostError,
    ObjectStoreFullError,
    OutOfMemoryError,
    PymesosRTError,
    RuntimeNotInitializedError,
    TaskCancelledError,
    TaskError,
    UnschedulableError,
)

RayError = PymesosRTError
RaySystemError = PymesosRTError
RayTaskError = TaskError
WorkerCrashedError = ExecutorLostError
NodeDiedError = NodeLostError
TaskUnschedulableError = UnschedulableError
RayActorError = ActorDiedError
ObjectReconstructionFailedError = ObjectLostError
ActorUnavailableError = ActorDiedError

__all__ = [
    "ActorDiedError",
    "ActorUnavailableError",
    "ExecutorLostError",
    "GetTimeoutError",
    "NodeDiedError",
    "NodeLostError",
    "ObjectLostError",
    "ObjectReconstructionFailedError",
    "ObjectStoreFullError",
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
