"""The framework's view of the cluster: its agents' totals, and which shapes some agent could
ever run (the scheduler core fails a task no agent can run at once, naming the agents).

Kept by :class:`~pymesos_rt.scheduler.state.SchedulerState` (``core.view``) from the master's
``ClusterChanged`` and ``ClusterDelta``; changes cost O(changes + distinct agent shapes), and
``fits`` is cached until the cluster changes. No I/O, no clock.
"""

from __future__ import annotations

from collections import Counter

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.matching import fits_any, fits_somewhere
from pymesos_rt.scheduler.placement import Shape, node_of


class ClusterView:
    def __init__(self) -> None:
        self.agents: dict[str, Resources] = {}
        self._shapes: Counter[Resources] = Counter()  # agents per distinct total
        # the distinct totals, replaced (never mutated) when they change: other threads read it
        self.agent_totals: frozenset[Resources] = frozenset()
        self._fits_cache: dict[Resources, bool] = {}

    def reset(self) -> None:
        """Forget every agent (the whole list follows)."""
        self.agents, self._shapes = {}, Counter()

    def apply(self, added: list[m.AgentSummary], removed: list[str]) -> bool:
        """Agents joined or changed, and left; whether an agent left or changed."""
        shrunk = False
        for agent_id in removed:
            total = self.agents.pop(agent_id, None)
            if total is not None:
                self._uncount(total)
                shrunk = True
        for agent in added:
            old = self.agents.get(agent.agent_id)
            if old is not None:
                self._uncount(old)
                shrunk = True
            self.agents[agent.agent_id] = agent.total
            self._shapes[agent.total] += 1
        if self.agent_totals != self._shapes.keys():
            self.agent_totals = frozenset(self._shapes)
        self._fits_cache.clear()
        return shrunk

    def _uncount(self, total: Resources) -> None:
        self._shapes[total] -= 1
        if not self._shapes[total]:
            del self._shapes[total]

    def fits(self, shape: Resources) -> bool:
        """Whether some agent could ever run ``shape`` (cached until the cluster changes)."""
        known = self._fits_cache.get(shape)
        if known is None:
            if node_of(shape):  # node affinity: that agent only
                known = fits_somewhere(shape, self.agents)
            else:
                known = fits_any(shape, self._shapes)
            self._fits_cache[shape] = known
        return known

    def placed(self, shape: Shape) -> Shape:
        """A soft node affinity holds while its agent can run the shape; else it is dropped."""
        if shape.soft and self.agents and not fits_somewhere(shape, self.agents):
            return shape.relaxed()
        return shape

    def unschedulable_message(self, shape: Resources) -> str:
        """Names every agent in a small cluster, the distinct shapes in a big one. May run on
        another thread: it copies what it reads first."""
        agents = list(self.agents.items())
        if len(agents) <= 8:
            biggest = ", ".join(f"{aid}: {tot}" for aid, tot in sorted(agents))
        else:
            shapes = sorted(self._shapes.copy().items(), key=lambda kv: -kv[1])
            listed = ", ".join(f"{count} x {tot}" for tot, count in shapes[:8])
            more = f" and {len(shapes) - 8} more shapes" if len(shapes) > 8 else ""
            biggest = f"{len(agents)} agents: {listed}{more}"
        return f"no agent can ever run a task that needs {shape}; agents have {biggest}"
