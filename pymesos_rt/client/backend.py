"""The interface the public API calls: one backend per process, set by ``init`` (driver) or by
the executor at start (nested calls inside tasks).

``get``/``wait`` return raw object states; :mod:`pymesos_rt.api` turns them into values or
raises the stored exception.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymesos_rt.errors import RuntimeNotInitializedError
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.objects import ObjectLocation, Payload
from pymesos_rt.protocol.resources import Resources

PENDING, READY, FAILED = 0, 1, 2
DoneCallback = Callable[[str, int, Payload], None]


@dataclass(frozen=True)
class TaskOptions:
    name: str
    shape: Resources
    max_retries: int
    retry_exceptions: bool


@dataclass(frozen=True)
class PickledCall:
    fn_id: str
    fn: bytes
    args: bytes
    dep_ids: list[str]


class Backend(abc.ABC):
    def __init__(self) -> None:
        self._sent_functions: set[str] = set()
        self._sent_lock = threading.Lock()

    def task_spec(self, oid: str, call: PickledCall, options: TaskOptions) -> m.TaskSpec:
        """The wire form of a task; the function's bytes go with its first task only."""
        with self._sent_lock:
            fn = None if call.fn_id in self._sent_functions else call.fn
            self._sent_functions.add(call.fn_id)
        return m.TaskSpec(
            oid,
            options.name,
            call.fn_id,
            fn,
            call.args,
            call.dep_ids,
            options.shape,
            options.max_retries,
            options.retry_exceptions,
        )

    @abc.abstractmethod
    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        """Queue a task; returns its object id (a reference is already counted for the caller)."""

    @abc.abstractmethod
    def get(self, oids: list[str], timeout: float | None) -> list[tuple[int, Payload]] | None:
        """States and data of all objects once done; None on timeout."""

    @abc.abstractmethod
    def wait(self, oids: list[str], num_returns: int, timeout: float | None) -> set[str]: ...

    @abc.abstractmethod
    def put(self, value: Any) -> str:
        """Store a value (in an object store when large); its object id."""

    def load(self, oid: str, location: ObjectLocation) -> Any:
        """The value of a stored object (raises ObjectLostError when it cannot be had)."""
        raise NotImplementedError

    @abc.abstractmethod
    def cancel(self, oid: str, force: bool) -> None: ...

    @abc.abstractmethod
    def on_done(self, oid: str, callback: DoneCallback) -> None:
        """Call ``callback(oid, state, data)`` once the object is done (on any thread)."""

    def add_ref(self, oid: str) -> None:
        """A reference to ``oid`` was unpickled in this process."""

    def release(self, oid: str) -> None:
        """A local ObjectRef to ``oid`` was garbage collected."""

    def escape(self, oid: str) -> None:
        """A reference to ``oid`` was pickled: keep it alive for whoever unpickles it."""

    def check_shape(self, shape: Resources) -> None:
        """Raise ``UnschedulableError`` at once if no agent could ever run ``shape``."""

    @abc.abstractmethod
    def cluster_state(self) -> dict[str, Any]: ...

    def shutdown(self) -> None:
        """Stop everything this backend started."""


_lock = threading.Lock()
_backend: Backend | None = None


def set_backend(backend: Backend | None) -> None:
    global _backend
    with _lock:
        _backend = backend


def current() -> Backend:
    backend = _backend
    if backend is None:
        raise RuntimeNotInitializedError(
            "pymesos_rt is not initialized: call pymesos_rt.init() first"
        )
    return backend


def current_or_none() -> Backend | None:
    return _backend
