"""Making room in one store's arena: the queue of creates and restores waiting for room, the
order in which objects give theirs up, and the spills that free it (sans-IO; the store core
owns one :class:`Room` and asks it whenever room may have come free).

Rules kept here:
- A create or restore is placed at once only when nothing waits before it; otherwise it waits,
  and waiting ones are placed in order of arrival (first come, first served).
- When the head of the queue does not fit: unpinned secondary copies (pulled from other stores)
  are dropped first, least recently used first; then the leases with room left are asked back
  (``Recall``), and least recently used unpinned primaries are spilled to disk until the room
  on its way covers the request (at least one object when nothing is on its way: free bytes
  that are not contiguous need more room). The request waits until their ranges are free.
- After a spill failed (e.g. a full disk), nothing is spilled for ``SPILL_RETRY_S``.
- A create that still cannot be placed after the core's ``create_timeout`` fails with a clear
  error, never crashing the writer; a restore that cannot fails the gets waiting for it.
- Only sealed, unpinned objects that are not doomed are listed (``lru``): those, and only
  those, may give up their room.

Cost: placing the head touches only the objects it drops or spills; listing and unlisting an
object is O(1). Only :meth:`Room.forget`, :meth:`Room.restore` (a restore already waiting?)
and :meth:`Room.expire` (each ``tick``) walk the queue of waiting requests.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Protocol

from pymesos_rt.objects.allocator import Allocator, aligned
from pymesos_rt.objects.leases import Leases
from pymesos_rt.objects.records import Effect, Entry, Reply, S, Space, SpillOut
from pymesos_rt.protocol import objects as w

SPILL_RETRY_S = 5.0


class Host(Protocol):
    """What a :class:`Room` uses of the store core that owns it (``core.StoreCore``)."""

    capacity: int
    create_timeout: float
    pinned: int  # objects some process is reading
    alloc: Allocator
    leases: Leases
    entries: dict[str, Entry]

    def _alloc(self, size: int) -> tuple[int, bool] | None: ...

    def _grant(self, space: Space, offset: int, fresh: bool) -> list[Effect]: ...

    def _failed_waits(self, object_id: str, why: str) -> list[Effect]: ...

    def _drop(self, entry: Entry, why: str = ...) -> list[Effect]: ...


class Room:
    """Makes room for ``core``'s waiting creates and restores (it places them with the core's
    ``_alloc`` and hands them out with its ``_grant``)."""

    def __init__(self, core: Host) -> None:
        self.core = core
        self.queue: deque[Space] = deque()  # creates and restores waiting for room, in order
        # objects that may give up their room, least recently used first: primaries (spilled)
        # under True, secondary copies (dropped) under False
        self.lru: dict[bool, OrderedDict[str, None]] = {True: OrderedDict(), False: OrderedDict()}
        self.spilling_bytes = 0  # aligned bytes of objects being spilled (room on its way)
        self.no_spills_until = 0.0  # after a spill failed (e.g. a full disk), wait a little

    def list_entry(self, entry: Entry) -> None:
        """``entry`` may give up its room (it is the most recently used now)."""
        self.lru[entry.primary][entry.object_id] = None

    def unlist_entry(self, entry: Entry) -> None:
        self.lru[entry.primary].pop(entry.object_id, None)

    def request(self, space: Space, now: float) -> list[Effect]:
        """Place a create or restore now if nothing waits before it and it fits; else it waits
        (and room is made for whatever heads the queue)."""
        placed = None if self.queue else self.core._alloc(space.size)
        if placed is None:
            self.queue.append(space)
            return self.pump(now)
        return self.core._grant(space, *placed)

    def restore(self, entry: Entry, now: float) -> list[Effect]:
        """Read a spilled object back, once room is made for it."""
        if any(s.object_id == entry.object_id and not s.client for s in self.queue):
            return []  # already waiting for room
        return self.request(
            Space(entry.object_id, entry.size, deadline=now + self.core.create_timeout), now
        )

    def spill_ended(self, size: int, ok: bool, now: float) -> None:
        """A spill of an object of ``size`` bytes ended (``ok``: its copy on disk is whole)."""
        self.spilling_bytes -= aligned(size)
        if not ok:
            self.no_spills_until = now + SPILL_RETRY_S

    def forget(self, client: str) -> None:
        """``client`` went away: its creates wait no more."""
        self.queue = deque(s for s in self.queue if s.client != client)

    def expire(self, now: float) -> list[Effect]:
        """Fail creates (and restores) that waited ``create_timeout`` for room."""
        core = self.core
        effects: list[Effect] = []
        if any(space.deadline <= now for space in self.queue):
            kept: deque[Space] = deque()
            for space in self.queue:
                if space.deadline > now:
                    kept.append(space)
                    continue
                why = (
                    f"the object store is full: object {space.object_id} of {space.size} bytes "
                    f"waited {core.create_timeout:g}s for room; {core.pinned} object(s) are "
                    f"pinned by readers, {core.alloc.used} of {core.capacity} bytes used"
                )
                if space.client:
                    effects.append(Reply(space.client, w.CreateFailed(space.request_id, why)))
                else:
                    effects += core._failed_waits(space.object_id, f"cannot be restored: {why}")
            self.queue = kept
        return effects

    def pump(self, now: float) -> list[Effect]:
        """Place waiting creates and restores, in order, making room as the rules say."""
        core = self.core
        effects: list[Effect] = []
        while self.queue:
            head = self.queue[0]
            if not head.client and head.object_id not in core.entries:
                self.queue.popleft()  # a restore of an object freed meanwhile
                continue
            placed = core._alloc(head.size)
            while placed is None and self.lru[False]:
                oid, _ = self.lru[False].popitem(last=False)
                effects += core._drop(core.entries[oid])
                placed = core._alloc(head.size)
            if placed is not None:
                self.queue.popleft()
                effects += core._grant(head, *placed)
                continue
            for rec in core.leases.recall():  # room clients hold for objects to come
                effects.append(Reply(rec.client, w.Recall(rec.lease_id)))
            free = core.alloc.capacity - core.alloc.used
            need = aligned(head.size)
            lru = self.lru[True]
            # spill until the room on its way covers the request; at least one object when
            # nothing is on its way (free bytes that are not contiguous need more room)
            if now < self.no_spills_until:
                break
            while lru and (not self.spilling_bytes or free + self.spilling_bytes < need):
                oid, _ = lru.popitem(last=False)
                entry = core.entries[oid]
                entry.move(S.SPILLING)
                assert entry.offset is not None
                self.spilling_bytes += aligned(entry.size)
                effects.append(SpillOut(oid, entry.offset, entry.size))
            break
        return effects
