"""Fairness between frameworks that keep their executors busy: which framework should give
one executor back so a starving one can be offered resources.

Executors hold resources as long as their framework has work (the lease model), so offers
alone never move resources from a busy framework to a newcomer. When a framework wants
resources (it has not SUPPRESSed) and has not grown past the most it held for
``reclaim_interval`` while wanting (so nothing free is of use to it: what it was offered, it
declined; a framework still filling up grows all the time, while one that only replaces its own
short tasks in the few CPUs it has does not), the framework with the highest weighted dominant
share gives back its smallest executor, provided that moving it does not turn the order around
(within one executor of fairness), and that the hungry framework does not hold, in outstanding
offers, as much of that executor's dominant resource as it would bring (it is answering an
offer of what it lacks). Offers of other resources do not count: an agent's spare memory is
offered round all the time while its CPUs are taken, and a framework holding that offer whenever
it is looked at would never be seen starving. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pymesos_rt.protocol.resources import Resources


@dataclass(frozen=True)
class Holder:
    framework_id: str
    role: str
    used: Resources  # resources of its live executors
    smallest: Resources | None  # its smallest executor, if any
    starving: bool  # wants resources and has not grown for a while
    offered: Resources = field(default_factory=Resources)  # in its outstanding offers


def choose_reclaims(
    holders: list[Holder], total: Resources, weight: Callable[[str], float]
) -> list[str]:
    """Frameworks (one executor each) to ask for an executor back, this round."""
    if total.is_empty():
        return []

    def share(used: Resources, role: str) -> float:
        return used.dominant_share(total) / weight(role)

    shares: Mapping[str, float] = {h.framework_id: share(h.used, h.role) for h in holders}
    asked: list[str] = []
    for hungry in sorted((h for h in holders if h.starving), key=lambda h: shares[h.framework_id]):
        donors = [
            h
            for h in holders
            if h.framework_id != hungry.framework_id
            and h.smallest is not None
            and h.framework_id not in asked
        ]
        if not donors:
            continue
        donor = max(donors, key=lambda h: shares[h.framework_id])
        assert donor.smallest is not None
        if _holds_enough_of(hungry.offered, donor.smallest, total):
            continue  # it is answering an offer of what the executor would bring
        after_donor = share(donor.used - donor.smallest, donor.role)
        after_hungry = share(hungry.used + donor.smallest, hungry.role)
        if after_donor >= after_hungry - 1e-9:
            asked.append(donor.framework_id)
    return asked


def _holds_enough_of(offered: Resources, executor: Resources, total: Resources) -> bool:
    """Whether ``offered`` holds as much of the executor's dominant resource as it has."""
    shares = {name: executor[name] / total[name] for name in executor if total.get(name) > 0}
    if not shares:
        return False
    dominant = max(shares, key=lambda name: shares[name])
    return offered.get(dominant) >= executor[dominant] - 1e-9
