"""``ObjectRef``: a future-like handle to a task's result or a ``put`` value.

A reference counts toward keeping its object alive in this process. A reference inside a value
the runtime stores (a result, a ``put``) keeps the object alive as long as that value; one that
another process unpickles makes that process a borrower until it drops it; one pickled by
anyone else (``pickle.dumps(ref)``) keeps the object alive for the rest of the session.
References are awaitable and convert to ``concurrent.futures.Future``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import queue
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from pymesos_rt import serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.protocol.objects import ObjectLocation, Payload
from pymesos_rt.serialization import RefMarker

if TYPE_CHECKING:  # asyncio costs ~25 ms of import; loaded where used
    import asyncio


class ObjectRef(RefMarker):
    __slots__ = ("_backend", "object_id")

    def __init__(self, object_id: str, backend: backend_mod.Backend | None) -> None:
        self.object_id = object_id
        self._backend = backend

    def __del__(self) -> None:
        backend = self._backend
        if backend is not None:
            with contextlib.suppress(Exception):  # interpreter shutdown
                backend.release(self.object_id)

    def __reduce__(self) -> Any:
        sink = serialization.ref_sink()
        if sink is not None:  # inside a value the runtime stores: kept alive by that value
            sink.append(self.object_id)
        elif self._backend is not None:  # pickled by someone else: kept for the session
            self._backend.escape(self.object_id)
        return (_rebuild, (self.object_id,))

    def __repr__(self) -> str:
        return f"ObjectRef({self.object_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other.object_id == self.object_id

    def __hash__(self) -> int:
        return hash(self.object_id)

    def hex(self) -> str:
        return self.object_id

    def future(self) -> concurrent.futures.Future[Any]:
        """A ``concurrent.futures.Future`` that resolves to the value (or raises its error)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        backend = self._backend or backend_mod.current()
        keep = self  # the future holds the reference until it resolves

        def done(oid: str, state: int, data: Payload) -> None:
            _ = keep
            if fut.cancelled():
                return
            try:
                fut.set_result(decode(state, data, oid, backend))
            except BaseException as exc:
                fut.set_exception(exc)

        backend.on_done(self.object_id, done)
        return fut

    def as_future(self) -> asyncio.Future[Any]:
        """An ``asyncio.Future`` for the value, on the running event loop (Ray's name)."""
        import asyncio

        return asyncio.wrap_future(self.future())

    def __await__(self) -> Generator[Any, None, Any]:
        return self.as_future().__await__()


def decode(
    state: int, payload: Payload, oid: str = "", backend: backend_mod.Backend | None = None
) -> Any:
    """The value of a done object, or raise its stored exception."""
    __tracebackhide__ = True
    if isinstance(payload, ObjectLocation):
        return (backend or backend_mod.current()).load(oid, payload)
    if state == backend_mod.READY:
        return serialization.loads(payload)
    raise error_of(payload)


class ReadAhead:
    """The values of stored objects that a ``get`` of several refs read while it still waited
    for others (``Backend.get(read=)``): the copy out of the store (a ``bytes`` result) then
    overlaps the tasks still running. Objects of ``PARALLEL_MIN`` bytes or more are read on
    reader threads (:class:`_Readers`: their copies release the GIL, so a burst of results is
    copied out on more than one core). Each is read once; a ref that appears twice in the list
    reads it again for its second place, as without reading ahead. A read that fails is done
    again in order, where its error is raised; :meth:`close` drops reads not started."""

    __slots__ = ("_backend", "_values")
    PARALLEL_MIN = 256 * 1024

    def __init__(self, backend: backend_mod.Backend) -> None:
        self._backend = backend
        self._values: dict[str, Any] = {}

    def read(self, oid: str, location: ObjectLocation) -> None:
        if oid in self._values:
            return
        if location.size >= self.PARALLEL_MIN:
            self._values[oid] = _Readers.submit(self._backend.load, oid, location)
            return
        with contextlib.suppress(Exception):
            self._values[oid] = self._backend.load(oid, location)

    def value(self, oid: str, payload: Payload, backend: backend_mod.Backend) -> Any:
        """The value of a READY object: read ahead, or read now."""
        __tracebackhide__ = True
        if oid in self._values:
            got = self._values.pop(oid)
            if not isinstance(got, concurrent.futures.Future):
                return got
            with contextlib.suppress(Exception):
                return got.result()
        return decode(backend_mod.READY, payload, oid, backend)

    def close(self) -> None:
        """The get is over (done, failed or interrupted): reads not started are dropped."""
        for got in self._values.values():
            if isinstance(got, concurrent.futures.Future):
                got.cancel()
        self._values.clear()


_Job = tuple[concurrent.futures.Future[Any], Callable[[], Any]]


class _Readers:
    """``COUNT`` daemon threads of this process that run reads for :class:`ReadAhead` (made
    when first needed, again in a forked child; a read still running at exit does not hold
    the interpreter)."""

    COUNT = 2
    _queue: queue.SimpleQueue[_Job] | None = None
    _lock = threading.Lock()

    @classmethod
    def submit(cls, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        jobs = cls._queue
        if jobs is None:
            with cls._lock:
                jobs = cls._queue
                if jobs is None:
                    jobs = cls._queue = queue.SimpleQueue()
                    for i in range(cls.COUNT):
                        name = f"pymesos-rt-read-{i}"
                        reader = threading.Thread(target=cls._serve, args=(jobs,), name=name)
                        reader.daemon = True
                        reader.start()
        jobs.put((future, functools.partial(fn, *args)))
        return future

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            future, job = jobs.get()
            if future.set_running_or_notify_cancel():  # else dropped by ReadAhead.close
                try:
                    future.set_result(job())
                except BaseException as exc:
                    future.set_exception(exc)
            del future, job  # a value kept here would keep its object pinned until the next

    @classmethod
    def forget(cls) -> None:
        """In a forked child: the parent's reader threads are not there."""
        cls._queue = None
        cls._lock = threading.Lock()


os.register_at_fork(after_in_child=_Readers.forget)


def error_of(payload: Payload) -> BaseException:
    """The exception a failed object holds (failed objects are always inline)."""
    assert not isinstance(payload, ObjectLocation)
    return serialization.loads_exception(payload)


def _rebuild(object_id: str) -> ObjectRef:
    backend = backend_mod.current_or_none()
    if backend is not None:
        backend.add_ref(object_id)
    return ObjectRef(object_id, backend)
