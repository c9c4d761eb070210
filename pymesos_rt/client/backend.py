"""The interface the public API calls: one backend per process, set by ``init`` (driver) or by
the executor at start (nested calls inside tasks).

``get``/``wait`` return raw object states; :mod:`pymesos_rt.api` turns them into values or
raises the stored exception.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from pymesos_rt.errors import PymesosRTError, RuntimeNotInitializedError
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.objects import ObjectLocation, Payload
from pymesos_rt.protocol.resources import Resources

PENDING, READY, FAILED = 0, 1, 2
DoneCallback = Callable[[str, int, Payload], None]
Progress = Callable[[int], None]  # how many of the awaited objects are done so far


@dataclass(frozen=True)
class TaskOptions:
    name: str
    shape: Resources
    max_retries: int
    retry_exceptions: bool
    extra: m.TaskExtra | None = None

    @property
    def num_returns(self) -> int:
        return 1 if self.extra is None else self.extra.num_returns


@dataclass(frozen=True)
class RuntimeInfo:
    """What ``rt.get_runtime_context()`` reports (resources keyed as on the wire)."""

    job_id: str
    node_id: str
    task_id: str | None = None
    task_name: str | None = None
    function_name: str | None = None
    resources: dict[str, float] = field(default_factory=dict)
    namespace: str = "default"
    dashboard_url: str = ""
    gpu_ids: list[int] = field(default_factory=list)


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

    def task_spec(
        self, oid: str, call: PickledCall, options: TaskOptions, parent_id: str = ""
    ) -> m.TaskSpec:
        """The wire form of a task; the function's bytes go with its first task only."""
        with self._sent_lock:
            fn = None if call.fn_id in self._sent_functions else call.fn
            self._sent_functions.add(call.fn_id)
        extra = options.extra
        if parent_id:
            extra = msgspec.structs.replace(extra or m.TaskExtra(), parent_id=parent_id)
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
            extra,
        )

    @abc.abstractmethod
    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        """Queue a task; returns its object id (a reference is already counted for the caller)."""

    @abc.abstractmethod
    def get(
        self,
        oids: list[str],
        timeout: float | None,
        progress: Progress | None = None,
        read: Callable[[str, ObjectLocation], None] | None = None,
    ) -> list[tuple[int, Payload]] | None:
        """States and data of all objects once done; None on timeout. ``progress``, if the
        backend can tell, is called now and then with how many are done; ``read``, if the
        backend can, is called on this thread with ``(oid, location)`` for stored objects
        that are ready while others are still awaited."""

    @abc.abstractmethod
    def wait(
        self,
        oids: list[str],
        num_returns: int,
        timeout: float | None,
        progress: Progress | None = None,
    ) -> set[str]: ...

    def cancel_unneeded(self, oids: list[str]) -> list[str]:
        """After an interrupted ``get``/``wait`` over ``oids``: cancel the tasks among them
        that nothing else needs; returns their ids. (By default: none.)"""
        return []

    @abc.abstractmethod
    def put(self, value: Any) -> str:
        """Store a value (in an object store when large); its object id."""

    def load(self, oid: str, location: ObjectLocation) -> Any:
        """The value of a stored object (raises ObjectLostError when it cannot be had)."""
        raise NotImplementedError

    @abc.abstractmethod
    def cancel(self, oid: str, force: bool, recursive: bool = True) -> None: ...

    @abc.abstractmethod
    def on_done(self, oid: str, callback: DoneCallback) -> None:
        """Call ``callback(oid, state, data)`` once the object is done (on any thread)."""

    def add_ref(self, oid: str) -> None:
        """A reference to ``oid`` was unpickled in this process."""

    def release(self, oid: str) -> None:
        """A local ObjectRef to ``oid`` was garbage collected."""

    def escape(self, oid: str) -> None:
        """A reference to ``oid`` was pickled: keep it alive for whoever unpickles it."""

    @abc.abstractmethod
    def stream_next(self, task_id: str, index: int, timeout: float | None) -> str | None:
        """The object id of item ``index`` of generator task ``task_id`` once it exists,
        ``""`` once the generator has ended without it, None if ``timeout`` passed first."""

    @abc.abstractmethod
    def stream_on_next(self, task_id: str, index: int, callback: Callable[[str], None]) -> None:
        """``callback`` with what :meth:`stream_next` would return (on any thread)."""

    def stream_close(self, task_id: str, consumed: int) -> None:
        """This process's generator over ``task_id`` was dropped after ``consumed`` items."""

    def check_shape(self, shape: Resources) -> None:
        """Raise ``UnschedulableError`` at once if no agent could ever run ``shape``."""

    @abc.abstractmethod
    def cluster_state(self, params: str = "") -> dict[str, Any]:
        """The master's ``/state`` for the URL query ``params`` (``limit=...&offset=...``)."""

    @abc.abstractmethod
    def runtime_info(self) -> RuntimeInfo:
        """Who and where the caller is: job, node, and the task running on this thread."""

    # --- actors (client/actor.py) ------------------------------------------------------------
    def first_send(self, fn_id: str, data: bytes) -> bytes | None:
        """``data`` the first time this process sends ``fn_id``, else None (it was sent)."""
        with self._sent_lock:
            if fn_id in self._sent_functions:
                return None
            self._sent_functions.add(fn_id)
            return data

    def new_actor_id(self) -> str:
        raise PymesosRTError("actors are not available in this process")

    def create_actor(self, spec: m.ActorSpec) -> bytes | None:
        """Create an actor; for a named one with ``get_if_exists`` that exists already, return
        its handle state instead. Raises ``ValueError`` if the name is taken."""
        raise PymesosRTError("actors are not available in this process")

    def call_actor(
        self,
        actor_id: str,
        method: str,
        args: bytes,
        dep_ids: list[str],
        num_returns: int,
        max_task_retries: int,
        handle_ids: list[str],
    ) -> list[str]:
        """Queue a method call; returns the ids of its return objects (one unless
        ``num_returns`` differs from 1)."""
        raise PymesosRTError("actors are not available in this process")

    def lookup_actor(self, name: str, namespace: str) -> bytes:
        """The handle state of the live actor ``name``; ``ValueError`` if there is none."""
        raise PymesosRTError("actors are not available in this process")

    def kill_actor(self, actor_id: str, no_restart: bool) -> None:
        raise PymesosRTError("actors are not available in this process")

    def escape_actor(self, actor_id: str) -> None:
        """A handle was pickled outside task arguments: keep the actor for the session."""

    def pin_handles(self, task_id: str, actor_ids: list[str]) -> None:
        """Task ``task_id``'s arguments carry handles of these actors: keep them until it ends."""

    def shutdown(self) -> None:
        """Stop everything this backend started."""


_lock = threading.Lock()
_backend: Backend | None = None
_auto_init: Callable[[], None] | None = None


def set_backend(backend: Backend | None) -> None:
    global _backend
    with _lock:
        _backend = backend


def set_auto_init(start: Callable[[], None] | None) -> None:
    """What :func:`current` calls when nothing is initialized (``rt.init()``, as Ray starts
    itself on first use); None: raise ``RuntimeNotInitializedError`` instead."""
    global _auto_init
    _auto_init = start


def current() -> Backend:
    backend = _backend
    if backend is None and _auto_init is not None:
        _auto_init()
        backend = _backend
    if backend is None:
        raise RuntimeNotInitializedError(
            "pymesos_rt is not initialized: call pymesos_rt.init() first"
        )
    return backend


def current_or_none() -> Backend | None:
    return _backend
