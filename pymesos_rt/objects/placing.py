"""A client's leases of arena space: where it places small objects itself, with no round trip
to the store per object (the store's side is ``leases.py``).

- The client asks for a lease ahead of need (``Lease``, answered on the reader thread), and for
  the next one once the current lease is half used, so a steady stream of puts never waits. It
  asks after placing an object (:meth:`LeasedSpace.refill`), so an object created one by one is
  allocated (and backed) before the lease, not behind it.
- :meth:`LeasedSpace.carve` takes the next aligned range of the current lease (a bump pointer,
  under a lock: a process's task threads share it); the writer fills it, then :meth:`done`
  reports the object (``SealLeased``, one message, no answer awaited).
- A lease too full for the next object is retired: once its last writer is done the client
  sends ``EndLease`` and the store frees what no object took.
- The store refuses a lease when its arena is short of room, and recalls leases when a create
  waits for room; the client then creates objects one by one (``Create``) and asks again some
  puts later. Objects larger than
  ``MAX_OBJECT`` always go through ``Create`` (their copy costs more than the round trip).

Ordering: a ``SealLeased`` is sent before the writer learns the object's location, so it is on
the store's socket before anyone else can ask for the object; a reader whose ``Get`` still
overtakes it waits for it (the location names the lease).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from pymesos_rt.objects.allocator import aligned
from pymesos_rt.protocol import objects as w

MIB = 2**20


@dataclass(slots=True)
class Held:
    lease: int
    start: int
    end: int
    cursor: int
    fresh: bool  # part of it never held data: objects are written through the descriptor
    writing: int = 0
    retired: bool = False


@dataclass(frozen=True, slots=True)
class Carved:
    held: Held
    offset: int
    size: int


Ask = Callable[[int, Callable[[w.Leased | None], None]], None]


class LeasedSpace:
    WANT = 16 * MIB
    MAX_OBJECT = 4 * MIB
    RETRY_AFTER = 8  # puts to make one by one after a refusal before asking again

    def __init__(self, send: Callable[[w.StoreCall], None], ask: Ask) -> None:
        self._send = send
        self._ask = ask
        self._lock = threading.Lock()
        self._current: Held | None = None
        self._spare: Held | None = None
        self._asking = False
        self._wait = 0
        self.closed = False
        self.carved = 0  # objects placed in leases (for tests and stats)

    def carve(self, size: int) -> Carved | None:
        """A range for a new object of ``size`` bytes, or None (create it one by one)."""
        if size > self.MAX_OBJECT:
            return None
        n = aligned(size)
        ended: list[int] = []
        got: Carved | None = None
        with self._lock:
            while (cur := self._current) is not None:
                if cur.end - cur.cursor >= n:
                    got = Carved(cur, cur.cursor, size)
                    cur.cursor += n
                    cur.writing += 1
                    self.carved += 1
                    break
                cur.retired = True  # too full for this object: the spare takes over
                if not cur.writing:
                    ended.append(cur.lease)
                self._current, self._spare = self._spare, None
        for lease in ended:
            self._send(w.EndLease(lease))
        return got

    def refill(self) -> None:
        """Ask for the next lease if this process is running out of leased space (after an
        object is placed: a ``Create`` waiting for its reply is not held up behind a lease)."""
        with self._lock:
            ask = self._should_ask()
        if ask:
            self._ask(self.WANT, self._granted)

    def done(self, carved: Carved, object_id: str, sealed: bool) -> None:
        """The writer finished (``sealed``) or gave up on a carved range."""
        held = carved.held
        if sealed:
            self._send(w.SealLeased(held.lease, object_id, carved.offset, carved.size))
        with self._lock:
            held.writing -= 1
            end = held.retired and not held.writing
        if end:
            self._send(w.EndLease(held.lease))

    def recall(self, lease: int) -> None:
        """The store wants the lease back: place nothing more in it, and end it."""
        with self._lock:
            found = [h for h in (self._current, self._spare) if h is not None and h.lease == lease]
            for held in found:
                held.retired = True
                if held is self._current:
                    self._current, self._spare = self._spare, None
                else:
                    self._spare = None
            end = bool(found) and not found[0].writing
            self._wait = self.RETRY_AFTER
        if end:
            self._send(w.EndLease(lease))

    def close(self) -> None:
        with self._lock:
            self.closed = True

    def _should_ask(self) -> bool:
        if self._asking or self._spare is not None or self.closed:
            return False
        cur = self._current
        if cur is not None and (cur.end - cur.cursor) * 2 > cur.end - cur.start:
            return False  # more than half of it is left
        if self._wait:
            self._wait -= 1
            return False
        self._asking = True
        return True

    def _granted(self, answer: w.Leased | None) -> None:
        """The store's answer to ``Lease`` (None: the connection ended)."""
        with self._lock:
            self._asking = False
            if answer is None or answer.size == 0 or self.closed:
                self._wait = self.RETRY_AFTER
                return
            end = answer.offset + answer.size
            held = Held(answer.lease, answer.offset, end, answer.offset, answer.fresh)
            if self._current is None:
                self._current = held
            else:
                self._spare = held
