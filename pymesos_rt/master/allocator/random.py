"""A random allocator: frameworks are considered in a random order (seedable for tests)."""

from __future__ import annotations

import random

from pymesos_rt.master.allocator.base import Allocator, FrameworkEntry


class RandomAllocator(Allocator):
    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self._rng = random.Random(seed)

    def order(self) -> list[FrameworkEntry]:
        entries = list(self._frameworks.values())
        self._rng.shuffle(entries)
        return entries
