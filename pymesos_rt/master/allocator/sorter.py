"""Sorters: the allocator's policy, as Mesos's ``sorter.hpp``: in which order *clients* (the
roles of the cluster, or the frameworks of one role) are offered resources.

A sorter holds clients, each with a weight, a tie-break ``rank`` and the resources allocated to
it, and the cluster's total through a shared :class:`Pool`. :meth:`Sorter.sort` yields the
*active* clients in policy order, lazily: the allocator takes the first eligible one, so a
sorter that keeps its order up to date (DRF) answers in O(1), and after an allocation moves
that one client in O(log n). The iterator is invalid once the sorter changes.

Rules kept by every implementation (checked by ``validate``):
- every client has one allocation, never negative; ``sort()`` yields each active client once
  and no inactive one;
- ``allocated``/``unallocated`` of a client cost at most O(log n) plus a list move, never a
  pass over all clients; a change of the cluster's total (an agent joining or leaving) costs
  O(1) here, and the next ``sort()`` pays for it once.

Pure: no I/O, no clock, no randomness but the ``random.Random`` a random sorter is given.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field

from pymesos_rt.protocol.resources import Resources

Rank = tuple[int, str]  # ties between equal shares: roles by name, frameworks by arrival


class Pool:
    """The cluster's total resources, shared by all sorters of one allocator; ``version`` grows
    with every change so that sorters know their shares are stale."""

    __slots__ = ("total", "version")

    def __init__(self) -> None:
        self.total = Resources()
        self.version = 0

    def add(self, resources: Resources) -> None:
        self.total = self.total + resources
        self.version += 1

    def remove(self, resources: Resources) -> None:
        self.total = (self.total - resources).clamp_nonnegative()
        self.version += 1


@dataclass(slots=True)
class Client:
    name: str
    rank: Rank
    weight: float = 1.0
    active: bool = True
    allocation: Resources = field(default_factory=Resources)


class Sorter(abc.ABC):
    """Clients, their allocations and weights; subclasses decide the order (:meth:`sort`)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._clients: dict[str, Client] = {}

    # --- clients -----------------------------------------------------------------------------
    def add(
        self,
        client: str,
        rank: Rank,
        weight: float = 1.0,
        *,
        active: bool = True,
        allocation: Resources | None = None,
    ) -> None:
        if client in self._clients:
            raise ValueError(f"sorter client {client!r} is already added")
        entry = Client(client, rank, weight, active, allocation or Resources())
        self._clients[client] = entry
        if active:
            self._entered(entry)

    def remove(self, client: str) -> None:
        entry = self._clients.pop(client, None)
        if entry is not None and entry.active:
            self._left(entry)

    def activate(self, client: str) -> None:
        entry = self._clients[client]
        if not entry.active:
            entry.active = True
            self._entered(entry)

    def deactivate(self, client: str) -> None:
        entry = self._clients[client]
        if entry.active:
            self._left(entry)
            entry.active = False

    def set_weight(self, client: str, weight: float) -> None:
        entry = self._clients[client]
        self._update(entry, weight=weight)

    # --- allocations -------------------------------------------------------------------------
    def allocated(self, client: str, resources: Resources) -> None:
        entry = self._clients[client]
        self._update(entry, allocation=entry.allocation + resources)

    def unallocated(self, client: str, resources: Resources) -> None:
        entry = self._clients[client]
        self._update(entry, allocation=(entry.allocation - resources).clamp_nonnegative())

    # --- queries -----------------------------------------------------------------------------
    def __contains__(self, client: str) -> bool:
        return client in self._clients

    def __len__(self) -> int:
        return len(self._clients)

    def clients(self) -> list[str]:
        return list(self._clients)

    def allocation(self, client: str) -> Resources:
        return self._clients[client].allocation

    def share(self, client: str) -> float:
        """Weighted dominant share: the client's dominant share of the total over its weight."""
        entry = self._clients[client]
        return entry.allocation.dominant_share(self.pool.total) / entry.weight

    def key_without(self, client: str, resources: Resources) -> tuple[float, Rank, str] | None:
        """Where the client would sort, as a key comparable with other clients' keys, were
        ``resources`` not allocated to it; None for a policy whose order does not follow
        allocations (the allocator then keeps the order of :meth:`sort`)."""
        return None

    @abc.abstractmethod
    def sort(self) -> Iterator[str]:
        """The active clients, in the order they should be offered resources (lazily)."""

    def validate(self) -> None:
        for name, entry in self._clients.items():
            assert entry.name == name
            assert entry.allocation.is_nonnegative(), (name, entry.allocation)
            assert entry.weight > 0
        order = list(self.sort())
        assert len(order) == len(set(order))
        assert set(order) == {n for n, e in self._clients.items() if e.active}, order

    # --- hooks for the policy ----------------------------------------------------------------
    def _update(
        self, entry: Client, *, allocation: Resources | None = None, weight: float | None = None
    ) -> None:
        """Change a client's allocation or weight (subclasses re-place it in their order)."""
        if allocation is not None:
            entry.allocation = allocation
        if weight is not None:
            entry.weight = weight

    def _entered(self, entry: Client) -> None:
        """An active client joined the order."""

    def _left(self, entry: Client) -> None:
        """An active client left the order."""
