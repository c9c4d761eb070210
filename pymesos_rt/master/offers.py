"""What the master does with offers: makes them from the allocator's allocations, carries out
a framework's Accept (each launch must fit what the offers hold; what is left goes back to the
allocator, filtered for ``refuse_seconds``), takes them back on Decline, and rescinds them when
they expire or their agent goes.

Rules kept here (with those of ``master/state.py``):
- A launch that is not carried out is reported to its framework as a FAILED executor (it counts
  the executor as starting until it hears of it).
- The offers of one Accept are all of one agent, and all still valid; else every one goes back
  and each launch is refused.

No I/O, no clock. Owned by :class:`~pymesos_rt.master.state.MasterState` (``core.offer_book``),
whose registry (``registry.py``) indexes the offers.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from pymesos_rt.master.records import Effect, ExecutorEntry, FrameworkEntry, Send
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

if TYPE_CHECKING:
    from pymesos_rt.master.state import MasterState


class OfferBook:
    def __init__(self, core: MasterState) -> None:
        self.core = core
        self._seq = itertools.count(1)  # offer ids: f"{master_id}-O{seq}"

    def accept(self, fw: FrameworkEntry, call: m.Accept, now: float) -> list[Effect]:
        core = self.core
        offers: list[m.Offer] = []
        for offer_id in call.offer_ids:
            entry = core.offers.get(offer_id)
            if entry is None or entry[0].framework_id != fw.framework_id:
                # rescinded or never ours: give back what is still valid, report the problem
                for other in offers:
                    self.drop(other.offer_id, fw.framework_id, now, 0.0)
                for rest in call.offer_ids:
                    self.drop(rest, fw.framework_id, now, 0.0)
                why = f"offer {offer_id} is no longer valid"
                refused = [self._refused(fw, launch, "", why) for launch in call.launches]
                return [Send(fw.conn, m.Error(why)), *refused] if fw.conn else []
            offers.append(entry[0])
        if not offers:
            return []
        agent_ids = {o.agent_id for o in offers}
        if len(agent_ids) != 1:
            for o in offers:
                self.drop(o.offer_id, fw.framework_id, now, 0.0)
            why = "offers of one Accept must be of one agent"
            refused = [self._refused(fw, launch, "", why) for launch in call.launches]
            return [Send(fw.conn, m.Error(why)), *refused] if fw.conn else []
        agent_id = agent_ids.pop()
        available = Resources()
        for o in offers:
            available = available + o.resources
            core._pop_offer(o.offer_id)
        agent = core.agents[agent_id]
        effects: list[Effect] = []
        for launch in call.launches:
            key = (fw.framework_id, launch.executor_id)
            if key in core.executors:
                effects.append(Send(fw.conn, m.Error(f"executor id {launch.executor_id} is taken")))  # type: ignore[arg-type]
                continue
            # a launch may hold nothing: an actor without num_cpus holds no resources while
            # it lives, as Ray's default actor (its framework placed it where 1 CPU was free)
            if (
                not launch.resources.fits(available)
                or not launch.resources.is_nonnegative()  # would grow what is left
            ):
                why = (
                    f"launch {launch.executor_id} ({launch.resources})"
                    f" does not fit offer ({available})"
                )
                effects.append(Send(fw.conn, m.Error(why)))  # type: ignore[arg-type]
                effects.append(self._refused(fw, launch, agent_id, why))
                continue
            available = available - launch.resources
            core._add_executor(
                ExecutorEntry(fw.framework_id, launch.executor_id, agent_id, launch.resources)
            )
            if fw.known is not None:
                fw.known.add(launch.executor_id)
            core.note_growth(fw, now)
            if agent.conn is not None:
                digest = core.identity.digest_of(fw.framework_id)
                effects.append(Send(agent.conn, m.LaunchExecutor(fw.framework_id, launch, digest)))
        if not available.is_empty():
            core.allocator.recover(fw.framework_id, agent_id, available, now, call.refuse_seconds)
        return [e for e in effects if not (isinstance(e, Send) and e.conn is None)]

    def _refused(
        self, fw: FrameworkEntry, launch: m.ExecutorLaunch, agent_id: str, why: str
    ) -> Send:
        """A launch not carried out, reported as a FAILED executor: the framework counts an
        executor as starting until it hears of it, and would otherwise wait for it forever."""
        core = self.core
        update = m.StatusUpdate(
            f"{core.master_id}-refused-{fw.framework_id}-{launch.executor_id}",
            agent_id,
            fw.framework_id,
            launch.executor_id,
            ExecutorState.FAILED,
            why,
        )
        return Send(fw.conn, m.ExecutorUpdate(update))  # type: ignore[arg-type]

    def drop(self, offer_id: str, fw_id: str, now: float, refuse: float) -> None:
        core = self.core
        entry = core.offers.get(offer_id)
        if entry is None or entry[0].framework_id != fw_id:
            return
        offer = entry[0]
        core._pop_offer(offer_id)
        core.allocator.recover(fw_id, offer.agent_id, offer.resources, now, refuse)

    def make_offers(self, now: float) -> list[Effect]:
        """The offers of one allocation cycle: one
        :class:`~pymesos_rt.protocol.messages.Offers` per framework."""
        core = self.core
        effects: list[Effect] = []
        per_fw: dict[str, list[m.Offer]] = {}
        for alloc in core.allocator.allocate(now, core.offered_on):
            agent = core.agents.get(alloc.agent_id)
            fw = core.frameworks.get(alloc.framework_id)
            if agent is None or agent.conn is None or fw is None or fw.conn is None:
                core.allocator.recover(alloc.framework_id, alloc.agent_id, alloc.resources, now)
                continue
            offer = m.Offer(
                f"{core.master_id}-O{next(self._seq)}",
                alloc.framework_id,
                alloc.agent_id,
                agent.hostname,
                alloc.resources,
            )
            core._add_offer(offer, now)
            per_fw.setdefault(alloc.framework_id, []).append(offer)
        for fw_id, offers in per_fw.items():
            conn = core.frameworks[fw_id].conn
            assert conn is not None
            effects.append(Send(conn, m.Offers(offers)))
        return effects

    def rescind_agent_offers(self, agent_id: str, now: float) -> list[Effect]:
        core = self.core
        effects: list[Effect] = []
        for offer_id in core.offers_on(agent_id):
            offer = core.offers[offer_id][0]
            fw = core.frameworks.get(offer.framework_id)
            self.drop(offer_id, offer.framework_id, now, 0.0)
            if fw is not None and fw.conn is not None:
                effects.append(Send(fw.conn, m.Rescind(offer_id)))
        return effects

    def expire(self, now: float) -> list[Effect]:
        """Rescind the offers older than ``offer_timeout``: the scan stops at the first that has
        not expired (offers are kept in the order they were made)."""
        core = self.core
        effects: list[Effect] = []
        expired: list[tuple[str, m.Offer]] = []
        for offer_id, (offer, made_at) in core.offers.items():
            if now - made_at < core.config.offer_timeout:
                break
            expired.append((offer_id, offer))
        for offer_id, offer in expired:
            fw = core.frameworks.get(offer.framework_id)
            self.drop(offer_id, offer.framework_id, now, 0.0)
            if fw is not None and fw.conn is not None:
                effects.append(Send(fw.conn, m.Rescind(offer_id)))
        return effects
