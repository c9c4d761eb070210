"""Leases of arena space: ranges a store hands a client ahead of any object, so the client
places small objects itself, with no round trip per object (pure bookkeeping; the store core
decides when to grant one and frees what is left of it).

Rules kept here:
- A lease is one range of the arena, allocated (and backed by memory) when granted. Its client
  carves objects out of it and reports each sealed one; the core records the carved ranges,
  which from then on belong to their objects (freed with them, not with the lease).
- A carved range lies inside its lease, on an ``ALIGN`` boundary, and overlaps no other carved
  range of the lease; a report that breaks this is refused (``LeaseError``) and changes nothing.
- When a lease ends (its client says so, or goes away) every part of it not carved is freed:
  objects the client started but never sealed leave nothing behind.
- Leases are granted only while the arena has room to spare: never while creates wait for
  room (those ask every lease with room left back: ``Recall``), each at most
  ``capacity / SHARE``, all the space leased and not yet carved at most ``capacity / 4``, and
  a quarter of the arena left free after the grant.

Cost: a carve is a bisection in its lease's carved ranges; ending a lease walks them.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

from pymesos_rt.objects.allocator import ALIGN, aligned

SHARE = 16  # one lease is at most this fraction of the arena


class LeaseError(ValueError):
    """A client's report about its lease that cannot be true (a broken or hostile client)."""


@dataclass(slots=True)
class LeaseRec:
    lease_id: int
    client: str
    start: int
    end: int
    carved: list[tuple[int, int]] = field(default_factory=list)  # (offset, aligned length)
    carved_bytes: int = 0
    awaited: set[str] = field(default_factory=set)  # objects read before their seal arrived
    recalled: bool = False  # the store asked for it back (a create waits for room)

    def check(self, offset: int, size: int) -> int:
        """The aligned length of ``size`` bytes at ``offset`` if they may be carved here."""
        n = aligned(max(size, 1))
        if offset % ALIGN or offset < self.start or offset + n > self.end:
            raise LeaseError(
                f"range {offset}+{n} is not inside lease {self.lease_id} "
                f"({self.start}+{self.end - self.start})"
            )
        i = bisect.bisect_left(self.carved, (offset, 0))
        if i < len(self.carved) and self.carved[i][0] < offset + n:
            raise LeaseError(f"range {offset}+{n} of lease {self.lease_id} is already used")
        if i > 0 and sum(self.carved[i - 1]) > offset:
            raise LeaseError(f"range {offset}+{n} of lease {self.lease_id} is already used")
        return n

    def carve(self, offset: int, size: int) -> None:
        n = self.check(offset, size)
        bisect.insort(self.carved, (offset, n))
        self.carved_bytes += n

    def gaps(self) -> list[tuple[int, int]]:
        """The parts of the lease not carved: (offset, length)."""
        out: list[tuple[int, int]] = []
        pos = self.start
        for offset, n in self.carved:
            if offset > pos:
                out.append((pos, offset - pos))
            pos = offset + n
        if pos < self.end:
            out.append((pos, self.end - pos))
        return out

    @property
    def uncarved(self) -> int:
        return self.end - self.start - self.carved_bytes


class Leases:
    """The live leases of one store."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.by_id: dict[int, LeaseRec] = {}
        self.by_client: dict[str, set[int]] = {}
        self.held = 0  # bytes leased and not carved
        self.granted_total = 0
        self._ids = itertools.count(1)

    def grant_size(self, want: int, free: int, waiting: bool) -> int:
        """How much of ``want`` bytes to lease now (0: refuse)."""
        if waiting or want <= 0:
            return 0
        n = aligned(min(want, self.capacity // SHARE))
        reserve = self.capacity // 4
        if n <= 0 or self.held + n > reserve or free - n < reserve:
            return 0
        return n

    def open(self, client: str, offset: int, size: int) -> LeaseRec:
        rec = LeaseRec(next(self._ids), client, offset, offset + size)
        self.by_id[rec.lease_id] = rec
        self.by_client.setdefault(client, set()).add(rec.lease_id)
        self.held += size
        self.granted_total += 1
        return rec

    def mine(self, client: str, lease_id: int) -> LeaseRec:
        rec = self.by_id.get(lease_id)
        if rec is None or rec.client != client:
            raise LeaseError(f"lease {lease_id} is not held by {client}")
        return rec

    def carve(self, rec: LeaseRec, offset: int, size: int) -> None:
        before = rec.carved_bytes
        rec.carve(offset, size)
        self.held -= rec.carved_bytes - before

    def close(self, lease_id: int) -> LeaseRec | None:
        rec = self.by_id.pop(lease_id, None)
        if rec is None:
            return None
        ids = self.by_client[rec.client]
        ids.discard(lease_id)
        if not ids:
            del self.by_client[rec.client]
        self.held -= rec.uncarved
        return rec

    def recall(self) -> list[LeaseRec]:
        """The leases to ask back (once each) because a create waits for room."""
        if not self.held:
            return []
        out = [r for r in self.by_id.values() if not r.recalled and r.uncarved]
        for rec in out:
            rec.recalled = True
        return out

    def validate(self) -> None:
        assert self.held == sum(r.uncarved for r in self.by_id.values()), "held bytes"
        for rec in self.by_id.values():
            assert rec.lease_id in self.by_client[rec.client]
            assert rec.start % ALIGN == 0 and rec.end % ALIGN == 0, rec
            assert rec.carved == sorted(rec.carved)
            assert rec.carved_bytes == sum(n for _, n in rec.carved)
            pos = rec.start
            for offset, n in rec.carved:
                assert offset >= pos and offset + n <= rec.end, (rec.lease_id, offset, n)
                pos = offset + n
        for client, ids in self.by_client.items():
            assert ids and all(self.by_id[i].client == client for i in ids)
