"""The DRF sorter: clients ordered by weighted dominant share (share / weight), ties to the
smaller rank (the role's name, the framework that subscribed first), as Mesos's DRF sorter.

:class:`DRFSorter` keeps its active clients in a list sorted by (share, rank): an allocation
moves one client (a bisect and a list move); a change of the cluster's total makes every share
stale at once, and the next :meth:`~DRFSorter.sort` re-sorts once (O(n log n)), as Mesos's DRF
sorter marks itself dirty. It is every allocator's default sorter (``base.Allocator``).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from pymesos_rt.master.allocator.sorter import Client, Pool, Rank, Sorter
from pymesos_rt.protocol.resources import Resources

_Key = tuple[float, Rank, str]


class DRFSorter(Sorter):
    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        self._order: list[_Key] = []  # the active clients' keys, ascending
        self._keys: dict[str, _Key] = {}
        self._version = pool.version

    def sort(self) -> Iterator[str]:
        if self._version != self.pool.version:
            self._keys = {n: self._key(e) for n, e in self._clients.items() if e.active}
            self._order = sorted(self._keys.values())
            self._version = self.pool.version
        return (key[2] for key in self._order)

    def _key(self, entry: Client, without: Resources | None = None) -> _Key:
        allocation = entry.allocation
        if without is not None:
            allocation = (allocation - without).clamp_nonnegative()
        share = allocation.dominant_share(self.pool.total) / entry.weight
        return (share, entry.rank, entry.name)

    def key_without(self, client: str, resources: Resources) -> _Key:
        return self._key(self._clients[client], resources)

    def _update(
        self, entry: Client, *, allocation: Resources | None = None, weight: float | None = None
    ) -> None:
        if entry.active:
            self._left(entry)
        super()._update(entry, allocation=allocation, weight=weight)
        if entry.active:
            self._entered(entry)

    def _entered(self, entry: Client) -> None:
        if self._version == self.pool.version:  # else the next sort() re-sorts everything
            key = self._keys[entry.name] = self._key(entry)
            insort(self._order, key)

    def _left(self, entry: Client) -> None:
        if self._version == self.pool.version:
            key = self._keys.pop(entry.name)
            del self._order[bisect_left(self._order, key)]

    def validate(self) -> None:
        super().validate()
        if self._version == self.pool.version:
            assert self._order == sorted(self._key(self._clients[k[2]]) for k in self._order)
