"""Results this executor produced lately, kept for tasks chained behind their producers.

The driver may send a task to the executor that is still computing its arguments (chained
dispatch: no round trip through the driver between dependent tasks). Such a task names those
arguments in ``RunTask.local_deps`` and finds them here. Bounded by count and by inline bytes
(large results are store files, kept here by path only).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from pymesos_rt.protocol import messages as m

MAX_ENTRIES = 512
MAX_INLINE_BYTES = 64 * 2**20


class RecentResults:
    def __init__(self, blocked: Callable[[int], None]) -> None:
        self._blocked = blocked
        self._items: OrderedDict[str, m.ObjectBlob] = OrderedDict()
        self._bytes = 0
        self._cv = threading.Condition()

    def add(self, blob: m.ObjectBlob) -> None:
        with self._cv:
            self._items[blob.object_id] = blob
            self._bytes += len(blob.data)
            while len(self._items) > MAX_ENTRIES or self._bytes > MAX_INLINE_BYTES:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old.data)
            self._cv.notify_all()

    def wait_for(self, oid: str, timeout: float = 3600.0) -> m.ObjectBlob:
        """The result of ``oid``; waits (giving the task's slot back) if its producer, queued
        before the caller, is still running (it may be blocked in ``get``)."""
        with self._cv:
            found = self._items.get(oid)
            if found is not None:
                return found
        self._blocked(+1)
        try:
            with self._cv:
                if not self._cv.wait_for(lambda: oid in self._items, timeout):
                    raise RuntimeError(f"chained argument {oid} was never produced here")
                return self._items[oid]
        finally:
            self._blocked(-1)

    def __len__(self) -> int:
        return len(self._items)
