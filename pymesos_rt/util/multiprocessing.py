"""``rt.util.multiprocessing.Pool``: the standard library's ``multiprocessing.Pool`` on the cluster.

Each call (or each chunk of a ``map``) is a task; the executors are the pool's worker
processes. What the standard ``Pool`` promises, kept here (its tests, ported, are in
``integration/test_pool.py``):

- ``apply``, ``apply_async``, ``map``, ``map_async``, ``imap``, ``imap_unordered``,
  ``starmap``, ``starmap_async``; ``AsyncResult.get(timeout)`` raises
  ``multiprocessing.TimeoutError``; ``callback``/``error_callback`` run in a thread of this
  process once the result is in; exceptions are raised as their own class.
- ``chunksize`` batches items into one task (default: as the standard library picks it, from
  the number of items and of processes).
- ``initializer(*initargs)`` runs once in each worker process before its first call of this
  pool; ``maxtasksperchild=N`` replaces a worker process after N tasks (``max_calls``); with
  it, ``map``'s default ``chunksize`` is 1, so a worker makes at most N calls (Ray's rule).
- ``processes``: how many of the pool's tasks run at once (default: the cluster's CPUs).
- ``close``/``terminate``/``join`` and the context manager (``__exit__`` terminates, as the
  standard library does); a pool that is not running raises ``ValueError`` for new work.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pymesos_rt as rt

_initialized: set[str] = set()  # pool ids whose initializer ran in this (worker) process
_init_lock = threading.Lock()


def _run_chunk(
    pool_id: str,
    initializer: Callable[..., Any] | None,
    initargs: tuple[Any, ...],
    func: Callable[..., Any],
    chunk: list[tuple[tuple[Any, ...], dict[str, Any]]],
) -> list[Any]:
    """A worker's side of one task: the pool's initializer once per process, then the calls."""
    if initializer is not None and pool_id not in _initialized:
        with _init_lock:
            if pool_id not in _initialized:
                initializer(*initargs)
                _initialized.add(pool_id)
    return [func(*args, **kwargs) for args, kwargs in chunk]


class AsyncResult:
    """The result of ``apply_async``/``map_async``/``starmap_async``."""

    def __init__(
        self,
        refs: list[rt.ObjectRef],
        single: bool,
        callback: Callable[[Any], Any] | None,
        error_callback: Callable[[BaseException], Any] | None,
    ) -> None:
        self._refs = refs
        self._single = single
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._callback = callback
        self._error_callback = error_callback
        if refs:
            threading.Thread(target=self._collect, name="pool-result", daemon=True).start()
        else:  # an empty map is done at once (as the standard library's)
            self._value = []
            if callback is not None:
                callback(self._value)
            self._done.set()

    def _collect(self) -> None:
        try:
            chunks = rt.get(self._refs)
            values = [v for chunk in chunks for v in chunk]
            self._value = values[0] if self._single else values
        except BaseException as exc:
            self._error = exc
        try:
            if self._error is None and self._callback is not None:
                self._callback(self._value)
            elif self._error is not None and self._error_callback is not None:
                self._error_callback(self._error)
        finally:
            self._done.set()

    def ready(self) -> bool:
        return self._done.is_set()

    def successful(self) -> bool:
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._error is None

    def wait(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    def get(self, timeout: float | None = None) -> Any:
        if not self._done.wait(timeout):
            raise multiprocessing.TimeoutError
        if self._error is not None:
            raise self._error
        return self._value


class Pool:
    def __init__(
        self,
        processes: int | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: Iterable[Any] = (),
        maxtasksperchild: int | None = None,
        **remote_options: Any,
    ) -> None:
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if maxtasksperchild is not None and (
            not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0
        ):
            raise ValueError("maxtasksperchild must be a positive int or None")
        self._processes = processes or max(1, int(rt.cluster_resources().get("CPU", 1)))
        self._initializer = initializer
        self._maxtasks = maxtasksperchild
        self._initargs = tuple(initargs)
        self._id = uuid.uuid4().hex
        options = {"max_retries": 0, **remote_options}
        if maxtasksperchild:
            options["max_calls"] = maxtasksperchild
        self._remote = rt.remote(**options)(_run_chunk)
        self._slots = threading.Semaphore(self._processes)
        self._state = "RUN"
        self._outstanding: set[rt.ObjectRef] = set()
        self._lock = threading.Lock()

    # --- submission --------------------------------------------------------------------------
    def _check_running(self) -> None:
        if self._state != "RUN":
            raise ValueError("Pool not running")

    def _submit(
        self, func: Callable[..., Any], chunk: list[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> rt.ObjectRef:
        """One task; at most ``processes`` of this pool's tasks run at once."""
        self._slots.acquire()
        try:
            ref: rt.ObjectRef = self._remote.remote(
                self._id, self._initializer, self._initargs, func, chunk
            )
        except rt.SerializationError as exc:  # the stdlib raises what pickling raised
            self._slots.release()
            raise (exc.__cause__ or exc) from None
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._outstanding.add(ref)
        ref.future().add_done_callback(functools.partial(self._finished, ref))
        return ref

    def _finished(self, ref: rt.ObjectRef, _done: object = None) -> None:
        with self._lock:
            self._outstanding.discard(ref)
        self._slots.release()

    def _chunksize(self, items: list[Any], chunksize: int | None) -> int:
        if chunksize is not None:
            if chunksize < 1:
                raise ValueError(f"Chunksize must be 1+, not {chunksize}")
            return chunksize
        if self._maxtasks:  # a worker is replaced after that many calls, as in Ray's Pool
            return 1
        size, extra = divmod(len(items), self._processes * 4)  # the standard library's choice
        return size + 1 if extra else max(1, size)

    def _map_refs(
        self,
        func: Callable[..., Any],
        calls: Iterable[tuple[Any, ...]],
        chunksize: int | None,
    ) -> tuple[list[rt.ObjectRef], BaseException | None]:
        """Submit ``func(*args)`` for each of ``calls`` in chunks, in a thread (the slots may
        make submission wait). Returns the refs, and the error the iterable raised, if any."""
        self._check_running()
        items: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        error: BaseException | None = None
        try:
            for args in calls:
                items.append((tuple(args), {}))
        except Exception as exc:  # results before it still count (imap), as in the stdlib
            error = exc
        size = self._chunksize(items, chunksize)
        if error is not None:  # the chunk being filled when it raised is lost, as in the stdlib
            items = items[: len(items) - len(items) % size]
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        refs = [self._submit(func, chunk) for chunk in chunks]
        return refs, error

    # --- the standard interface --------------------------------------------------------------
    def apply(
        self, func: Callable[..., Any], args: Iterable[Any] = (), kwds: dict[str, Any] | None = None
    ) -> Any:
        return self.apply_async(func, args, kwds).get()

    def apply_async(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] = (),
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
    ) -> AsyncResult:
        self._check_running()
        ref = self._submit(func, [(tuple(args), dict(kwds or {}))])
        return AsyncResult([ref], True, callback, error_callback)

    def map(
        self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None
    ) -> list[Any]:
        values: list[Any] = self.map_async(func, iterable, chunksize).get()
        return values

    def map_async(
        self,
        func: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int | None = None,
        callback: Callable[[Any], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
    ) -> AsyncResult:
        return self._async(func, ((x,) for x in iterable), chunksize, callback, error_callback)

    def starmap(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Iterable[Any]],
        chunksize: int | None = None,
    ) -> list[Any]:
        values: list[Any] = self.starmap_async(func, iterable, chunksize).get()
        return values

    def starmap_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Iterable[Any]],
        chunksize: int | None = None,
        callback: Callable[[Any], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
    ) -> AsyncResult:
        calls = (tuple(args) for args in iterable)
        return self._async(func, calls, chunksize, callback, error_callback)

    def _async(
        self,
        func: Callable[..., Any],
        calls: Iterable[tuple[Any, ...]],
        chunksize: int | None,
        callback: Callable[[Any], Any] | None,
        error_callback: Callable[[BaseException], Any] | None,
    ) -> AsyncResult:
        refs, error = self._map_refs(func, calls, chunksize)
        if error is not None:
            raise error
        return AsyncResult(refs, False, callback, error_callback)

    def imap(
        self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Iterator[Any]:
        """Results in order, each as soon as it and those before it are in."""
        refs, error = self._map_refs(func, ((x,) for x in iterable), chunksize)
        return _ordered(refs, error)

    def imap_unordered(
        self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Iterator[Any]:
        """Results as they come in (a chunk's results together)."""
        refs, error = self._map_refs(func, ((x,) for x in iterable), chunksize)
        return _unordered(refs, error)

    def close(self) -> None:
        """No more work may be submitted; what was submitted finishes."""
        if self._state == "RUN":
            self._state = "CLOSE"

    def terminate(self) -> None:
        """Stop now: cancel the pool's unfinished tasks."""
        self._state = "TERMINATE"
        with self._lock:
            pending = list(self._outstanding)
        for ref in pending:
            rt.cancel(ref, force=False)

    def join(self) -> None:
        """Wait for the submitted work (after ``close`` or ``terminate``)."""
        if self._state == "RUN":
            raise ValueError("Pool is still running")
        with self._lock:
            pending = list(self._outstanding)
        if pending:
            rt.wait(pending, num_returns=len(pending))

    def __enter__(self) -> Pool:
        self._check_running()
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    def __repr__(self) -> str:
        return f"<pymesos_rt Pool state={self._state} processes={self._processes}>"


def _ordered(refs: list[rt.ObjectRef], error: BaseException | None) -> Iterator[Any]:
    for ref in refs:
        yield from rt.get(ref)
    if error is not None:
        raise error


def _arrived(done: queue.SimpleQueue[rt.ObjectRef], ref: rt.ObjectRef, _f: object) -> None:
    done.put(ref)


def _unordered(refs: list[rt.ObjectRef], error: BaseException | None) -> Iterator[Any]:
    done: queue.SimpleQueue[rt.ObjectRef] = queue.SimpleQueue()
    for ref in refs:
        ref.future().add_done_callback(functools.partial(_arrived, done, ref))
    for _ in itertools.repeat(None, len(refs)):
        yield from rt.get(done.get())
    if error is not None:
        raise error


__all__ = ["AsyncResult", "Pool"]
