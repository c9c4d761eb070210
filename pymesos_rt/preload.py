"""Modules an executor imports before its first task needs them.

A value holding numpy arrays cannot be unpickled before numpy is imported, and numpy's first
import in a fresh executor (40-110 ms here) would otherwise land inside the first task that
receives or returns an array. The driver names the modules (``Preload``) to each executor as it
connects and to all of them when the list grows: by default those of :data:`AUTO` that the
driver has imported itself (checked on the driver's tick and when it stores a large value);
``PYMESOS_RT_PRELOAD`` in the driver's environment (comma-separated) replaces that choice, and
an empty value turns preloading off.

An executor imports them (:class:`Preloader`) once it has been idle for ``IDLE_S``: no task
queued or running, no actor hosted, its runtime env set up (a module that env ships must win
over the default one), no message for that long. Two threads importing one package at once
can see it half-initialized (CPython takes a submodule's import lock before its parent's), so
while the preloader imports, every unpickling in the process but its own waits
(``serialization.hold``); whatever arrived meanwhile starts once the import is done. An
executor that becomes an actor's host stops preloading (:meth:`Preloader.stop`).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping

from pymesos_rt import serialization

log = logging.getLogger(__name__)

PRELOAD_ENV = "PYMESOS_RT_PRELOAD"
AUTO = ("numpy",)  # what the object store's zero-copy values are made of
IDLE_S = 0.25  # a quarter second with nothing to do: a gap, not a pause inside a burst


def wanted(
    environ: Mapping[str, str] = os.environ, modules: Mapping[str, object] = sys.modules
) -> list[str]:
    """What the driver asks its executors to import ahead of need."""
    chosen = environ.get(PRELOAD_ENV)
    if chosen is not None:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return [name for name in AUTO if name in modules]


class Preloader:
    """Imports the modules it is asked for on a thread of its own, when ``idle()`` holds and
    nothing was received for ``idle_s`` (:meth:`activity`)."""

    def __init__(self, idle: Callable[[], bool], idle_s: float = IDLE_S) -> None:
        self._idle = idle
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._wanted: list[str] = []
        self._thread: threading.Thread | None = None
        self._busy_at = time.monotonic()
        self._stopped = threading.Event()

    def activity(self) -> None:
        """Something arrived for this executor: wait ``idle_s`` more before importing."""
        self._busy_at = time.monotonic()

    def want(self, names: list[str]) -> None:
        with self._lock:
            self._wanted += [n for n in names if n not in sys.modules and n not in self._wanted]
            if not self._wanted or self._thread is not None or self._stopped.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="preload", daemon=True)
            self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until nothing is left to import (for tests); True if so."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._thread is None

    def stop(self) -> None:
        """Import nothing more (an import under way finishes)."""
        self._stopped.set()

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                wait = self._busy_at + self._idle_s - time.monotonic()
                if wait > 0:
                    self._stopped.wait(wait)
                elif not self._idle():
                    self.activity()  # busy without messages (a long task): look again later
                elif not self._import_held():
                    return
        finally:
            with self._lock:
                self._thread = None

    def _import_held(self) -> bool:
        """Import what is wanted, unpickling held, unless something started meanwhile (then
        later). False once nothing is left."""
        with serialization.hold():
            quiet = time.monotonic() - self._busy_at >= self._idle_s
            if not quiet or not self._idle() or self._stopped.is_set():
                return True  # a message or task came between the looks: it goes first
            with self._lock:
                names, self._wanted = self._wanted, []
            for name in names:
                try:
                    importlib.import_module(name)
                except Exception as exc:  # a module the driver has may be missing here
                    log.info("cannot preload %s: %s", name, exc)
        with self._lock:
            return bool(self._wanted)
