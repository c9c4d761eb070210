"""``rt.Executor``: the cluster as a ``concurrent.futures.Executor``.

It behaves as ``ProcessPoolExecutor`` does (CPython's own executor tests run against it, see
``integration/test_cpython_futures.py``):
- ``submit`` never blocks. At most ``max_workers`` of its tasks are in the cluster at once; the
  rest wait here, PENDING, and can be cancelled. A future is RUNNING from when its task is
  handed to the cluster (it may still wait there for a free executor, as work items wait in a
  process pool's call queue) and can no longer be cancelled then.
- The callable and its arguments are pickled at ``submit`` (an unpicklable one raises there)
  and travel with the task, through one remote trampoline (:func:`_call`): nothing keeps the
  callables submitted, in this process or in executors.
- ``initializer(*initargs)`` runs once in each executor process before the first task of this
  Executor there; if it raises, the executor is broken (``BrokenExecutor``) as a pool is.
- ``shutdown(wait=True)`` waits for every submitted future; ``cancel_futures=True`` cancels
  those still waiting here. At interpreter exit the futures already submitted are waited for
  (before ``rt.shutdown`` runs), and later submissions raise ``RuntimeError``.
"""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client.options import RemoteOptions
from pymesos_rt.client.refs import ObjectRef, decode
from pymesos_rt.client.remote_function import RemoteFunction
from pymesos_rt.protocol.objects import Payload

Future = concurrent.futures.Future

_exiting = False  # the interpreter is shutting down: no new futures
_live: weakref.WeakSet[Executor] = weakref.WeakSet()
_exit_lock = threading.Lock()


class InitializerError(concurrent.futures.BrokenExecutor):
    """An Executor's ``initializer`` raised in an executor process."""


# --- in the executor process ------------------------------------------------------------------
_initialized: set[str] = set()  # keys of the Executors whose initializer ran in this process
_init_lock = threading.Lock()


def _call(
    key: str,
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
    fn: Callable[..., Any],
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """The remote trampoline: run this Executor's initializer once in this process, then
    ``fn(*args, **kwargs)``."""
    if initializer is not None and key not in _initialized:
        with _init_lock:
            if key not in _initialized:
                try:
                    initializer(*initargs)
                except Exception as exc:
                    raise InitializerError(
                        f"the initializer {_name(initializer)} raised {exc!r}; "
                        "the executor is not usable anymore"
                    ) from exc
                _initialized.add(key)
    return fn(*args, **kwargs)


# --- in the caller's process ------------------------------------------------------------------
@dataclass(frozen=True)
class _Item:
    future: Future[Any]
    call: backend_mod.PickledCall
    options: backend_mod.TaskOptions


class Executor(concurrent.futures.Executor):
    """``submit``/``map``/``shutdown`` backed by remote tasks. ``max_workers`` caps how many
    tasks of this executor are in the cluster at once (None: no cap). ``options`` are those of
    ``@rt.remote`` (``num_cpus``, ``memory``, ``resources``, ``max_retries``...)."""

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        **options: Any,
    ) -> None:
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max = max_workers
        self._options = RemoteOptions().merged(**options)
        self._remote = RemoteFunction(_call, self._options)  # pickles the trampoline once
        self._task_options: dict[str, backend_mod.TaskOptions] = {}
        self._options_backend: backend_mod.Backend | None = None
        self._key = uuid.uuid4().hex
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._lock = threading.Lock()
        self._queue: deque[_Item] = deque()  # submitted, waiting here for a slot (PENDING)
        self._in_cluster = 0
        self._outstanding: set[Future[Any]] = set()  # not done: queued or in the cluster
        self._closed = False
        self._broken = ""
        with _exit_lock:
            _live.add(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self._check_open()
        call, options = self._prepare(fn, args, kwargs)
        fut: Future[Any] = Future()
        with self._lock:
            self._check_open()
            self._outstanding.add(fut)
            if self._max is not None and self._in_cluster >= self._max:
                self._queue.append(_Item(fut, call, options))
                return fut
            fut.set_running_or_notify_cancel()
            self._in_cluster += 1
        self._send(_Item(fut, call, options))
        return fut

    def _check_open(self) -> None:
        if self._broken:
            raise concurrent.futures.BrokenExecutor(self._broken)
        if self._closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _exiting:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def _prepare(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[backend_mod.PickledCall, backend_mod.TaskOptions]:
        if not callable(fn):
            raise TypeError(f"submit() takes a callable, got {type(fn).__name__}")
        fn_id, fn_bytes = self._remote._function_bytes()
        head = (self._key, self._initializer, self._initargs, fn)
        data, deps = serialization.dumps_args((*head, *args), kwargs)
        return backend_mod.PickledCall(fn_id, fn_bytes, data, deps), self._options_for(fn)

    def _options_for(self, fn: Callable[..., Any]) -> backend_mod.TaskOptions:
        """The task options of a call of ``fn``: the Executor's, named after ``fn`` (one per
        name of a callable submitted: a bounded set; made again for a new runtime)."""
        backend = backend_mod.current()
        if self._options_backend is not backend:
            self._task_options, self._options_backend = {}, backend
        name = _name(fn)
        options = self._task_options.get(name)
        if options is None:
            put = lambda data: ObjectRef(backend.put(data), backend)  # noqa: E731
            options = self._options.merged(name=name).task_options(_call, put, backend)
            self._task_options[name] = options
        return options

    def _send(self, item: _Item) -> None:
        """Hand one task to the cluster; its end frees the slot for the next waiting one."""
        try:
            backend = backend_mod.current()
            backend.check_shape(item.options.shape)
            ref = ObjectRef(backend.submit(item.call, item.options), backend)
        except BaseException as exc:
            self._settle(item.future, exc=exc)
            return

        def done(oid: str, state: int, payload: Payload) -> None:
            _ = ref  # holds the object until its value is taken
            try:
                value = decode(state, payload, oid, backend)
            except BaseException as exc:
                self._settle(item.future, exc=exc)
            else:
                self._settle(item.future, value=value)

        backend.on_done(ref.object_id, done)

    def _settle(
        self, fut: Future[Any], value: Any = None, exc: BaseException | None = None
    ) -> None:
        if isinstance(exc, InitializerError):
            self._break(str(exc))
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)
        nxt: _Item | None = None
        with self._lock:
            self._outstanding.discard(fut)
            self._in_cluster -= 1
            while self._queue:
                item = self._queue.popleft()
                if item.future.set_running_or_notify_cancel():
                    self._in_cluster += 1
                    nxt = item
                    break
                self._outstanding.discard(item.future)  # cancelled while it waited
        if nxt is not None:
            self._send(nxt)

    def _break(self, why: str) -> None:
        """An initializer failed: fail what still waits here, refuse new work."""
        with self._lock:
            self._broken = why
            waiting, self._queue = list(self._queue), deque()
            for item in waiting:
                self._outstanding.discard(item.future)
        for item in waiting:
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(concurrent.futures.BrokenExecutor(why))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                waiting, self._queue = list(self._queue), deque()
                for item in waiting:
                    if item.future.cancel():
                        item.future.set_running_or_notify_cancel()  # wakes wait()ers
                    self._outstanding.discard(item.future)
            pending = list(self._outstanding)
        if wait:
            concurrent.futures.wait(pending)

    def _wait_at_exit(self) -> None:
        with self._lock:
            pending = list(self._outstanding)
        concurrent.futures.wait(pending)


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "callable")


def _python_exit() -> None:
    """At interpreter exit (before ``atexit`` handlers, so before ``rt.shutdown``): refuse new
    futures and let those already submitted finish, as the stdlib's executors do."""
    global _exiting
    with _exit_lock:
        _exiting = True
        executors = list(_live)
    for executor in executors:
        executor._wait_at_exit()


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]
