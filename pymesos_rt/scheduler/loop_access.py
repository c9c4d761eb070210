"""How the driver reaches its event loop from other threads.

The driver's code runs as loop code: on the loop's thread, or on a user thread that runs the
loop while it waits for results (``client/loop.py``: the loop goes to the thread that waits).
:class:`LoopAccess` says which thread is running loop code now, hands work to the loop, and lets
a thread that owns the idle loop run work at once instead of handing it over.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Protocol


class LoopAccess(Protocol):
    def holding(self) -> bool:
        """Whether this thread is running loop code now."""

    def run_here(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` as loop code now if this thread owns the idle loop; False if it does not
        (``fn`` did not run)."""

    def call_soon_threadsafe(
        self, fn: Callable[..., object], *args: object, context: contextvars.Context | None = None
    ) -> None:
        """Run ``fn(*args)`` on the loop soon (from any thread)."""


class LoopOnItsThread:
    """The plain case: one thread runs the loop, always (tests, and drivers started without a
    ``LoopThread``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: int) -> None:
        self.loop, self.thread = loop, thread

    def holding(self) -> bool:
        return threading.get_ident() == self.thread

    def run_here(self, fn: Callable[[], None]) -> bool:
        return False

    def call_soon_threadsafe(
        self, fn: Callable[..., object], *args: object, context: contextvars.Context | None = None
    ) -> None:
        self.loop.call_soon_threadsafe(fn, *args, context=context)
