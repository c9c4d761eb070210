"""Starting processes from a thread that lives as long as this process.

An executor asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``, see
``executor/__main__.py``), and to the kernel the parent is the *thread* that forked it. The
agent's code runs as loop code, and the loop may run on a user thread that waits for a result
(``client/loop.py``), such as a ``multiprocessing.Pool``'s short-lived result thread: an
executor forked there is killed when that thread ends. So every fork goes through
:func:`call`, which runs it on the main thread's behalf or on one long-lived daemon thread.
"""

from __future__ import annotations

import concurrent.futures
import queue
import subprocess
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_jobs: queue.SimpleQueue[tuple[Callable[[], object], concurrent.futures.Future[object]]] = (
    queue.SimpleQueue()
)
_thread: threading.Thread | None = None
_lock = threading.Lock()


def call(fn: Callable[[], T]) -> T:
    """``fn()`` (which forks) on a thread that lives as long as this process; returns its
    result or raises its exception."""
    here = threading.current_thread()
    if here is threading.main_thread() or here is _thread:
        return fn()
    future: concurrent.futures.Future[object] = concurrent.futures.Future()
    _jobs.put((fn, future))
    _start()
    return future.result()  # type: ignore[return-value]


def popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **kwargs)``, forked through :func:`call`."""
    return call(lambda: subprocess.Popen(argv, **kwargs))


def _start() -> None:
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_serve, name="pymesos-rt-spawner", daemon=True)
            _thread.start()


def _serve() -> None:
    while True:
        fn, future = _jobs.get()
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)
