"""``rt.Executor``: the cluster as a ``concurrent.futures.Executor``."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

from pymesos_rt.client.options import RemoteOptions
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.client.remote_function import RemoteFunction


class Executor(concurrent.futures.Executor):
    """``submit``/``map``/``shutdown`` backed by remote tasks. ``max_workers`` caps how many
    tasks of this executor are in flight at once (None: as many as the cluster runs)."""

    def __init__(self, max_workers: int | None = None, **options: Any) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self._options = RemoteOptions().merged(**options)
        self._slots = threading.BoundedSemaphore(max_workers) if max_workers else None
        self._functions: dict[Any, RemoteFunction[Any, Any]] = {}
        self._futures: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit after shutdown")
            rf = self._functions.get(fn)
            if rf is None:
                rf = self._functions[fn] = RemoteFunction(fn, self._options)
        if self._slots is not None:
            self._slots.acquire()
        try:
            ref: ObjectRef = rf.remote(*args, **kwargs)
            fut = ref.future()
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise
        with self._lock:
            self._futures.add(fut)
        fut.add_done_callback(self._finished)
        return fut

    def _finished(self, fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._futures.discard(fut)
        if self._slots is not None:
            self._slots.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pending = list(self._futures)
        if cancel_futures:
            for fut in pending:
                fut.cancel()
        if wait:
            concurrent.futures.wait(pending)
