"""What a process holding a store's arena can do with it, and the helpers that write and read
values through it: :func:`put` (create, write the layout straight into the arena, seal) and
:func:`load` (pin, read the value with its buffers as read-only views of the arena, and unpin
once the value no longer uses them).

Two implementations: ``client.StoreClient`` (a unix socket to the agent, for executors and
drivers on the node) and ``service.LocalClient`` (in the agent's own process, for an embedded
driver). Both answer requests through :meth:`ObjectAccess.deliver` and release pins from a
thread of their own, so :meth:`ObjectAccess.release` is safe inside garbage collection.
"""

from __future__ import annotations

import abc
import collections
import itertools
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.errors import ObjectLostError, ObjectStoreFullError
from pymesos_rt.objects import layout
from pymesos_rt.objects.arena import Arena, fresh_bytes
from pymesos_rt.objects.placing import LeasedSpace
from pymesos_rt.protocol import objects as w

log = logging.getLogger(__name__)

Answer = w.Created | w.CreateFailed | w.Found | w.Stats | w.Pushed | w.PullReply | w.Leased


class _Slot:
    __slots__ = ("answer", "event", "then")

    def __init__(self, then: Callable[[w.Leased | None], None] | None = None) -> None:
        self.event = threading.Event()
        self.answer: Answer | None = None
        self.then = then  # an answer nobody waits for: handed to this instead


class StoreGone(ConnectionError):
    """The connection to the store ended."""


class ObjectAccess(abc.ABC):
    """A mapped arena plus requests to its store."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.store_id = ""
        self.agent_id = ""
        self.address = ""
        self.view = memoryview(b"")
        self.arena: Arena | None = None  # with its descriptor (else only a mapping, or nothing)
        # map a range of the arena into this process before copying into it (Arena.map_in)
        self.map_in: Callable[[int, int], None] = lambda offset, size: None
        self._ids = itertools.count(1)
        self._slots: dict[int, _Slot] = {}
        self._slots_lock = threading.Lock()
        self._released: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._gone: str | None = None
        self._releaser = threading.Thread(target=self._release_loop, name=f"release-{name}")
        self._releaser.daemon = True
        self._releaser.start()
        self.space = LeasedSpace(self._send, self._ask_lease)

    @property
    def fd(self) -> int:
        """The arena's descriptor in this process (-1: none, or closed): values are copied
        through it where that beats mapping their range in (``_write``)."""
        return -1 if self.arena is None else self.arena.fd

    # --- the store's side of each request ------------------------------------------------
    @abc.abstractmethod
    def _send(self, message: w.StoreCall) -> None:
        """Hand one request to the store (raises StoreGone)."""

    @abc.abstractmethod
    def _release_now(self, object_ids: list[str]) -> None: ...

    def close(self) -> None:
        self.space.close()
        self._released.put(None)

    # --- requests ----------------------------------------------------------------------------
    def _request(self, make: Any, timeout: float | None = None) -> Answer:
        rid = next(self._ids)
        slot = _Slot()
        with self._slots_lock:
            if self._gone is not None:
                raise StoreGone(self._gone)
            self._slots[rid] = slot
        try:
            self._send(make(rid))
            if not slot.event.wait(timeout):
                raise TimeoutError(f"the object store did not answer within {timeout}s")
        finally:
            with self._slots_lock:
                self._slots.pop(rid, None)
        if slot.answer is None:
            raise StoreGone(self._gone or "the object store went away")
        return slot.answer

    def _ask_lease(self, size: int, then: Callable[[w.Leased | None], None]) -> None:
        """Ask for a lease without waiting: ``then`` gets the answer (on the reader thread)."""
        rid = next(self._ids)
        with self._slots_lock:
            if self._gone is not None:
                return
            self._slots[rid] = _Slot(then)
        try:
            self._send(w.Lease(rid, size))
        except StoreGone:
            with self._slots_lock:
                self._slots.pop(rid, None)
            then(None)

    def deliver(self, answer: Answer) -> None:
        with self._slots_lock:
            slot = self._slots.get(answer.request_id)
            if slot is not None and slot.then is not None:
                del self._slots[answer.request_id]
        if slot is None:
            return
        if slot.then is not None:
            slot.then(answer if isinstance(answer, w.Leased) else None)
            return
        slot.answer = answer
        slot.event.set()

    def fail_all(self, why: str) -> None:
        with self._slots_lock:
            self._gone = why
            slots = list(self._slots.values())
            self._slots = {k: v for k, v in self._slots.items() if v.then is None}
        for slot in slots:
            if slot.then is not None:
                slot.then(None)
            slot.event.set()

    def create(self, object_id: str, size: int, primary: bool = True) -> w.Created | None:
        """Where to write the object (``offset``, and whether its range is ``fresh``), or None
        if it is already stored."""
        answer = self._request(lambda rid: w.Create(rid, object_id, size, primary))
        if isinstance(answer, w.CreateFailed):
            raise ObjectStoreFullError(answer.message)
        assert isinstance(answer, w.Created)
        return None if answer.exists else answer

    def seal(self, object_id: str) -> None:
        self._send(w.Seal(object_id))

    def abort(self, object_id: str) -> None:
        self._send(w.Abort(object_id))

    def get(self, items: list[w.GetItem], timeout: float | None = None) -> list[w.FoundObject]:
        answer = self._request(lambda rid: w.Get(rid, items), timeout)
        assert isinstance(answer, w.Found)
        return answer.objects

    def delete(self, object_ids: list[str]) -> None:
        self._send(w.Delete(object_ids))

    def stats(self) -> w.StoreStats:
        answer = self._request(w.StatsRequest)
        assert isinstance(answer, w.Stats)
        return answer.stats

    def release(self, object_id: str) -> None:
        """Unpin one object (safe from a finalizer: queues, takes no lock)."""
        self._released.put(object_id)

    def _release_loop(self) -> None:
        while True:
            first = self._released.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    more = self._released.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._flush(batch)
                    return
                batch.append(more)
            self._flush(batch)

    def _flush(self, batch: list[str]) -> None:
        try:
            self._release_now(batch)
        except (OSError, StoreGone) as exc:
            log.debug("cannot release %d object(s): %s", len(batch), exc)

    def location(self, size: int, lease: int = 0) -> w.ObjectLocation:
        return w.ObjectLocation(self.store_id, self.agent_id, self.address, size, lease)


def put(access: ObjectAccess, object_id: str, enc: layout.Encoded) -> w.ObjectLocation:
    """Store a value as a primary object: one copy of its buffers, into the arena (in a lease
    of this process when it has one with room: no round trip to the store)."""
    space = access.space
    carved = space.carve(enc.size)
    if carved is not None:
        try:
            _write(access, carved.offset, enc, carved.held.fresh)
        except BaseException:
            space.done(carved, object_id, sealed=False)
            raise
        space.done(carved, object_id, sealed=True)
        location = access.location(enc.size, carved.held.lease)
    else:
        created = access.create(object_id, enc.size)
        if created is not None:
            try:
                _write(access, created.offset, enc, created.fresh)
            except BaseException:
                access.abort(object_id)
                raise
            access.seal(object_id)
        location = access.location(enc.size)
    if enc.size <= space.MAX_OBJECT:  # (larger objects never go into a lease)
        space.refill()
    return location


def _write(access: ObjectAccess, offset: int, enc: layout.Encoded, fresh: bool) -> None:
    """Write a layout into the arena: through the descriptor into a ``fresh`` range (its pages
    may hold no data yet), else through the mapping (mapped in first, cheaply)."""
    arena = access.arena
    if fresh and arena is not None and arena.fd >= 0:
        arena.write(offset, layout.pieces(enc))  # (OSError if the arena closes meanwhile)
        return
    access.map_in(offset, enc.size)
    layout.write(access.view[offset : offset + enc.size], enc)


def load(access: ObjectAccess, object_id: str, source: w.ObjectLocation | None = None) -> Any:
    """The value of a stored object (pulled into this node's store first when ``source`` is
    another store). Raises ObjectLostError when it cannot be had."""
    (found,) = access.get([w.GetItem(object_id, source)])
    if found.error:
        where = f" (on agent {source.agent_id})" if source is not None else ""
        raise ObjectLostError(f"{found.error}{where}")
    return load_found(access, found)


def load_found(access: ObjectAccess, found: w.FoundObject) -> Any:
    """Read a pinned object; it stays pinned while the value uses views of the arena (mapped
    in as they are read: nothing is touched here). A ``bytes`` value is a copy (as in Ray),
    made at once (its pages come in 64 KiB at a time as they are copied), and the pin ends."""
    src = access.view[found.offset : found.offset + found.size]
    try:
        inband, spans = layout.parts(src)
        if layout.is_bytes(inband, spans):
            start, length = spans[0]
            try:
                return fresh_bytes(src[start : start + length])
            finally:
                access.release(found.object_id)
    except BaseException:
        access.release(found.object_id)
        raise
    if not spans:
        try:
            return serialization.loads_oob(inband, [])
        finally:
            access.release(found.object_id)
    tokens = collections.deque(range(len(spans)))  # pop() is atomic: the last pop gets 0
    oid = found.object_id

    def dropped() -> None:
        if tokens.pop() == 0:
            access.release(oid)

    made = 0

    def view(start: int, length: int) -> memoryview:
        nonlocal made
        ro = src[start : start + length].toreadonly()
        weakref.finalize(ro, dropped)
        made += 1
        return ro

    try:
        return layout.decode(src, view)
    except BaseException:
        for _ in range(len(spans) - made):  # views never made never drop their token
            dropped()
        raise
