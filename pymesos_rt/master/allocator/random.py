"""A random allocator: roles, then frameworks inside a role, in a random order (weighted by
role weight; seedable for tests), as Mesos's random sorter."""

from __future__ import annotations

import random
from collections.abc import Iterator

from pymesos_rt.master.allocator.base import Allocator
from pymesos_rt.master.allocator.sorter import Client, Pool, Sorter
from pymesos_rt.protocol.resources import Resources


class RandomSorter(Sorter):
    def __init__(self, pool: Pool, rng: random.Random) -> None:
        super().__init__(pool)
        self._rng = rng
        self._active: dict[str, None] = {}  # in activation order: reproducible with a seed
        self._weighted: set[str] = set()  # active clients whose weight is not 1

    def sort(self) -> Iterator[str]:
        names = list(self._active)
        if self._weighted:  # Efraimidis-Spirakis: key u^(1/w), largest first
            rnd = self._rng.random
            weights = {n: self._clients[n].weight for n in names}
            return iter(sorted(names, key=lambda n: rnd() ** (1.0 / weights[n]), reverse=True))
        return self._shuffled(names)

    def _shuffled(self, names: list[str]) -> Iterator[str]:
        """A uniform permutation, drawn lazily (Fisher-Yates): taking the first costs O(1)."""
        rand = self._rng.randrange
        n = len(names)
        for i in range(n):
            j = rand(i, n)
            names[i], names[j] = names[j], names[i]
            yield names[i]

    def _update(
        self, entry: Client, *, allocation: Resources | None = None, weight: float | None = None
    ) -> None:
        super()._update(entry, allocation=allocation, weight=weight)
        if entry.active:
            self._entered(entry)

    def _entered(self, entry: Client) -> None:
        self._active[entry.name] = None
        if entry.weight != 1.0:
            self._weighted.add(entry.name)
        else:
            self._weighted.discard(entry.name)

    def _left(self, entry: Client) -> None:
        self._active.pop(entry.name, None)
        self._weighted.discard(entry.name)


class RandomAllocator(Allocator):
    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        super().__init__()

    def _make_sorter(self, pool: Pool) -> Sorter:
        return RandomSorter(pool, self._rng)
