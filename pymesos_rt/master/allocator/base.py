"""The allocator interface and the bookkeeping every policy shares.

An allocator decides *which framework* is offered an agent's free resources. It is told about
agents, frameworks, and resources coming back (``recover``), and asked for allocations with
``allocate(now)``. Each :class:`Allocation` hands all currently free resources of one agent to one
framework; they count as that framework's until recovered. Policies differ only in
:meth:`Allocator.order`: the order in which frameworks are considered.

Offer filters: ``recover(..., refuse_seconds=s)`` keeps the refused resources of that agent
from being offered to that framework again until ``now + s``; as in Mesos, a filter covers only
offers that are contained in what was refused, so resources freed on the agent meanwhile (say,
CPUs next to refused memory) are offered at once. ``suppress`` stops all offers to a framework;
``revive`` resumes them and clears its filters.

No I/O, no clock: callers pass ``now``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field

from pymesos_rt.protocol.resources import Resources


@dataclass(frozen=True)
class Allocation:
    framework_id: str
    agent_id: str
    resources: Resources


@dataclass
class _Agent:
    total: Resources
    allocated: dict[str, Resources] = field(default_factory=dict)  # framework -> resources

    def free(self) -> Resources:
        used = Resources()
        for res in self.allocated.values():
            used = used + res
        return (self.total - used).clamp_nonnegative()


@dataclass
class FrameworkEntry:
    framework_id: str
    role: str
    order: int
    suppressed: bool = False
    allocated: Resources = field(default_factory=Resources)
    filters: dict[str, tuple[float, Resources]] = field(
        default_factory=dict
    )  # agent -> until, what


class Allocator(abc.ABC):
    """Bookkeeping shared by all policies; subclasses implement :meth:`order`."""

    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}
        self._frameworks: dict[str, FrameworkEntry] = {}
        self._weights: dict[str, float] = {}
        self._counter = 0

    # --- events ------------------------------------------------------------------------------
    def add_agent(
        self, agent_id: str, total: Resources, used: Mapping[str, Resources] | None = None
    ) -> None:
        """An agent joined; ``used`` is what its running executors already hold, per framework."""
        agent = _Agent(total=total)
        self._agents[agent_id] = agent
        for framework_id, res in (used or {}).items():
            self._charge(framework_id, agent_id, res)

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        for framework_id, res in agent.allocated.items():
            fw = self._frameworks.get(framework_id)
            if fw is not None:
                fw.allocated = (fw.allocated - res).clamp_nonnegative()
        for fw in self._frameworks.values():
            fw.filters.pop(agent_id, None)

    def add_framework(
        self, framework_id: str, role: str = "*", *, suppressed: bool = False
    ) -> None:
        if framework_id in self._frameworks:
            entry = self._frameworks[framework_id]
            entry.role, entry.suppressed = role, suppressed
            return
        self._counter += 1
        self._frameworks[framework_id] = FrameworkEntry(
            framework_id, role, self._counter, suppressed=suppressed
        )
        # resources reported by agents before the framework (re-)subscribed
        for agent in self._agents.values():
            res = agent.allocated.get(framework_id)
            if res is not None:
                entry = self._frameworks[framework_id]
                entry.allocated = entry.allocated + res

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework and free everything allocated to it."""
        self._frameworks.pop(framework_id, None)
        for agent in self._agents.values():
            agent.allocated.pop(framework_id, None)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        for role, weight in weights.items():
            if weight <= 0:
                raise ValueError(f"role weight must be > 0, got {role}={weight}")
        self._weights = dict(weights)

    def weight(self, role: str) -> float:
        return self._weights.get(role, 1.0)

    def suppress(self, framework_id: str) -> None:
        if framework_id in self._frameworks:
            self._frameworks[framework_id].suppressed = True

    def revive(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.suppressed = False
            fw.filters.clear()

    def recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: Resources,
        now: float,
        refuse_seconds: float = 0.0,
    ) -> None:
        """Resources allocated to a framework come back (declined, unused, or released)."""
        agent = self._agents.get(agent_id)
        if agent is not None and framework_id in agent.allocated:
            left = (agent.allocated[framework_id] - resources).clamp_nonnegative()
            if left.is_empty():
                del agent.allocated[framework_id]
            else:
                agent.allocated[framework_id] = left
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.allocated = (fw.allocated - resources).clamp_nonnegative()
            if refuse_seconds > 0 and agent is not None:
                fw.filters[agent_id] = (now + refuse_seconds, resources)

    # --- queries -----------------------------------------------------------------------------
    def allocate(self, now: float) -> list[Allocation]:
        """Offer each agent's free resources to the first eligible framework in policy order."""
        out: list[Allocation] = []
        for agent_id in sorted(self._agents):
            free = self._agents[agent_id].free()
            if free.is_empty():
                continue
            for fw in self.order():
                if fw.suppressed:
                    continue
                refused = fw.filters.get(agent_id)
                if refused is not None:
                    until, what = refused
                    if now >= until:
                        del fw.filters[agent_id]
                    elif free.fits(what):
                        continue  # nothing here but what it refused
                self._charge(fw.framework_id, agent_id, free)
                out.append(Allocation(fw.framework_id, agent_id, free))
                break
        return out

    def total(self) -> Resources:
        total = Resources()
        for agent in self._agents.values():
            total = total + agent.total
        return total

    def share(self, framework_id: str) -> float:
        fw = self._frameworks.get(framework_id)
        return fw.allocated.dominant_share(self.total()) if fw else 0.0

    def role_share(self, role: str) -> float:
        """Weighted dominant share of a role: its frameworks' allocations over the cluster."""
        allocated = Resources()
        for fw in self._frameworks.values():
            if fw.role == role:
                allocated = allocated + fw.allocated
        return allocated.dominant_share(self.total()) / self._weights.get(role, 1.0)

    def frameworks(self) -> list[FrameworkEntry]:
        return list(self._frameworks.values())

    @abc.abstractmethod
    def order(self) -> list[FrameworkEntry]:
        """Frameworks in the order they should be offered resources."""

    # --- internals ---------------------------------------------------------------------------
    def _charge(self, framework_id: str, agent_id: str, res: Resources) -> None:
        agent = self._agents[agent_id]
        agent.allocated[framework_id] = agent.allocated.get(framework_id, Resources()) + res
        fw = self._frameworks.get(framework_id)
        if fw is not None:
            fw.allocated = fw.allocated + res
