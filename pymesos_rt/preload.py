"""Modules an executor imports before its first task needs them.

A value holding numpy arrays cannot be unpickled before numpy is imported, and numpy's first
import in a fresh executor (40-110 ms here) would otherwise land inside the first task that
receives or returns an array. The driver names the modules (``Preload``) to each executor as it
connects and to all of them when the list grows: by default those of :data:`AUTO` that the
driver has imported itself (checked on the driver's tick and when it stores a large value);
``PYMESOS_RT_PRELOAD`` in the driver's environment (comma-separated) replaces that choice, and
an empty value turns preloading off. An executor imports them on a thread of its own, so a task
that needs none of them does not wait; one that needs one waits for that import as it would
for any other (the import lock).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)

PRELOAD_ENV = "PYMESOS_RT_PRELOAD"
AUTO = ("numpy",)  # what the object store's zero-copy values are made of


def wanted(
    environ: Mapping[str, str] = os.environ, modules: Mapping[str, object] = sys.modules
) -> list[str]:
    """What the driver asks its executors to import ahead of need."""
    chosen = environ.get(PRELOAD_ENV)
    if chosen is not None:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return [name for name in AUTO if name in modules]


def start(names: list[str]) -> threading.Thread | None:
    """Import the modules of ``names`` not imported yet, on a daemon thread (None: none)."""
    missing = [name for name in names if name not in sys.modules]
    if not missing:
        return None
    thread = threading.Thread(target=_import_all, args=(missing,), name="preload", daemon=True)
    thread.start()
    return thread


def _import_all(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module the driver has may be missing here
            log.info("cannot preload %s: %s", name, exc)
