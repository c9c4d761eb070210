"""The master's registry: agents, frameworks, executors and offers, with the indexes that keep
every handler's cost proportional to what it touches (:class:`~.state.MasterState` builds on it).

Primary maps: ``agents``, ``frameworks``, ``executors`` (by (framework, executor)), ``offers``
(by id, in the order they were made: with one ``offer_timeout`` for all, the oldest first).
Indexes, each kept by the mutators below and checked by :meth:`Registry.validate`:
- an agent's executors (``AgentEntry.executors``) and a framework's (``FrameworkEntry.executors``;
  ``_unclaimed`` for frameworks that have not (re-)subscribed yet);
- offers by agent (``_agent_offers``) and by framework (``FrameworkEntry.offers``);
- resources used and offered per agent (``AgentEntry.used``/``offered``), per framework
  (``_fw_used``, ``_fw_shapes`` for its smallest executor, ``FrameworkEntry.offered``) and in
  the whole cluster (``used_total``, ``offered_total``);
- agents by liveness: connected ones least recently heard from first (``_liveness``),
  disconnected ones in the order they went (``_disconnected``), so timeouts are found without a
  pass over all agents;
- agents changed since frameworks last heard (``_changes``), for cluster notices.
Invariant: per agent, what the allocator has free + offered + used = its total, and the
allocator's allocation of each framework = what it is offered + what its executors use.

Imports ``protocol``, ``master.records`` and ``master.allocator`` only.
"""

from __future__ import annotations

from collections import Counter

from pymesos_rt.master.allocator import Allocator
from pymesos_rt.master.records import AgentEntry, ExecutorEntry, FrameworkEntry
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

ExecutorKey = tuple[str, str]


class Registry:
    def __init__(self, allocator: Allocator) -> None:
        self.allocator = allocator
        self.agents: dict[str, AgentEntry] = {}
        self.frameworks: dict[str, FrameworkEntry] = {}
        self.executors: dict[ExecutorKey, ExecutorEntry] = {}
        self.offers: dict[str, tuple[m.Offer, float]] = {}
        self.used_total = Resources()
        self.offered_total = Resources()
        self._unclaimed: dict[str, set[str]] = {}  # framework not subscribed -> its executors
        self._agent_offers: dict[str, set[str]] = {}
        self._fw_used: dict[str, Resources] = {}
        self._fw_shapes: dict[str, Counter[Resources]] = {}
        self._liveness: dict[str, None] = {}
        self._disconnected: dict[str, None] = {}
        self._cluster_seq = 0
        self._changes: dict[str, int] = {}  # agent -> seq of its last change, oldest first

    # --- executors ---------------------------------------------------------------------------
    def _add_executor(self, ex: ExecutorEntry) -> None:
        key = (ex.framework_id, ex.executor_id)
        self.executors[key] = ex
        self._executor_ids(ex.framework_id).add(ex.executor_id)
        agent = self.agents.get(ex.agent_id)
        if agent is not None:
            agent.executors.add(key)
            agent.used = agent.used + ex.resources
        self.used_total = self.used_total + ex.resources
        self._fw_used[ex.framework_id] = self.used_by(ex.framework_id) + ex.resources
        self._fw_shapes.setdefault(ex.framework_id, Counter())[ex.resources] += 1

    def _pop_executor(self, key: ExecutorKey) -> ExecutorEntry | None:
        ex = self.executors.pop(key, None)
        if ex is None:
            return None
        fw_id = ex.framework_id
        fw = self.frameworks.get(fw_id)
        if fw is not None:
            fw.executors.discard(ex.executor_id)
        else:
            ids = self._unclaimed.get(fw_id)
            if ids is not None:
                ids.discard(ex.executor_id)
                if not ids:
                    del self._unclaimed[fw_id]
        agent = self.agents.get(ex.agent_id)
        if agent is not None:
            agent.executors.discard(key)
            agent.used = (agent.used - ex.resources).clamp_nonnegative()
        self.used_total = (self.used_total - ex.resources).clamp_nonnegative()
        used = (self._fw_used[fw_id] - ex.resources).clamp_nonnegative()
        shapes = self._fw_shapes[fw_id]
        shapes[ex.resources] -= 1
        if not shapes[ex.resources]:
            del shapes[ex.resources]
        if shapes:
            self._fw_used[fw_id] = used
        else:
            del self._fw_used[fw_id], self._fw_shapes[fw_id]
        return ex

    def _executor_ids(self, fw_id: str) -> set[str]:
        fw = self.frameworks.get(fw_id)
        return fw.executors if fw is not None else self._unclaimed.setdefault(fw_id, set())

    def _claim_executors(self, fw: FrameworkEntry) -> None:
        """A new framework entry takes the executors agents reported before it subscribed."""
        fw.executors = self._unclaimed.pop(fw.framework_id, set())

    def executor_ids_of(self, fw_id: str) -> set[str]:
        """The framework's executors (also of a framework that has not subscribed yet)."""
        fw = self.frameworks.get(fw_id)
        return fw.executors if fw is not None else self._unclaimed.get(fw_id, set())

    def used_by(self, fw_id: str) -> Resources:
        return self._fw_used.get(fw_id, Resources())

    def smallest_executor(self, fw_id: str, total: Resources) -> Resources | None:
        shapes = self._fw_shapes.get(fw_id)
        if not shapes:
            return None
        return min(shapes, key=lambda shape: shape.dominant_share(total))

    # --- offers ------------------------------------------------------------------------------
    def _add_offer(self, offer: m.Offer, now: float) -> None:
        self.offers[offer.offer_id] = (offer, now)
        self._agent_offers.setdefault(offer.agent_id, set()).add(offer.offer_id)
        agent = self.agents.get(offer.agent_id)
        if agent is not None:
            agent.offered = agent.offered + offer.resources
        fw = self.frameworks[offer.framework_id]
        fw.offers.add(offer.offer_id)
        fw.offered = fw.offered + offer.resources
        self.offered_total = self.offered_total + offer.resources

    def _pop_offer(self, offer_id: str) -> m.Offer | None:
        entry = self.offers.pop(offer_id, None)
        if entry is None:
            return None
        offer = entry[0]
        ids = self._agent_offers[offer.agent_id]
        ids.discard(offer_id)
        if not ids:
            del self._agent_offers[offer.agent_id]
        agent = self.agents.get(offer.agent_id)
        if agent is not None:
            agent.offered = (agent.offered - offer.resources).clamp_nonnegative()
        fw = self.frameworks.get(offer.framework_id)
        if fw is not None:
            fw.offers.discard(offer_id)
            fw.offered = (fw.offered - offer.resources).clamp_nonnegative()
        self.offered_total = (self.offered_total - offer.resources).clamp_nonnegative()
        return offer

    def offers_on(self, agent_id: str) -> list[str]:
        """The agent's outstanding offers, oldest first."""
        return sorted(self._agent_offers.get(agent_id, ()), key=_offer_seq)

    def offered_on(self, agent_id: str) -> dict[str, Resources]:
        """What each framework holds of the agent in outstanding offers (O(those offers))."""
        held: dict[str, Resources] = {}
        for offer_id in self._agent_offers.get(agent_id, ()):
            offer = self.offers[offer_id][0]
            held[offer.framework_id] = held.get(offer.framework_id, Resources()) + offer.resources
        return held

    # --- agents ------------------------------------------------------------------------------
    def _heard_from(self, agent: AgentEntry, now: float) -> None:
        agent.last_seen = now
        self._liveness.pop(agent.agent_id, None)
        self._liveness[agent.agent_id] = None

    def _went_away(self, agent: AgentEntry, now: float) -> None:
        agent.conn, agent.disconnected_at = None, now
        self._liveness.pop(agent.agent_id, None)
        self._disconnected[agent.agent_id] = None

    def _drop_agent_entry(self, agent_id: str) -> AgentEntry | None:
        agent = self.agents.pop(agent_id, None)
        self._liveness.pop(agent_id, None)
        self._disconnected.pop(agent_id, None)
        return agent

    def disconnected_count(self) -> int:
        return len(self._disconnected)

    def _agent_changed(self, agent_id: str) -> None:
        """Frameworks hear of it in the next cluster notice."""
        self._cluster_seq += 1
        self._changes.pop(agent_id, None)
        self._changes[agent_id] = self._cluster_seq

    def _cluster_notices(self) -> list[tuple[str, m.ClusterDelta]]:
        """One delta per connected framework, of the agents changed since it last heard."""
        if not self._changes:
            return []
        first = next(iter(self._changes.values()))
        shared: m.ClusterDelta | None = None
        out: list[tuple[str, m.ClusterDelta]] = []
        for fw in self.frameworks.values():
            if fw.conn is None or fw.cluster_seq >= self._cluster_seq:
                continue
            if fw.cluster_seq < first:
                shared = shared or self._delta(list(self._changes))
                out.append((fw.conn, shared))
            else:  # subscribed in the middle of these changes: only the later ones
                later = [a for a, seq in self._changes.items() if seq > fw.cluster_seq]
                out.append((fw.conn, self._delta(later)))
            fw.cluster_seq = self._cluster_seq
        self._changes.clear()
        return out

    def _delta(self, agent_ids: list[str]) -> m.ClusterDelta:
        added, removed = [], []
        for agent_id in agent_ids:
            agent = self.agents.get(agent_id)
            if agent is None:
                removed.append(agent_id)
            else:
                added.append(
                    m.AgentSummary(agent_id, agent.hostname, agent.total, agent.object_address)
                )
        return m.ClusterDelta(added, removed)

    def _cluster_message(self) -> m.ClusterChanged:
        return m.ClusterChanged(
            [
                m.AgentSummary(a.agent_id, a.hostname, a.total, a.object_address)
                for a in self.agents.values()
            ]
        )

    # --- invariants --------------------------------------------------------------------------
    def validate(self) -> None:
        """Recompute every index from the primary maps and compare (O(everything): tests)."""
        by_agent: dict[str, set[ExecutorKey]] = {a: set() for a in self.agents}
        by_fw: dict[str, set[str]] = {}
        used: dict[str, Resources] = {}
        fw_used: dict[str, Resources] = {}
        for key, ex in self.executors.items():
            assert key == (ex.framework_id, ex.executor_id), key
            assert not ex.state.terminal, key
            by_fw.setdefault(ex.framework_id, set()).add(ex.executor_id)
            fw_used[ex.framework_id] = fw_used.get(ex.framework_id, Resources()) + ex.resources
            assert ex.agent_id in by_agent, key  # an executor's agent is known
            by_agent[ex.agent_id].add(key)
            used[ex.agent_id] = used.get(ex.agent_id, Resources()) + ex.resources
        self._validate_rest(by_agent, by_fw, used, fw_used)

    def _validate_rest(
        self,
        by_agent: dict[str, set[ExecutorKey]],
        by_fw: dict[str, set[str]],
        used: dict[str, Resources],
        fw_used: dict[str, Resources],
    ) -> None:
        alloc = self.allocator
        offered: dict[str, Resources] = {}
        fw_offered: dict[str, Resources] = {}
        agent_offers: dict[str, set[str]] = {}
        for offer_id, (offer, _) in self.offers.items():
            assert offer.offer_id == offer_id
            assert offer.framework_id in self.frameworks, offer_id
            assert offer.agent_id in self.agents, offer_id
            assert offer_id in self.frameworks[offer.framework_id].offers
            res = offer.resources
            offered[offer.agent_id] = offered.get(offer.agent_id, Resources()) + res
            fw_offered[offer.framework_id] = fw_offered.get(offer.framework_id, Resources()) + res
            agent_offers.setdefault(offer.agent_id, set()).add(offer_id)
        assert agent_offers == self._agent_offers
        holders = [*self.frameworks, *self._unclaimed]
        for agent_id, agent in self.agents.items():
            assert agent.executors == by_agent[agent_id], agent_id
            assert agent.used == used.get(agent_id, Resources()), agent_id
            assert agent.offered == offered.get(agent_id, Resources()), agent_id
            busy = agent.offered + agent.used
            free = alloc.free(agent_id)
            # free + offered + used = total (unless executors reported more than the total)
            assert free + busy == agent.total or (free.is_empty() and not busy.fits(agent.total))
            held = Resources()
            for fw_id in holders:
                held = held + alloc.allocation(fw_id, agent_id)
            assert held == busy, (agent_id, held, busy)
            connected = agent.conn is not None
            assert (agent_id in self._liveness) == connected, agent_id
            assert (agent_id in self._disconnected) == (not connected), agent_id
        assert set(self._liveness) | set(self._disconnected) == set(self.agents)
        for fw_id, fw in self.frameworks.items():
            assert fw.executors == by_fw.get(fw_id, set()), fw_id
            assert fw.offered == fw_offered.get(fw_id, Resources()), fw_id
            assert fw_id not in self._unclaimed, fw_id
            assert alloc.allocation(fw_id) == fw.offered + fw_used.get(fw_id, Resources()), fw_id
        unclaimed = {f: ids for f, ids in by_fw.items() if f not in self.frameworks}
        assert unclaimed == self._unclaimed, (unclaimed, self._unclaimed)
        assert fw_used == self._fw_used
        assert {f: sum(c.values()) for f, c in self._fw_shapes.items()} == {
            f: len(ids) for f, ids in by_fw.items()
        }
        total_used = Resources()
        for res in used.values():
            total_used = total_used + res
        total_offered = Resources()
        for res in offered.values():
            total_offered = total_offered + res
        assert self.offered_total == total_offered, (self.offered_total, total_offered)
        assert self.used_total == total_used, (self.used_total, total_used)
        alloc.validate()


def _offer_seq(offer_id: str) -> int:
    tail = offer_id.rsplit("-O", 1)[-1]
    return int(tail) if tail.isdigit() else 0
