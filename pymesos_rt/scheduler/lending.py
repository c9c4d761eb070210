"""Executors lent by blocked tasks, and when waiting work presses idle executors (pure logic
over the scheduler core's leases; ``SchedulerState`` calls these).

A task blocked in ``get`` lends its executor, as Ray lends a blocked worker's resources: READY
tasks of another shape that the executor's shape covers (same runtime env and placement) may
run there while no executor of their own shape has room. So nested tasks of a smaller shape
never wait for resources that their blocked parents hold; the executor takes at most
``1 + blocked`` tasks at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping

from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.placement import extras_of
from pymesos_rt.scheduler.records import Lease


def lent_leases(
    shape: Resources, lenders: set[str], leases: Mapping[str, Lease]
) -> Iterator[Lease]:
    """Leases lent by blocked tasks that may run tasks of ``shape``, with room for one more.

    ``lenders`` holds the executors that may have room: one found without room (or gone) is
    dropped from it, and the core adds it back when a task of it ends while it is still
    blocked. So a pump looks only at lenders that had room, never at every blocked executor."""
    for eid in list(lenders):
        lease = leases.get(eid)
        if (
            lease is None
            or lease.killing
            or lease.draining
            or not lease.blocked
            or len(lease.inflight) >= 1 + lease.blocked
        ):
            lenders.discard(eid)
            continue
        if (
            lease.connected
            and lease.shape != shape
            and shape.fits(lease.shape)
            and extras_of(lease.shape) == extras_of(shape)
        ):
            yield lease


def under_pressure(
    ready: Mapping[Resources, deque[str]], leases: Iterable[Lease], actors_waiting: bool
) -> bool:
    """Work waits that no connected executor can run: READY tasks of a shape without a
    connected executor (one still starting may fail to: an agent can refuse a launch, e.g. when
    its GPUs are split into fractions too small), or actors to place. Idle executors then go
    after ``pressure_idle_timeout`` instead of ``idle_timeout``."""
    if actors_waiting:
        return True
    waiting = {shape for shape, queue in ready.items() if queue}
    if not waiting:
        return False
    for lease in leases:
        if lease.connected and not lease.killing and not lease.draining:
            waiting.discard(lease.shape)
    return bool(waiting)
