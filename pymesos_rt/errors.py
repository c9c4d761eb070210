"""The public exception tree (re-exported by ``pymesos_rt``).

Imports nothing of the package but ``serialization`` (for the remote-exception stand-in) and
``tracebacks`` (how IPython shows a ``TaskError``).
"""

from __future__ import annotations

import contextlib
import types
from typing import Any

from pymesos_rt.serialization import SerializationError


class PymesosRTError(Exception):
    """Base of every error this package raises on its own account."""


class RuntimeNotInitializedError(PymesosRTError, RuntimeError):
    """An API call that needs ``rt.init()`` first."""


class GetTimeoutError(PymesosRTError, TimeoutError):
    """``rt.get``/``rt.wait`` ran out of time."""


class TaskCancelledError(PymesosRTError):
    """The task was cancelled with ``rt.cancel``."""


class UnschedulableError(PymesosRTError, ValueError):
    """A task asks for more resources than any agent of the cluster has."""


class ExecutorLostError(PymesosRTError):
    """The executor running a task died, and no retries were left."""


class NodeLostError(ExecutorLostError):
    """The agent running a task was lost, and no retries were left."""


class OutOfMemoryError(ExecutorLostError, MemoryError):
    """The task's container hit its memory limit."""


class ActorDiedError(PymesosRTError):
    """A call to an actor that died: its executor was lost (SIGKILL, memory limit, agent lost)
    with no restarts left, it was killed (``rt.kill``) or exited (``rt.exit_actor()``, the
    graceful stop method), or no handle to it was left. The message names the actor and the
    cause (for a memory limit, the limit). Ray calls it ``RayActorError``/``ActorDiedError``."""


class ObjectLostError(PymesosRTError):
    """Every copy of an object was lost (its node went away) and it could not be rebuilt."""


class ObjectStoreFullError(PymesosRTError, MemoryError):
    """An object could not be placed in an agent's object store (too big, or the store stayed
    full of objects in use)."""


class TaskError(PymesosRTError):
    """A task raised. ``cause`` is the original exception; its traceback is in the message.

    Raised by ``get`` as an instance of a subclass that also derives from the original
    exception's class (where that class can be subclassed), so ``except ValueError`` works, and
    carrying the original instance's state: its ``args``, its attributes (``__dict__``) and the
    built-in ones such as ``OSError.errno``. A cause that is not an ``Exception``
    (``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``) gives a plain ``TaskError``: a
    task calling ``sys.exit(3)`` must fail the caller like any error, not end its program.
    """

    cause: BaseException
    task_name: str
    remote_traceback: str

    def __init__(self, cause: BaseException, task_name: str, remote_traceback: str) -> None:
        Exception.__init__(self, cause, task_name, remote_traceback)
        self.cause = cause
        self.task_name = task_name
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        cause = self.cause
        what = f"{type(cause).__name__}: {cause}"
        if not isinstance(cause, Exception):  # SystemExit(3) prints as "3": say what it was
            what = f"{type(cause).__name__}({', '.join(map(repr, cause.args))})"
        return (
            f"task {self.task_name} failed with {what}\n\n"
            f"Remote traceback:\n{self.remote_traceback.rstrip()}"
        )

    def __reduce__(self) -> Any:
        return (make_task_error, (self.cause, self.task_name, self.remote_traceback))

    def _render_traceback_(self) -> list[str]:
        """IPython's hook: the task's frames at the user's lines, without the runtime's."""
        from pymesos_rt import tracebacks

        return tracebacks.render(self)


_TASK_ERROR_CLASSES: dict[type[BaseException], type[TaskError]] = {}
# TaskError's own attributes: a cause's attribute of the same name does not replace them
_OWN = frozenset({"cause", "task_name", "remote_traceback"})


def make_task_error(cause: BaseException, task_name: str, remote_traceback: str) -> TaskError:
    """A ``TaskError`` that is also an instance of ``type(cause)`` where possible, holding the
    cause's ``args`` and attributes."""
    cls = type(cause)
    if isinstance(cause, TaskError):
        cls = type(cause.cause)
    derived = _TASK_ERROR_CLASSES.get(cls)
    if derived is None:
        derived = TaskError
        if issubclass(cls, Exception):  # never a SystemExit, KeyboardInterrupt, GeneratorExit
            try:
                derived = type(
                    f"TaskError[{cls.__name__}]",
                    (TaskError, cls),
                    {
                        "__init__": TaskError.__init__,
                        "__str__": TaskError.__str__,
                        "__module__": __name__,
                    },
                )
            except TypeError:  # final classes, or layouts that do not combine
                derived = TaskError
        _TASK_ERROR_CLASSES[cls] = derived
    err = derived.__new__(derived)
    TaskError.__init__(err, cause, task_name, remote_traceback)
    _copy_state(cause, err)
    err.__cause__ = cause
    return err


def _copy_state(cause: BaseException, err: TaskError) -> None:
    """Give ``err`` the cause's ``args``, ``__dict__`` and built-in attributes (``errno``,
    ``code``, ``name``...), as far as ``err``'s class allows."""
    err.args = cause.args
    for name, value in vars(cause).items():
        if name not in _OWN:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(err, name, value)
    for klass in type(cause).__mro__:
        if klass.__module__ != "builtins" or klass is BaseException or klass is object:
            continue
        if not isinstance(err, klass):
            continue
        for name, slot in vars(klass).items():
            if isinstance(slot, types.MemberDescriptorType | types.GetSetDescriptorType):
                with contextlib.suppress(AttributeError, TypeError, ValueError):
                    setattr(err, name, getattr(cause, name))


__all__ = [
    "ActorDiedError",
    "ExecutorLostError",
    "GetTimeoutError",
    "NodeLostError",
    "ObjectLostError",
    "ObjectStoreFullError",
    "OutOfMemoryError",
    "PymesosRTError",
    "RuntimeNotInitializedError",
    "SerializationError",
    "TaskCancelledError",
    "TaskError",
    "UnschedulableError",
    "make_task_error",
]
