"""Byte ranges of the arena: an address-ordered first-fit allocator with coalescing.

Rules kept here:
- Every range handed out starts and ends on an ``ALIGN`` (64-byte) boundary, so numpy arrays
  read from the arena are aligned for any dtype.
- Free blocks never touch: freeing a range merges it with free neighbours at once.
- First fit in address order keeps objects packed towards the start of the arena, so the part
  of the arena ever used (``high_water``, which is all that is backed by memory) grows only as
  far as the peak of live bytes plus fragmentation.

Cost: ``alloc`` scans the free blocks in address order (their number stays small because they
coalesce), ``free`` is a dictionary lookup plus one ordered insert. Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect

ALIGN = 64


def aligned(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


class Allocator:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity - capacity % ALIGN
        self._starts: list[int] = []  # free block starts, sorted
        self._by_start: dict[int, int] = {}  # start -> length
        self._by_end: dict[int, int] = {}  # end -> start
        self.used = 0
        self.high_water = 0  # the end of the highest range ever handed out
        if self.capacity:
            self._add(0, self.capacity)

    def alloc(self, size: int) -> int | None:
        """The offset of a new range of ``size`` bytes (rounded up), or None if none fits."""
        n = aligned(max(size, 1))
        if n > self.capacity - self.used:
            return None
        for start in self._starts:
            length = self._by_start[start]
            if length >= n:
                self._remove(start)
                if length > n:
                    self._add(start + n, length - n)
                self.used += n
                self.high_water = max(self.high_water, start + n)
                return start
        return None

    def free(self, offset: int, size: int) -> None:
        n = aligned(max(size, 1))
        if offset % ALIGN or offset < 0 or offset + n > self.capacity:
            raise ValueError(f"range {offset}+{n} is not one this allocator handed out")
        self.used -= n
        start, end = offset, offset + n
        before = self._by_end.get(start)
        if before is not None:
            self._remove(before)
            start = before
        after = self._by_start.get(end)
        if after is not None:
            self._remove(end)
            end += after
        self._add(start, end - start)

    def largest_free(self) -> int:
        return max(self._by_start.values(), default=0)

    def free_blocks(self) -> list[tuple[int, int]]:
        return [(s, self._by_start[s]) for s in self._starts]

    def _add(self, start: int, length: int) -> None:
        bisect.insort(self._starts, start)
        self._by_start[start] = length
        self._by_end[start + length] = start

    def _remove(self, start: int) -> None:
        i = bisect.bisect_left(self._starts, start)
        del self._starts[i]
        length = self._by_start.pop(start)
        del self._by_end[start + length]

    def validate(self) -> None:
        """Check the invariants (tests run this after every step)."""
        assert self._starts == sorted(self._by_start), "free list out of order"
        assert len(self._by_end) == len(self._by_start), "end index out of step"
        previous_end = -1
        total = 0
        for start in self._starts:
            length = self._by_start[start]
            assert length > 0 and start % ALIGN == 0 and length % ALIGN == 0, (start, length)
            assert self._by_end[start + length] == start
            assert start > previous_end, "free blocks touch or overlap: not coalesced"
            assert start + length <= self.capacity
            previous_end = start + length
            total += length
        assert total + self.used == self.capacity, (total, self.used, self.capacity)
