"""The driver's generator streams: items of generator tasks as they are yielded.

A generator task (``num_returns`` STREAMING or DYNAMIC) reports item ``i`` as
:class:`~pymesos_rt.protocol.messages.Yielded`; the item is the object
``ids.item_id(task_id, i)`` in the :class:`ObjectTable`. Rules kept here:

- Items are kept in index order, the first report of each index wins (a retried task yields
  its items again), and nothing is added once the stream has ended.
- The stream ends when its task does. A failed task (its own error, cancelled, executor lost
  with no retries left) adds one more item holding that error, then ends.
- A DYNAMIC task's own object becomes, when it ends, the pickled list of its item refs
  (``dynamic_value``); a STREAMING task's own object is the number of items.
- Items of a stream owned by this driver's user (an ``ObjectRefGenerator`` here) are stored
  with one reference, which the generator hands to the ``ObjectRef`` it returns or releases
  when dropped (``close``); items of other streams are kept for the session.

Waiters (``next``/``on_next``) run on any thread; reports come from the loop thread. One lock,
held for a few dictionary operations; callbacks run outside it. ``close`` comes from
``ObjectRefGenerator.__del__``, which the garbage collector may run on a thread that already
holds this lock (an allocation inside ``item``), so it never waits for the lock: it queues the
close, applies it at once only if the lock is free, and otherwise the next holder applies it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import item_id
from pymesos_rt.protocol.objects import Payload
from pymesos_rt.scheduler.objects import FAILED, ObjectTable, Waiter

END = ""  # what next/on_next report once the stream has ended
NextCallback = Callable[[str], None]


@dataclass
class _Stream:
    kind: int  # m.STREAMING or m.DYNAMIC
    owned: bool  # an ObjectRefGenerator in this process holds it
    count: int = 0
    ended: bool = False
    closed: bool = False  # the generator was dropped: later items are not kept
    waiters: dict[int, list[NextCallback]] = field(default_factory=dict)


class StreamTable:
    def __init__(self, table: ObjectTable, dynamic_value: Callable[[list[str]], bytes]) -> None:
        self._table = table
        self._dynamic_value = dynamic_value
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._closes: deque[tuple[str, int]] = deque()  # see close()

    def open(self, task_id: str, kind: int, owned: bool) -> None:
        with self._lock:
            self._apply_closes_locked()
            self._streams[task_id] = _Stream(kind, owned and kind == m.STREAMING)

    def is_stream(self, task_id: str) -> bool:
        return task_id in self._streams

    # --- reports (loop thread) ---------------------------------------------------------------
    def item(self, task_id: str, index: int, state: int, payload: Payload) -> str | None:
        """Store item ``index`` if it is the next one; returns its object id if stored."""
        with self._lock:
            self._apply_closes_locked()
            stream = self._streams.get(task_id)
            if stream is None or stream.ended or index != stream.count:
                return None
            oid = item_id(task_id, index)
            stream.count += 1
            keep = not stream.closed
            if keep:
                self._table.create(oid, refs=1 if stream.owned else 0, escaped=not stream.owned)
            waiters = stream.waiters.pop(index, [])
        if keep:
            self._table.complete(oid, state, payload)
        for callback in waiters:
            callback(oid)
        return oid if keep else None

    def end(self, task_id: str, error: bytes | None) -> tuple[str | None, Payload | None]:
        """The task ended (with ``error``: it failed). Returns the object id of the error item
        it added, if any, and for a DYNAMIC task the value its own object takes instead."""
        error_item = self.item(task_id, self._count(task_id), FAILED, error) if error else None
        with self._lock:
            self._apply_closes_locked()
            stream = self._streams.get(task_id)
            if stream is None or stream.ended:
                return None, None
            stream.ended = True
            waiters = [cb for callbacks in stream.waiters.values() for cb in callbacks]
            stream.waiters.clear()
            count, kind = stream.count, stream.kind
            if stream.closed:
                del self._streams[task_id]
        for callback in waiters:
            callback(END)
        value = None
        if kind == m.DYNAMIC:
            value = self._dynamic_value([item_id(task_id, i) for i in range(count)])
        return error_item, value

    def count(self, task_id: str) -> int:
        """Items stored so far."""
        return self._count(task_id)

    def _count(self, task_id: str) -> int:
        with self._lock:
            self._apply_closes_locked()
            stream = self._streams.get(task_id)
            return 0 if stream is None else stream.count

    # --- the consumer (any thread) -----------------------------------------------------------
    def on_next(self, task_id: str, index: int, callback: NextCallback) -> None:
        """``callback(object id)`` once item ``index`` exists, or ``callback(END)`` if the
        stream ends before it (now, if either is already so)."""
        with self._lock:
            self._apply_closes_locked()
            stream = self._streams.get(task_id)
            if stream is not None and index >= stream.count and not stream.ended:
                stream.waiters.setdefault(index, []).append(callback)
                return
            exists = stream is not None and index < stream.count
        callback(item_id(task_id, index) if exists else END)

    def next(self, task_id: str, index: int, timeout: float | None) -> str | None:
        """Item ``index``'s object id, END, or None if ``timeout`` passed first."""
        found: list[str] = []
        waiter = Waiter(1)

        def deliver(oid: str) -> None:
            found.append(oid)
            waiter.hit()

        self.on_next(task_id, index, deliver)
        if not self._table.block(waiter, timeout):
            with self._lock:
                self._apply_closes_locked()
                stream = self._streams.get(task_id)
                if stream is not None and deliver in stream.waiters.get(index, []):
                    stream.waiters[index].remove(deliver)
            if not waiter.event.is_set():
                return None
        return found[0]

    def close(self, task_id: str, consumed: int) -> None:
        """The owner dropped its generator after taking ``consumed`` items: release the rest.

        Never waits for the lock (it runs from ``__del__``): queued, and applied now only if
        the lock is free."""
        self._closes.append((task_id, consumed))
        if self._lock.acquire(blocking=False):
            try:
                self._apply_closes_locked()
            finally:
                self._lock.release()

    def _apply_closes_locked(self) -> None:
        while self._closes:
            task_id, consumed = self._closes.popleft()
            stream = self._streams.get(task_id)
            if stream is None or stream.closed:
                continue
            stream.closed = True
            left = range(consumed, stream.count) if stream.owned else range(0)
            if stream.ended:
                del self._streams[task_id]
            for index in left:  # ObjectTable.release takes no lock
                self._table.release(item_id(task_id, index))
            self._table.release(task_id)

    def __len__(self) -> int:
        return len(self._streams)


__all__ = ["END", "StreamTable"]
