"""CPUs that task executors lend to actors while their tasks are blocked in ``get`` (sans-IO;
``scheduler/lending.py`` lends such executors to other tasks).

Ray releases a worker's CPU while its task waits in ``ray.get``, so an actor can still be
placed when every CPU is held by tasks that wait for it (Ray's test_fork_consistency: tasks
call an actor that is not placed yet). Here an executor keeps its resources at the master
while its task is blocked, so the framework counts them itself: an executor with a blocked
task lends its CPUs on its agent, and an actor whose executor holds fewer CPUs than it needs
free to be placed (Ray's default actor: 1 CPU to place, none held) may be placed on them.
The executor it gets holds only its shape, so nothing is counted twice at the master.

Kept incrementally (per agent), so placement never scans the framework's executors.
"""

from __future__ import annotations

from pymesos_rt.protocol.resources import CPUS
from pymesos_rt.scheduler.records import Lease


class Lending:
    def __init__(self) -> None:
        self._by_executor: dict[str, tuple[str, float]] = {}  # executor -> (agent, cpus)
        self._by_agent: dict[str, float] = {}  # agent -> CPUs lent there

    def update(self, lease: Lease) -> None:
        """A task executor's count of blocked tasks changed."""
        cpus = lease.shape.get(CPUS) if lease.blocked > 0 and not lease.actor_id else 0.0
        self.forget(lease.executor_id)
        if cpus > 0:
            self._by_executor[lease.executor_id] = (lease.agent_id, cpus)
            self._by_agent[lease.agent_id] = self._by_agent.get(lease.agent_id, 0.0) + cpus

    def forget(self, executor_id: str) -> None:
        """The executor ended, or lends nothing any more."""
        found = self._by_executor.pop(executor_id, None)
        if found is None:
            return
        agent_id, cpus = found
        left = self._by_agent[agent_id] - cpus
        if left > 1e-9:
            self._by_agent[agent_id] = left
        else:
            del self._by_agent[agent_id]

    def on(self, agent_id: str) -> float:
        """CPUs lent on ``agent_id`` now."""
        return self._by_agent.get(agent_id, 0.0)

    def validate(self, leases: dict[str, Lease]) -> None:
        sums: dict[str, float] = {}
        for eid, (agent_id, cpus) in self._by_executor.items():
            lease = leases.get(eid)
            assert lease is not None, f"lending: {eid} has no lease"
            assert lease.blocked > 0 and not lease.actor_id, f"lending: {eid} is not blocked"
            assert lease.agent_id == agent_id, f"lending: {eid} on {agent_id}"
            sums[agent_id] = sums.get(agent_id, 0.0) + cpus
        assert sums.keys() == self._by_agent.keys(), "lending: agents differ"
        for agent_id, total in sums.items():
            assert abs(total - self._by_agent[agent_id]) < 1e-6, f"lending: sum on {agent_id}"
