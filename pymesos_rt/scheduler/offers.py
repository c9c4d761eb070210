"""How the framework scheduler's core answers offers, and when it wants them.

Rules kept here (with those of ``scheduler/state.py``, whose records it shares):
- An offer of an agent launches executors for the actors waiting to be placed first, then, per
  shape in queue order, for the READY tasks that no executor still starting will take
  (SPREAD shapes levelled across agents: placement.spread_cap); an offer with nothing to launch
  is declined.
- Declined resources are filtered for ``decline_seconds_wanting`` while work waits, else for
  ``decline_seconds`` (the framework is then *filtered* until its next REVIVE).
- The framework wants offers exactly when some shape has more READY tasks than executors, or an
  actor waits: it REVIVEs then (also when filtered: REVIVE clears filters) and SUPPRESSes
  otherwise.

No I/O, no clock. Owned by :class:`~pymesos_rt.scheduler.state.SchedulerState` (``core.answers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.effects import DeclineOffers, Effect, LaunchExecutors, SetSuppressed
from pymesos_rt.scheduler.matching import plan_launches
from pymesos_rt.scheduler.placement import is_spread, spread_cap

if TYPE_CHECKING:
    from pymesos_rt.scheduler.state import SchedulerState


class OfferAnswers:
    def __init__(self, core: SchedulerState) -> None:
        self.core = core

    def offers(self, offers: Iterable[m.Offer], now: float) -> list[Effect]:
        core = self.core
        effects: list[Effect] = []
        by_agent: dict[str, list[m.Offer]] = {}
        for offer in offers:
            by_agent.setdefault(offer.agent_id, []).append(offer)
        spread = self._spread_held(by_agent)
        for agent_id, group in by_agent.items():
            total = Resources()
            for offer in group:
                total = total + offer.resources
            launches = [(x.executor_id, x.shape) for x in core.actors.place(agent_id, total, now)]
            for _, shape in launches:
                total = total - shape
            need = self.need()
            for shape, held in spread.items():
                if shape in need:
                    need[shape] = spread_cap(need[shape], held, agent_id)
            order = [s for s in self.shape_order() if need.get(s, 0) > 0]
            for shape in plan_launches(total, need, order, agent_id):
                launches.append((core.new_lease(agent_id, shape, now).executor_id, shape))
                if shape in spread:
                    spread[shape][agent_id] += 1
            ids = [o.offer_id for o in group]
            if launches:
                effects.append(LaunchExecutors(agent_id, ids, launches, self._refuse_seconds()))
            else:
                effects.append(DeclineOffers(ids, self._refuse_seconds()))
        return effects + self.want_offers()

    def _spread_held(self, offered: Mapping[str, object]) -> dict[Resources, dict[str, int]]:
        """For each SPREAD shape with work waiting: how many of its executors each offered
        agent holds (placement.spread_cap levels them)."""
        core = self.core
        shapes = [s for s in self.shape_order() if is_spread(s)]
        if not shapes:
            return {}
        held = {shape: dict.fromkeys(offered, 0) for shape in shapes}
        for lease in core.leases.values():
            counts = held.get(lease.shape)
            if counts is not None and lease.agent_id in counts and not lease.killing:
                counts[lease.agent_id] += 1
        return held

    def _refuse_seconds(self) -> float:
        """Filter for declined resources: short while work still waits, longer when idle."""
        core = self.core
        wanting = self.need() or core.actors.waiting
        if wanting:
            return core.config.decline_seconds_wanting
        core.filtered = True
        return core.config.decline_seconds

    def need(self) -> dict[Resources, int]:
        """Executors to launch per shape: READY tasks not covered by executors still starting.

        Evaluated after dispatch, so READY tasks are those no connected executor had room for.
        """
        core = self.core
        launching: dict[Resources, int] = {}
        for lease in core._starting.values():  # not all leases: actors' can be many
            if not (lease.killing or lease.draining):
                launching[lease.shape] = launching.get(lease.shape, 0) + 1
        return {
            shape: len(queue) - launching.get(shape, 0)
            for shape, queue in core.ready.items()
            if len(queue) > launching.get(shape, 0)
        }

    def shape_order(self) -> list[Resources]:
        return [shape for shape, queue in self.core.ready.items() if queue]

    def want_offers(self) -> list[Effect]:
        core = self.core
        want = bool(self.need()) or bool(core.actors.waiting)
        if want and (core.suppressed or core.filtered):  # REVIVE also clears our filters
            core.suppressed = core.filtered = False
            return [SetSuppressed(False)]
        if not want and not core.suppressed:
            core.suppressed = True
            return [SetSuppressed(True)]
        return []
