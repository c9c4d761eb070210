"""The driver's object table: values and errors of objects by id, shared between threads.

The user's threads create entries (``create``/``put``) and block on them (``get_many``,
``wait``); loop code completes them. Every method takes the table's one lock for a few
dictionary operations only; blocking happens on per-call :class:`threading.Event`s, or, with a
:class:`LoopRunner` (``runner``), by running the event loop on the waiting thread until the
event is set (the loop goes to the thread that waits: see ``client/loop.py``).

Lifetime: an entry lives while live ``ObjectRef`` objects in this process point to it
(``refs``), tasks that take it as an argument are unfinished (``pins``), executors hold
references to it (``borrowers``: counted per executor from ``Borrow``/``Unborrow``, dropped when
the executor is gone), live objects whose values contain a reference to it exist (``holders``),
or a reference to it was pickled by code other than the runtime's (``escaped``: kept for the
session); then it is freed, the objects its value referenced lose a holder, and its id is
reported by :meth:`drain_freed` (and its store location by :meth:`drain_dropped`).

:meth:`release` runs from ``ObjectRef.__del__``, that is inside whatever allocation set off the
garbage collector, possibly while this very thread holds the table's lock: it only queues the
id (a deque append never blocks), and the queue is applied by the next :meth:`create`/
:meth:`put` and by :meth:`drain_freed`, which the driver calls four times a second.
"""

from __future__ import annotations

import operator
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import compress, islice
from typing import Protocol, cast

from pymesos_rt.protocol.objects import ObjectLocation, Payload

PENDING, READY, FAILED = 0, 1, 2  # PENDING must stay 0 (falsy): wait() relies on it
PROGRESS_EVERY_S = 0.1  # how often a waiting call with a progress display reports

Callback = Callable[[str, int, Payload], None]
Progress = Callable[[int], None]  # called with how many of the awaited objects are done
Read = Callable[[str, ObjectLocation], None]  # reads a stored object ahead (see get_many)
_STATE = operator.attrgetter("state")


class Waiter:
    """What a thread waits for: ``remaining`` hits, then ``event`` is set (and ``wake``
    called: a thread running the loop until then stops it)."""

    __slots__ = ("arrival", "event", "remaining", "stored", "wake")

    def __init__(self, remaining: int, read_ahead: bool = False) -> None:
        self.remaining = remaining
        self.event = threading.Event()
        self.wake: Callable[[], None] | None = None  # set by a thread running the loop for it
        # stored objects that became ready, for the waiting thread to read meanwhile, and what
        # wakes it for them (``event`` means: all done)
        self.stored: deque[tuple[str, ObjectLocation]] | None = deque() if read_ahead else None
        self.arrival: threading.Event | None = threading.Event() if read_ahead else None

    def hit(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.event.set()
            if self.arrival is not None:
                self.arrival.set()
            if self.wake is not None:
                self.wake()

    def arrived(self, oid: str, data: ObjectLocation) -> None:
        """A stored object is ready: the waiting thread reads it while it waits for the rest
        (a thread running the loop for this waiter leaves the loop to do so)."""
        assert self.stored is not None and self.arrival is not None
        self.stored.append((oid, data))
        self.arrival.set()
        if self.wake is not None:
            self.wake()


class LoopRunner(Protocol):
    """Lets a waiting thread run the event loop itself (``client/loop.py``)."""

    def wait_for(self, waiter: Waiter, deadline: float | None) -> bool | None:
        """Run the loop here until ``waiter`` is done (True) or ``deadline`` (False); None if
        this thread may not run it now."""

    def waiting(self, delta: int) -> None:
        """A thread starts (+1) or stops (-1) waiting without running the loop."""


@dataclass(slots=True, eq=False)  # identity equality: `None in entries` stays C-fast
class _Entry:
    state: int = PENDING
    data: Payload = b""
    refs: int = 0
    pins: int = 0
    escaped: bool = False
    waiters: list[Waiter] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    borrowers: dict[str, int] | None = None  # executor id -> references it holds
    holders: int = 0  # live objects whose values contain a reference to this one
    contained: list[str] | None = None  # objects this one's value references


def _first_done(oids: list[str], entries: list[_Entry], count: int) -> set[str]:
    """The first ``count`` ids (in order) whose entry is done; stops as soon as it has them."""
    return set(islice(compress(oids, map(_STATE, entries)), count))  # PENDING is 0: falsy


class ObjectTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._freed: list[str] = []
        self._dropped: list[tuple[str, ObjectLocation]] = []  # freed objects held by stores
        self._borrows: dict[str, dict[str, int]] = {}  # executor id -> object id -> count
        self._released: deque[str] = deque()  # see release()
        self.runner: LoopRunner | None = None  # lets a waiting thread run the loop

    # --- creation and completion -------------------------------------------------------------
    def create(
        self, oid: str, *, refs: int = 1, escaped: bool = False, borrower: str | None = None
    ) -> None:
        with self._lock:
            self._apply_releases_locked()
            entry = self._entries[oid] = _Entry(refs=refs, escaped=escaped)
            if borrower is not None:
                self._borrow_locked(borrower, oid, entry)

    def put(
        self,
        oid: str,
        data: Payload,
        *,
        refs: int = 1,
        escaped: bool = False,
        borrower: str | None = None,
        contained: list[str] | None = None,
    ) -> None:
        with self._lock:
            self._apply_releases_locked()
            entry = _Entry(state=READY, data=data, refs=refs, escaped=escaped)
            self._entries[oid] = entry
            if borrower is not None:
                self._borrow_locked(borrower, oid, entry)
            if contained:
                self._hold_locked(entry, contained)

    def complete(
        self, oid: str, state: int, data: Payload, contained: list[str] | None = None
    ) -> bool:
        """Set an entry READY or FAILED once; False if it was already done or is unknown."""
        with self._lock:
            entry = self._entries.get(oid)
            if entry is None or entry.state != PENDING:
                return False
            entry.state, entry.data = state, data
            if contained:
                self._hold_locked(entry, contained)
            waiters, entry.waiters = entry.waiters, []
            callbacks, entry.callbacks = entry.callbacks, []
            for waiter in waiters:
                if waiter.stored is not None and state == READY and type(data) is ObjectLocation:
                    waiter.arrived(oid, data)
                waiter.hit()
            self._maybe_free(oid, entry)
        for cb in callbacks:
            cb(oid, state, data)
        return True

    # --- reading -----------------------------------------------------------------------------
    def peek(self, oid: str) -> tuple[int, Payload] | None:
        with self._lock:
            entry = self._entries.get(oid)
            return None if entry is None else (entry.state, entry.data)

    def get_many(
        self,
        oids: list[str],
        timeout: float | None,
        progress: Progress | None = None,
        read: Read | None = None,
    ) -> list[tuple[int, Payload]] | None:
        """States and data of all ``oids`` once all are done; None on timeout. An interrupt
        (``KeyboardInterrupt``) while waiting leaves the table as it was.

        ``read``: while some are still awaited, called on this thread with each stored object
        among them that is ready (those ready already first, then each as it completes), so
        the caller reads values while the rest are being made (the loop's own thread runs the
        loop meanwhile)."""
        with self._lock:
            entries = [self._entry(oid) for oid in oids]
            pending = [e for e in entries if e.state == PENDING]
            waiter = Waiter(len(pending), read_ahead=read is not None and bool(pending))
            for entry in pending:
                entry.waiters.append(waiter)
            if waiter.stored is not None:
                waiter.stored.extend(
                    (oid, e.data)
                    for oid, e in zip(oids, entries, strict=True)
                    if e.state == READY and type(e.data) is ObjectLocation
                )
        try:
            done_before = len(oids) - len(pending)
            if pending and not self._block(waiter, timeout, done_before, progress, read):
                return None
        finally:
            self._forget(waiter, pending)
        with self._lock:
            return [(self._entries[oid].state, self._entries[oid].data) for oid in oids]

    def block(self, waiter: Waiter, timeout: float | None) -> bool:
        """Wait until ``waiter`` is hit (True) or ``timeout`` passes (False); by running the
        loop on this thread when the runner lets it (for waits besides ``get``/``wait``, such
        as a generator's next item)."""
        return waiter.event.is_set() or self._block(waiter, timeout, 0, None)

    def _block(
        self,
        waiter: Waiter,
        timeout: float | None,
        done_before: int,
        progress: Progress | None,
        read: Read | None = None,
    ) -> bool:
        """Wait for ``waiter``: by running the loop on this thread if the runner lets it (until
        a stored object arrives for ``read``), else on its event; with ``progress``, report
        the count done every so often; with ``read``, hand it the stored objects that arrive."""
        deadline = None if timeout is None else time.monotonic() + timeout
        runner = self.runner
        if runner is not None and progress is None and not waiter.stored:
            ran = runner.wait_for(waiter, deadline)
            if ran is not None:
                return ran
        if runner is not None:
            runner.waiting(+1)
        try:
            return self._wait_event(waiter, deadline, done_before, progress, read)
        finally:
            if runner is not None:
                runner.waiting(-1)

    @staticmethod
    def _wait_event(
        waiter: Waiter,
        deadline: float | None,
        done_before: int,
        progress: Progress | None,
        read: Read | None = None,
    ) -> bool:
        if progress is None and waiter.arrival is None:
            return waiter.event.wait(None if deadline is None else deadline - time.monotonic())
        wakes = waiter.arrival or waiter.event  # set by each stored arrival, and by the last
        target = waiter.remaining
        while True:
            stored = waiter.stored
            if stored and read is not None and waiter.remaining > 0:
                read(*stored.popleft())  # what arrived first; then wait for more
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = left
            if progress is not None:
                step = PROGRESS_EVERY_S if left is None else min(left, PROGRESS_EVERY_S)
            wakes.wait(step)
            if waiter.arrival is not None:
                waiter.arrival.clear()  # set again by the next arrival (or the last one)
            done = waiter.event.is_set()
            if progress is not None:
                progress(done_before + target - max(0, waiter.remaining))
            if done:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def _forget(self, waiter: Waiter, entries: list[_Entry]) -> None:
        with self._lock:
            for entry in entries:
                if waiter in entry.waiters:
                    entry.waiters.remove(waiter)

    def wait(
        self,
        oids: list[str],
        num_returns: int,
        timeout: float | None,
        progress: Progress | None = None,
    ) -> set[str]:
        """The first ``num_returns`` ids of ``oids`` that are done (fewer if the timeout passed).

        Linear in ``len(oids)``, in passes that run in C (``map``, ``compress``): 100,000 ids
        cost a few milliseconds when nothing needs waiting for."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            found = list(map(self._entries.get, oids))
            if None in found:
                self._entry(oids[found.index(None)])  # raises, naming it
            entries = cast(list[_Entry], found)
            done = _first_done(oids, entries, num_returns)
            if len(done) >= num_returns or timeout == 0:
                return done
            waiter = Waiter(num_returns - len(done))
            pending = list(compress(entries, map(operator.not_, map(_STATE, entries))))
            for entry in pending:
                entry.waiters.append(waiter)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            self._block(waiter, remaining, len(done), progress)
        finally:
            self._forget(waiter, pending)
        with self._lock:
            return _first_done(oids, entries, num_returns)

    def unneeded(self, oids: list[str]) -> list[str]:
        """The pending objects among ``oids`` that nothing else waits for: no task takes them
        as an argument, no other ``get``/``wait``/future/callback waits on them, and no
        reference to them left this process. (References this process still holds do not
        count: after an interrupted ``get`` the caller's list of refs still exists.)"""
        with self._lock:
            return [
                oid
                for oid in dict.fromkeys(oids)
                if (entry := self._entries.get(oid)) is not None
                and entry.state == PENDING
                and entry.pins <= 0
                and not entry.escaped
                and not entry.waiters
                and not entry.callbacks
            ]

    def on_done(self, oid: str, callback: Callback) -> None:
        """Run ``callback(oid, state, data)`` once the entry is done (now, if it is)."""
        with self._lock:
            entry = self._entry(oid)
            if entry.state == PENDING:
                entry.callbacks.append(callback)
                return
            state, data = entry.state, entry.data
        callback(oid, state, data)

    def _entry(self, oid: str) -> _Entry:
        entry = self._entries.get(oid)
        if entry is None:
            raise KeyError(f"object {oid} is unknown here (freed, or from another cluster)")
        return entry

    # --- lifetime ----------------------------------------------------------------------------
    def add_ref(self, oid: str) -> None:
        with self._lock:
            entry = self._entries.get(oid)
            if entry is not None:
                entry.refs += 1

    def release(self, oid: str) -> None:
        """One ``ObjectRef`` to ``oid`` is gone. Takes no lock (see the module's doc)."""
        self._released.append(oid)

    def _apply_releases_locked(self) -> None:
        while self._released:
            oid = self._released.popleft()
            entry = self._entries.get(oid)
            if entry is not None:
                entry.refs -= 1
                self._maybe_free(oid, entry)

    def pin(self, oids: Iterable[str]) -> None:
        with self._lock:
            for oid in oids:
                entry = self._entries.get(oid)
                if entry is not None:
                    entry.pins += 1

    def unpin(self, oids: Iterable[str]) -> None:
        with self._lock:
            for oid in oids:
                entry = self._entries.get(oid)
                if entry is not None:
                    entry.pins -= 1
                    self._maybe_free(oid, entry)

    def escape(self, oid: str) -> None:
        with self._lock:
            entry = self._entries.get(oid)
            if entry is not None:
                entry.escaped = True

    # --- borrowers (executors holding references) and holders (values containing them) -----
    def borrow(self, executor_id: str, oids: Iterable[str]) -> None:
        with self._lock:
            for oid in oids:
                entry = self._entries.get(oid)
                if entry is not None:
                    self._borrow_locked(executor_id, oid, entry)

    def unborrow(self, executor_id: str, oids: Iterable[str]) -> None:
        with self._lock:
            mine = self._borrows.get(executor_id)
            if mine is None:
                return
            for oid in oids:
                count = mine.get(oid, 0)
                if count <= 0:
                    continue
                if count == 1:
                    del mine[oid]
                else:
                    mine[oid] = count - 1
                entry = self._entries.get(oid)
                if entry is not None and entry.borrowers:
                    left = entry.borrowers.get(executor_id, 0) - 1
                    if left > 0:
                        entry.borrowers[executor_id] = left
                    else:
                        entry.borrowers.pop(executor_id, None)
                        self._maybe_free(oid, entry)
            if not mine:
                del self._borrows[executor_id]

    def drop_borrower(self, executor_id: str) -> None:
        """The executor is gone: whatever it held is released."""
        with self._lock:
            mine = self._borrows.pop(executor_id, {})
            for oid in mine:
                entry = self._entries.get(oid)
                if entry is not None and entry.borrowers:
                    entry.borrowers.pop(executor_id, None)
                    self._maybe_free(oid, entry)

    def _borrow_locked(self, executor_id: str, oid: str, entry: _Entry) -> None:
        if entry.borrowers is None:
            entry.borrowers = {}
        entry.borrowers[executor_id] = entry.borrowers.get(executor_id, 0) + 1
        mine = self._borrows.setdefault(executor_id, {})
        mine[oid] = mine.get(oid, 0) + 1

    def _hold_locked(self, entry: _Entry, contained: list[str]) -> None:
        held = [oid for oid in dict.fromkeys(contained) if oid in self._entries]
        for oid in held:
            self._entries[oid].holders += 1
        entry.contained = (entry.contained or []) + held

    def _maybe_free(self, oid: str, entry: _Entry) -> None:
        work = [(oid, entry)]
        while work:
            oid, entry = work.pop()
            if (
                entry.refs > 0
                or entry.pins > 0
                or entry.escaped
                or entry.state == PENDING
                or entry.borrowers
                or entry.holders > 0
                or self._entries.get(oid) is not entry
            ):
                continue
            del self._entries[oid]
            self._freed.append(oid)
            if isinstance(entry.data, ObjectLocation):
                self._dropped.append((oid, entry.data))
            for inner_id in entry.contained or ():  # iterative: chains may be long
                inner = self._entries.get(inner_id)
                if inner is not None:
                    inner.holders -= 1
                    work.append((inner_id, inner))

    def drain_freed(self) -> list[str]:
        with self._lock:
            self._apply_releases_locked()
            freed, self._freed = self._freed, []
            return freed

    def reset(self, oid: str) -> bool:
        """A done object becomes PENDING again (its task runs again to rebuild it)."""
        with self._lock:
            entry = self._entries.get(oid)
            if entry is None:
                return False
            entry.state, entry.data = PENDING, b""
            return True

    def fail_done(self, oid: str, data: bytes) -> None:
        """A done object is FAILED from now on (lost for good); waiters are answered."""
        with self._lock:
            entry = self._entries.get(oid)
            if entry is None:
                return
            entry.state = PENDING
        self.complete(oid, FAILED, data)

    def drain_dropped(self) -> list[tuple[str, ObjectLocation]]:
        """Freed objects whose values are in object stores (to be deleted there)."""
        with self._lock:
            self._apply_releases_locked()
            dropped, self._dropped = self._dropped, []
            return dropped

    def __len__(self) -> int:
        return len(self._entries)

    def fail_all_pending(self, data: bytes) -> None:
        with self._lock:
            pending = [oid for oid, e in self._entries.items() if e.state == PENDING]
        for oid in pending:
            self.complete(oid, FAILED, data)
