"""Which part of one store's arena is backed with memory, and what waits for it (sans-IO).

A range is backed by memory (:class:`Populate`) before it is handed to a writer, by the store
(so pages are charged to the agent, not to the task that writes them, and a write can never
fault on a full tmpfs). Backing takes time (0.25-0.35 ms per MiB here), so the shell does it
without holding up other requests and reports it done (:meth:`Backing.done`); until then every
reply (and restore) that hands out a range beyond it is held back (:meth:`Backing.once_backed`).

The arena is backed from its start up, a step at a time: ``populated`` is how far backing was
asked for, ``backed`` how far the shell has done it (ranges reported out of order wait in
``_ranges``).
"""

from __future__ import annotations

from pymesos_rt.objects.allocator import aligned
from pymesos_rt.objects.records import Effect, Populate


class Backing:
    def __init__(self, capacity: int, step: int) -> None:
        self.capacity = capacity
        self.step = step
        self.populated = 0  # backing asked for (Populate effects) up to here
        self.backed = 0  # the shell has backed everything up to here
        self._ranges: dict[int, int] = {}  # backed beyond ``backed``: start -> end
        self._held: list[tuple[int, Effect]] = []  # held back: (end of its range, effect)

    def ask(self, offset: int, size: int) -> list[Effect]:
        """Backing for ``[offset, offset + size)``, to the next step, unless asked already."""
        end = offset + aligned(size)
        if end <= self.populated:
            return []
        step = self.step
        start, self.populated = self.populated, min(self.capacity, (end + step - 1) // step * step)
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
        ready = [eff for end, eff in self._held if end <= self.backed]
        if ready:
            self._held = [(end, eff) for end, eff in self._held if end > self.backed]
        return ready

    def once_backed(self, end: int, effect: Effect) -> list[Effect]:
        """``effect`` hands out a range ending at ``end``: now if it is backed, else held back
        until :meth:`done` says so."""
        if end <= self.backed:
            return [effect]
        self._held.append((end, effect))
        return []

    def validate(self, ranges: list[tuple[int, int]]) -> None:
        """Check the invariants against the ranges in use."""
        assert all(a + n <= self.populated for a, n in ranges), "a range is not populated"
        assert self.backed <= self.populated, (self.backed, self.populated)
        assert all(self.backed < end <= self.populated for end, _ in self._held), "held back"
        assert all(self.backed < a < b <= self.populated for a, b in self._ranges.items())
