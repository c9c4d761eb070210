"""The connection interface every transport implements.

A :class:`Connection` carries lists of typed messages (a batch per frame) in both directions.
Sending never blocks: messages are queued and flushed once per event-loop iteration, so many small
messages become one frame. Incoming batches and the close are reported to a :class:`Receiver`.
All methods are called on the event loop's thread.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
from typing import Any, Protocol

_ids = itertools.count(1)


class Receiver(Protocol):
    def on_messages(self, conn: Connection, messages: list[Any]) -> None: ...

    def on_closed(self, conn: Connection, reason: str) -> None: ...


class Connection(abc.ABC):
    """One end of a connection; ``id`` is unique in this process."""

    def __init__(self, kind: str) -> None:
        self.id = f"{kind}#{next(_ids)}"
        self.closed = False
        self.receiver: Receiver | None = None
        self._outbox: list[Any] = []
        self._flush_scheduled = False
        self.peer = ""

    def send(self, message: Any) -> None:
        self.send_many([message])

    def send_many(self, messages: list[Any]) -> None:
        if self.closed or not messages:
            return
        self._outbox.extend(messages)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        """Write what is queued now, instead of at the end of this loop iteration."""
        batch, self._outbox = self._outbox, []
        if batch and not self.closed:
            self._write(batch)

    @abc.abstractmethod
    def _write(self, batch: list[Any]) -> None:
        """Deliver one batch to the peer."""

    @abc.abstractmethod
    def close(self, reason: str = "") -> None:
        """Close both directions after writing what is queued; the receiver's ``on_closed``
        runs once."""

    def _deliver(self, batch: list[Any]) -> None:
        if self.receiver is not None and not self.closed:
            self.receiver.on_messages(self, batch)

    def _closed(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._outbox.clear()
        if self.receiver is not None:
            self.receiver.on_closed(self, reason)

    def __repr__(self) -> str:
        return f"<{self.id} {self.peer}>"
