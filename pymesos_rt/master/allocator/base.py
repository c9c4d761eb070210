"""The hierarchical allocator: the bookkeeping every policy shares, and the allocation cycle.

An allocator decides *which framework* is offered an agent's free resources. It is told about
agents, frameworks, and resources coming back (``recover``), and asked for allocations with
``allocate(now)``. Each :class:`Allocation` hands all currently free resources of one agent to one
framework; they count as that framework's until recovered. Policies differ only in their
*sorter* (``sorter.py``): the order of roles, and of the frameworks inside each role.

Offer filters: ``recover(..., refuse_seconds=s)`` keeps the refused resources of that agent
from being offered to that framework again until ``now + s``; as in Mesos, a filter covers only
offers that are contained in what was refused, so resources freed on the agent meanwhile (say,
CPUs next to refused memory) are offered at once. ``suppress`` stops all offers to a framework;
``revive`` resumes them and clears its filters.

An agent's unused resources are one pool: shares count resources offered and not yet used, as
Mesos's do, except that, when an agent's freed resources are allocated, what a framework holds
of *that agent* in outstanding offers does not count against it (``allocate(now, offered)``;
the caller keeps the offers). An agent's spare memory is offered round while its CPUs are
taken; counted, the offer of it ranks its holder last by dominant share (nearly all of the
agent's memory), so every CPU freed on the agent, those of the holder's own ended tasks too,
would go to the other framework, whose executors then keep them (the lease model). Had the
spare memory and the freed CPU come free at once, they would have been one offer, ranked by
what the framework uses. Offers of other agents count as before. Costs O(frameworks with offers
of the agent) per allocation, and only policies whose order follows allocations (DRF) use it.

GPU agents (Mesos's ``--filter_gpu_resources``): while :attr:`Allocator.filter_gpu_resources`
is set, an agent with ``gpus`` is offered only to frameworks that can use GPUs
(``set_gpu_capable``, Mesos's ``GPU_RESOURCES`` capability), so GPU machines are kept for GPU
work; other frameworks skip them as if they had a filter there.

Cost follows change (docs/architecture.md, "How the allocator keeps its cost proportional to
change"): a cycle visits only *candidate* agents, those whose free resources changed since the
last cycle; an agent that no framework could take (all suppressed or filtered) waits among the
*stalled* agents until a framework arrives or revives, or one of its filters expires (a heap of
expiry times). The sorters keep shares up to date incrementally, so each candidate costs the
frameworks skipped before the first eligible one plus O(log frameworks) to re-place it. Every
event (an agent or framework added or removed, resources recovered) costs O(what it touches).

No I/O, no clock: callers pass ``now``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pymesos_rt.master.allocator.drf_sorter import DRFSorter
from pymesos_rt.master.allocator.sorter import Pool, Rank, Sorter
from pymesos_rt.protocol.resources import Resources

GPUS = "gpus"

OfferedOn = Callable[[str], Mapping[str, Resources]]
"""An agent's outstanding offers: framework -> the resources they hold (see ``allocate``)."""


@dataclass(frozen=True)
class Allocation:
    framework_id: str
    agent_id: str
    resources: Resources


@dataclass(slots=True)
class _Agent:
    total: Resources
    allocated: dict[str, Resources] = field(default_factory=dict)  # framework -> resources
    allocated_sum: Resources = field(default_factory=Resources)
    free: Resources = field(default_factory=Resources)
    active: bool = True  # connected: its resources may be offered
    gpus: bool = False  # it has GPUs: offered only to GPU-capable frameworks (when filtering)
    filtered_by: set[str] = field(default_factory=set)  # frameworks with a filter on it

    def refresh(self) -> None:
        self.free = (self.total - self.allocated_sum).clamp_nonnegative()


@dataclass
class FrameworkEntry:
    framework_id: str
    role: str
    order: int
    suppressed: bool = False
    gpu_capable: bool = False  # Mesos's GPU_RESOURCES capability
    allocated: Resources = field(default_factory=Resources)
    filters: dict[str, tuple[float, Resources]] = field(
        default_factory=dict
    )  # agent -> until, what


class Allocator:
    """Hierarchical allocation (roles, then frameworks) over a policy's sorters; subclasses
    choose the sorter (:meth:`_make_sorter`). A subclass that overrides :meth:`order` instead
    is asked for the whole order once per candidate agent (simple, but O(frameworks) each)."""

    filter_gpu_resources = False  # GPU agents only to GPU-capable frameworks (module doc)

    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}
        self._frameworks: dict[str, FrameworkEntry] = {}
        self._weights: dict[str, float] = {}
        self._counter = 0
        self._pool = Pool()
        self._roles = self._make_sorter(self._pool)
        self._members: dict[str, Sorter] = {}  # role -> its frameworks' sorter
        self._active_members: dict[str, int] = {}  # role -> how many are not suppressed
        # every framework's allocation (also of frameworks not added yet: executors reported by
        # agents that re-registered before their framework re-subscribed), and where it is
        self._allocations: dict[str, Resources] = {}
        self._placed: dict[str, set[str]] = {}  # framework -> agents holding some of it
        self._candidates: set[str] = set()  # agents to visit in the next cycle
        self._stalled: set[str] = set()  # agents with free resources nobody could take
        self._expiries: list[tuple[float, str, str]] = []  # heap: (until, framework, agent)
        self._custom_order = type(self).order is not Allocator.order

    def _make_sorter(self, pool: Pool) -> Sorter:
        return DRFSorter(pool)  # the default policy

    # --- agents ------------------------------------------------------------------------------
    def add_agent(
        self, agent_id: str, total: Resources, used: Mapping[str, Resources] | None = None
    ) -> None:
        """An agent joined; ``used`` is what its running executors already hold, per framework."""
        if agent_id in self._agents:
            self.remove_agent(agent_id)
        agent = _Agent(total=total, gpus=total.get(GPUS) > 0)
        self._agents[agent_id] = agent
        self._pool.add(total)
        for framework_id, res in (used or {}).items():
            self._charge(framework_id, agent_id, res)
        agent.refresh()
        self._touch(agent_id, agent)

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        self._pool.remove(agent.total)
        for framework_id, res in agent.allocated.items():
            self._account(framework_id, agent_id, -1, res, placed=False)
        for framework_id in agent.filtered_by:
            self._frameworks[framework_id].filters.pop(agent_id, None)
        self._candidates.discard(agent_id)
        self._stalled.discard(agent_id)

    def deactivate_agent(self, agent_id: str) -> None:
        """Its resources are not offered until :meth:`activate_agent` (it is disconnected)."""
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.active = False
            self._candidates.discard(agent_id)
            self._stalled.discard(agent_id)

    def activate_agent(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        if agent is not None and not agent.active:
            agent.active = True
            self._touch(agent_id, agent)

    # --- frameworks --------------------------------------------------------------------------
    def add_framework(
        self, framework_id: str, role: str = "*", *, suppressed: bool = False
    ) -> None:
        entry = self._frameworks.get(framework_id)
        if entry is not None:
            if entry.role != role:
                self._leave_role(entry)
                entry.role = role
                self._join_role(entry)
            if suppressed:
                self.suppress(framework_id)
            elif entry.suppressed:
                self._set_active(entry, True)
            return
        self._counter += 1
        entry = FrameworkEntry(
            framework_id,
            role,
            self._counter,
            suppressed=suppressed,
            allocated=self._allocations.get(framework_id, Resources()),
        )
        self._frameworks[framework_id] = entry
        self._join_role(entry)
        if not suppressed:
            self._wake_stalled()

    def set_gpu_capable(self, framework_id: str, capable: bool = True) -> None:
        """Whether the framework may be offered GPU agents (see the module's doc)."""
        entry = self._frameworks.get(framework_id)
        if entry is not None and entry.gpu_capable != capable:
            entry.gpu_capable = capable
            if capable:
                self._wake_stalled()

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework and free everything allocated to it."""
        entry = self._frameworks.pop(framework_id, None)
        if entry is not None:
            self._leave_role(entry)
            for agent_id in entry.filters:
                self._agents[agent_id].filtered_by.discard(framework_id)
        self._allocations.pop(framework_id, None)
        for agent_id in self._placed.pop(framework_id, set()):
            agent = self._agents[agent_id]
            res = agent.allocated.pop(framework_id)
            agent.allocated_sum = (agent.allocated_sum - res).clamp_nonnegative()
            agent.refresh()
            self._touch(agent_id, agent)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        for role, weight in weights.items():
            if weight <= 0:
                raise ValueError(f"role weight must be > 0, got {role}={weight}")
        self._weights = dict(weights)
        for role in self._roles.clients():
            self._roles.set_weight(role, self.weight(role))

    def weight(self, role: str) -> float:
        return self._weights.get(role, 1.0)

    def suppress(self, framework_id: str) -> None:
        entry = self._frameworks.get(framework_id)
        if entry is not None and not entry.suppressed:
            self._set_active(entry, False)

    def revive(self, framework_id: str) -> None:
        entry = self._frameworks.get(framework_id)
        if entry is None:
            return
        for agent_id in entry.filters:
            self._agents[agent_id].filtered_by.discard(framework_id)
            self._unstall(agent_id)
        entry.filters.clear()
        if entry.suppressed:
            self._set_active(entry, True)

    # --- resources ---------------------------------------------------------------------------
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
        if agent is None:
            return
        held = agent.allocated.get(framework_id)
        if held is not None:
            left = (held - resources).clamp_nonnegative()
            back = held - left
            if left.is_empty():
                del agent.allocated[framework_id]
            else:
                agent.allocated[framework_id] = left
            agent.allocated_sum = (agent.allocated_sum - back).clamp_nonnegative()
            agent.refresh()
            self._account(framework_id, agent_id, -1, back, placed=not left.is_empty())
            self._touch(agent_id, agent)
        entry = self._frameworks.get(framework_id)
        if entry is not None and refuse_seconds > 0:
            until = now + refuse_seconds
            entry.filters[agent_id] = (until, resources)
            agent.filtered_by.add(framework_id)
            heapq.heappush(self._expiries, (until, framework_id, agent_id))

    # --- the allocation cycle ----------------------------------------------------------------
    def allocate(self, now: float, offered: OfferedOn | None = None) -> list[Allocation]:
        """Offer each candidate agent's free resources to the first eligible framework in
        policy order (agents in id order).

        ``offered(agent_id)``: what each framework holds of that agent in outstanding offers
        (the caller keeps offers; here they are allocations like any other). Given, a
        framework's outstanding offers of the agent being allocated do not count against it
        there (module doc, "An agent's unused resources are one pool")."""
        self._expire_filters(now)
        if not self._candidates:
            return []
        order = self._custom_iter if self._custom_order else self._policy_iter
        out: list[Allocation] = []
        for agent_id in sorted(self._candidates):
            agent = self._agents[agent_id]
            free = agent.free
            if free.is_empty():
                continue
            gpu_only = agent.gpus and self.filter_gpu_resources
            for fw in order():
                if self._eligible(fw, agent_id, free, now, gpu_only):
                    break
            else:
                self._stalled.add(agent_id)
                continue
            if offered is not None:
                fw = self._holder_first(fw, agent_id, free, now, gpu_only, offered(agent_id))
            self._charge(fw.framework_id, agent_id, free)
            agent.refresh()
            out.append(Allocation(fw.framework_id, agent_id, free))
        self._candidates.clear()
        return out

    def _eligible(
        self, fw: FrameworkEntry, agent_id: str, free: Resources, now: float, gpu_only: bool
    ) -> bool:
        """Whether ``fw`` may be offered ``free`` of the agent (an expired filter goes)."""
        if fw.suppressed or (gpu_only and not fw.gpu_capable):
            return False
        refused = fw.filters.get(agent_id)
        if refused is not None:
            until, what = refused
            if now >= until:
                self._drop_filter(fw, agent_id)
            elif free.fits(what):
                return False  # nothing here but what it refused
        return True

    def _holder_first(
        self,
        first: FrameworkEntry,
        agent_id: str,
        free: Resources,
        now: float,
        gpu_only: bool,
        held: Mapping[str, Resources],
    ) -> FrameworkEntry:
        """``first`` (the first eligible framework in policy order), or an eligible framework
        holding offers of this agent that comes before it once those offers are not counted.
        Costs O(frameworks with offers of the agent)."""
        if not held or self._custom_order:
            return first
        best, best_key = first, self._key_without(first, held.get(first.framework_id))
        if best_key is None:  # a policy whose order does not follow allocations
            return first
        for framework_id, res in held.items():
            fw = self._frameworks.get(framework_id)
            if fw is None or fw is first or not self._eligible(fw, agent_id, free, now, gpu_only):
                continue
            key = self._key_without(fw, res)
            if key is None:
                continue
            # within one role, frameworks by their own shares; across roles, by the roles'
            before = key[1] < best_key[1] if fw.role == best.role else key[0] < best_key[0]
            if before:
                best, best_key = fw, key
        return best

    def _key_without(
        self, fw: FrameworkEntry, res: Resources | None
    ) -> tuple[tuple[float, Rank, str], tuple[float, Rank, str]] | None:
        """Where ``fw`` would sort (its role among roles, then it in its role) were ``res``
        not allocated to it; None for a policy whose order does not follow allocations."""
        res = res if res is not None else Resources()
        role = self._roles.key_without(fw.role, res)
        member = self._members[fw.role].key_without(fw.framework_id, res)
        if role is None or member is None:
            return None
        return role, member

    def order(self) -> list[FrameworkEntry]:
        """Frameworks that are offered resources (not suppressed), in the order they are."""
        return list(self._policy_iter())

    def _policy_iter(self) -> Iterator[FrameworkEntry]:
        for role in self._roles.sort():
            for framework_id in self._members[role].sort():
                yield self._frameworks[framework_id]

    def _custom_iter(self) -> Iterator[FrameworkEntry]:
        return (fw for fw in self.order() if not fw.suppressed)

    # --- queries -----------------------------------------------------------------------------
    def total(self) -> Resources:
        return self._pool.total

    def share(self, framework_id: str) -> float:
        fw = self._frameworks.get(framework_id)
        return fw.allocated.dominant_share(self._pool.total) if fw else 0.0

    def role_share(self, role: str) -> float:
        """Weighted dominant share of a role: its frameworks' allocations over the cluster."""
        return self._roles.share(role) if role in self._roles else 0.0

    def frameworks(self) -> list[FrameworkEntry]:
        return list(self._frameworks.values())

    def free(self, agent_id: str) -> Resources:
        """What of the agent is neither offered nor used (empty for an unknown agent)."""
        agent = self._agents.get(agent_id)
        return agent.free if agent is not None else Resources()

    def allocation(self, framework_id: str, agent_id: str | None = None) -> Resources:
        """What the framework holds (offered + used), on one agent or in all."""
        if agent_id is None:
            return self._allocations.get(framework_id, Resources())
        agent = self._agents.get(agent_id)
        return agent.allocated.get(framework_id, Resources()) if agent else Resources()

    def validate(self) -> None:
        """Check every invariant by recomputing from the agents (O(everything): tests only)."""
        total = Resources()
        per_fw: dict[str, Resources] = {}
        placed: dict[str, set[str]] = {}
        for agent_id, agent in self._agents.items():
            total = total + agent.total
            held = Resources()
            for fw_id, res in agent.allocated.items():
                assert not res.is_empty() and res.is_nonnegative(), (agent_id, fw_id, res)
                held = held + res
                per_fw[fw_id] = per_fw.get(fw_id, Resources()) + res
                placed.setdefault(fw_id, set()).add(agent_id)
            assert held == agent.allocated_sum, (agent_id, held, agent.allocated_sum)
            assert agent.free == (agent.total - held).clamp_nonnegative(), agent_id
            if agent.active and not agent.free.is_empty():
                assert agent_id in self._candidates or agent_id in self._stalled, agent_id
            for fw_id in agent.filtered_by:
                assert agent_id in self._frameworks[fw_id].filters, (agent_id, fw_id)
        assert total == self._pool.total, (total, self._pool.total)
        assert self._candidates <= set(self._agents) and self._stalled <= set(self._agents)
        assert {k: v for k, v in per_fw.items()} == {
            k: v for k, v in self._allocations.items() if not v.is_empty()
        }, (per_fw, self._allocations)
        assert placed == self._placed, (placed, self._placed)
        roles: dict[str, Resources] = {}
        for fw_id, fw in self._frameworks.items():
            assert fw.allocated == per_fw.get(fw_id, Resources()), fw_id
            members = self._members[fw.role]
            assert members.allocation(fw_id) == fw.allocated, fw_id
            roles[fw.role] = roles.get(fw.role, Resources()) + fw.allocated
            for agent_id in fw.filters:
                assert fw_id in self._agents[agent_id].filtered_by, (fw_id, agent_id)
        assert set(roles) == set(self._roles.clients()) == set(self._members)
        for role, res in roles.items():
            assert self._roles.allocation(role) == res, role
            self._members[role].validate()
        self._roles.validate()

    # --- internals ---------------------------------------------------------------------------
    def _charge(self, framework_id: str, agent_id: str, res: Resources) -> None:
        if res.is_empty():
            return
        agent = self._agents[agent_id]
        agent.allocated[framework_id] = agent.allocated.get(framework_id, Resources()) + res
        agent.allocated_sum = agent.allocated_sum + res
        self._account(framework_id, agent_id, +1, res, placed=True)

    def _account(
        self, framework_id: str, agent_id: str, sign: int, res: Resources, placed: bool
    ) -> None:
        """Add (+1) or take (-1) ``res`` to the framework's allocation, its sorters' and its
        role's; ``placed``: it still holds something on the agent afterwards."""
        total = self._allocations.get(framework_id, Resources())
        total = total + res if sign > 0 else (total - res).clamp_nonnegative()
        if total.is_empty():
            self._allocations.pop(framework_id, None)
        else:
            self._allocations[framework_id] = total
        where = self._placed.setdefault(framework_id, set())
        if placed:
            where.add(agent_id)
        else:
            where.discard(agent_id)
            if not where:
                del self._placed[framework_id]
        entry = self._frameworks.get(framework_id)
        if entry is None or res.is_empty():
            return
        entry.allocated = total
        if sign > 0:
            self._members[entry.role].allocated(framework_id, res)
            self._roles.allocated(entry.role, res)
        else:
            self._members[entry.role].unallocated(framework_id, res)
            self._roles.unallocated(entry.role, res)

    def _join_role(self, entry: FrameworkEntry) -> None:
        role = entry.role
        if role not in self._members:
            self._members[role] = self._make_sorter(self._pool)
            self._active_members[role] = 0
            self._roles.add(role, (0, role), self.weight(role), active=False)
        members = self._members[role]
        active = not entry.suppressed
        members.add(
            entry.framework_id, (entry.order, ""), active=active, allocation=entry.allocated
        )
        self._roles.allocated(role, entry.allocated)
        if active:
            self._count_active(role, +1)

    def _leave_role(self, entry: FrameworkEntry) -> None:
        role = entry.role
        self._members[role].remove(entry.framework_id)
        self._roles.unallocated(role, entry.allocated)
        if not entry.suppressed:
            self._count_active(role, -1)
        if not len(self._members[role]):
            del self._members[role], self._active_members[role]
            self._roles.remove(role)

    def _count_active(self, role: str, delta: int) -> None:
        before = self._active_members[role]
        self._active_members[role] = before + delta
        if before == 0 and delta > 0:
            self._roles.activate(role)
        elif before + delta == 0:
            self._roles.deactivate(role)

    def _set_active(self, entry: FrameworkEntry, active: bool) -> None:
        entry.suppressed = not active
        if active:
            self._members[entry.role].activate(entry.framework_id)
            self._count_active(entry.role, +1)
            self._wake_stalled()
        else:
            self._members[entry.role].deactivate(entry.framework_id)
            self._count_active(entry.role, -1)

    def _touch(self, agent_id: str, agent: _Agent) -> None:
        """The agent's free resources changed: visit it in the next cycle."""
        if agent.active and not agent.free.is_empty():
            self._candidates.add(agent_id)
            self._stalled.discard(agent_id)

    def _unstall(self, agent_id: str) -> None:
        if agent_id in self._stalled:
            self._stalled.discard(agent_id)
            self._candidates.add(agent_id)

    def _wake_stalled(self) -> None:
        """A framework became eligible: agents nobody could take are worth a visit again."""
        self._candidates |= self._stalled
        self._stalled.clear()

    def _drop_filter(self, entry: FrameworkEntry, agent_id: str) -> None:
        del entry.filters[agent_id]
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.filtered_by.discard(entry.framework_id)
            self._unstall(agent_id)

    def _expire_filters(self, now: float) -> None:
        heap = self._expiries
        while heap and heap[0][0] <= now:
            until, framework_id, agent_id = heapq.heappop(heap)
            entry = self._frameworks.get(framework_id)
            if entry is not None:
                refused = entry.filters.get(agent_id)
                if refused is not None and refused[0] == until:
                    self._drop_filter(entry, agent_id)
