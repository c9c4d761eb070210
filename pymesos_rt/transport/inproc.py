"""An in-process transport: two :class:`InprocConnection` ends joined in one event loop.

Messages are handed over as objects (no encoding), one batch per loop iteration, and delivered
with ``call_soon`` so a handler never runs inside the sender's call stack.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymesos_rt.transport.base import Connection


class InprocConnection(Connection):
    def __init__(self) -> None:
        super().__init__("inproc")
        self.other: InprocConnection | None = None
        self.peer = "inproc"

    def _write(self, batch: list[Any]) -> None:
        other = self.other
        if other is not None and not other.closed:
            asyncio.get_running_loop().call_soon(other._deliver, batch)

    def close(self, reason: str = "") -> None:
        if self.closed:
            return
        self.flush()  # what was sent before the close still goes out
        other = self.other
        loop = asyncio.get_running_loop()
        loop.call_soon(self._closed, reason or "closed")
        if other is not None:
            loop.call_soon(other._closed, reason or "closed by peer")


def pipe() -> tuple[InprocConnection, InprocConnection]:
    """Two connected ends."""
    a, b = InprocConnection(), InprocConnection()
    a.other, b.other = b, a
    return a, b
