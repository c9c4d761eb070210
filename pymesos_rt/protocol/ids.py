"""Identifiers used on the wire: plain strings with a readable prefix.

Imports nothing of the package.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading


def new_id(prefix: str) -> str:
    """A random, globally unique id such as ``agent-1f3a9c0b7d2e``."""
    return f"{prefix}-{secrets.token_hex(6)}"


class IdSequence:
    """Unique ids ``<prefix>.<n>`` from a counter; thread-safe and cheap (no syscalls)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            n = next(self._counter)
        return f"{self.prefix}.{n}"


def process_prefix() -> str:
    """A short prefix unique to this process (pid plus random bits)."""
    return f"{os.getpid():x}{secrets.token_hex(3)}"


def return_id(task_id: str, index: int) -> str:
    """The object id of return ``index`` of a call that has several (``num_returns`` > 1)."""
    return f"{task_id}~{index}"


def return_ids(task_id: str, num_returns: int) -> list[str]:
    """The object ids a task completes: :func:`return_id` of each of ``num_returns > 1``
    returns, else the task's own id (one return; none, whose object the caller never sees;
    or a generator, whose object ends its stream)."""
    if num_returns > 1:
        return [return_id(task_id, i) for i in range(num_returns)]
    return [task_id]


def item_id(task_id: str, index: int) -> str:
    """The object id of item ``index`` of a generator task."""
    return f"{task_id}.y{index}"
