"""Which part of one store's arena is backed with memory, and what waits for it (sans-IO).

A range is backed by memory (:class:`Populate`) before it is handed to a writer, by the store
(so pages are charged to the agent, not to the task that writes them, and a write can never
fault on a full tmpfs). Backing takes time (0.25-0.35 ms per MiB here), so the shell does it
without holding up other requests and reports it done (:meth:`Backing.done`); until then every
reply (and restore) that hands out a range beyond it is held back (:meth:`Backing.once_backed`).

The arena is backed from its start up: ``populated`` is how far backing was asked for (a request
asks for its own range only; the store's background thread backs ahead a step at a time),
``backed`` how far the shell has done it, and ranges done out of order wait in ``_ranges``. What
was held back goes out as soon as its own range is backed, even while a range below it (a lease
of another client, a step ahead) is still being backed. ``_ranges`` and ``_held`` hold only what
is in progress now (a few ranges and requests), so walking them costs nothing that grows.
"""

from __future__ import annotations

from pymesos_rt.objects.allocator import aligned
from pymesos_rt.objects.records import Effect, Populate

PAGE = 4096  # backing is asked for in whole pages


class Backing:
    def __init__(self, capacity: int, step: int) -> None:
        self.capacity = capacity
        self.step = step
        self.populated = 0  # backing asked for (Populate effects) up to here
        self.backed = 0  # the shell has backed everything up to here
        self._ranges: dict[int, int] = {}  # backed beyond ``backed``: start -> end
        self._held: list[tuple[int, int, Effect]] = []  # held back: (its range, effect)

    def ask(self, offset: int, size: int) -> list[Effect]:
        """Backing for ``[offset, offset + size)`` (to the end of its last page), unless asked
        already."""
        end = offset + aligned(size)
        if end <= self.populated:
            return []
        start, self.populated = self.populated, min(self.capacity, -(-end // PAGE) * PAGE)
        return [Populate(start, self.populated)]

    def prefill(self, limit: int) -> list[Effect]:
        """The next step ahead of any writer, up to ``limit``."""
        upto = min(limit, self.capacity, self.populated + self.step)
        if upto <= self.populated:
            return []
        start, self.populated = self.populated, upto
        return [Populate(start, upto)]

    def done(self, start: int, upto: int) -> list[Effect]:
        """The shell has backed ``[start, upto)``: what was held back for it goes out now."""
        if start < self.backed or upto > self.populated or start in self._ranges:
            return []  # not a range asked for (or reported twice)
        self._ranges[start] = upto
        while self.backed in self._ranges:
            self.backed = self._ranges.pop(self.backed)
        ready: list[Effect] = []
        waiting: list[tuple[int, int, Effect]] = []
        for held in self._held:
            if self._is_backed(held[0], held[1]):
                ready.append(held[2])
            else:
                waiting.append(held)
        self._held = waiting
        return ready

    def once_backed(self, start: int, end: int, effect: Effect) -> list[Effect]:
        """``effect`` hands out ``[start, end)``: now if that is backed, else held back until
        :meth:`done` says so."""
        if self._is_backed(start, end):
            return [effect]
        self._held.append((start, end, effect))
        return []

    def _is_backed(self, start: int, end: int) -> bool:
        """Whether every byte of ``[start, end)`` is backed. Ranges asked for lie back to back
        from the arena's start, so past the first one the next starts where one ends."""
        pos = max(start, self.backed)
        if pos >= end:
            return True
        reach: int | None = next((hi for lo, hi in self._ranges.items() if lo <= pos < hi), None)
        while reach is not None and reach < end:
            reach = self._ranges.get(reach)
        return reach is not None

    def validate(self, ranges: list[tuple[int, int]]) -> None:
        """Check the invariants against the ranges in use."""
        assert all(a + n <= self.populated for a, n in ranges), "a range is not populated"
        assert self.backed <= self.populated, (self.backed, self.populated)
        assert all(not self._is_backed(a, b) for a, b, _ in self._held), "held back, yet backed"
        assert all(b <= self.populated for _, b, _ in self._held), "held back beyond populated"
        assert all(self.backed < a < b <= self.populated for a, b in self._ranges.items())
