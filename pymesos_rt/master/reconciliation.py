"""The master's answers to a framework's Reconcile (the executors it holds, sent after each
(re-)subscription).

Rules kept here (with those of ``master/state.py``):
- A listed executor that no agent runs is answered LOST (``update_id`` empty: not to be
  acknowledged), once its agent has re-registered or the re-registration time after a failover
  is over; until then the query waits for its agent.
- The framework's executors it did not list are orphans: stopped now, and when their agents
  re-register.

No I/O, no clock. Owned by :class:`~pymesos_rt.master.state.MasterState`
(``core.reconciliation``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pymesos_rt.master.records import Effect, FrameworkEntry, Send
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.states import ExecutorState

if TYPE_CHECKING:
    from pymesos_rt.master.state import MasterState

log = logging.getLogger(__name__)


class Reconciliation:
    def __init__(self, core: MasterState) -> None:
        self.core = core
        # queries waiting for their agent to re-register: agent -> (framework, executor)
        self.unreconciled: dict[str, set[tuple[str, str]]] = {}

    def reconcile(self, fw: FrameworkEntry, call: m.Reconcile, now: float) -> list[Effect]:
        """Answer LOST for listed executors no agent runs (waiting for agents that may still
        re-register with this master), and stop the framework's executors it did not list, now
        and when their agents re-register."""
        core = self.core
        effects: list[Effect] = []
        listed = {ref.executor_id for ref in call.executors}
        fw.known = set(listed)
        for ref in call.executors:
            key = (fw.framework_id, ref.executor_id)
            if key in core.executors:
                continue
            agent = core.agents.get(ref.agent_id)
            if agent is None and not core._reregistration_over(now):
                self.unreconciled.setdefault(ref.agent_id, set()).add(key)
                continue
            why = "its agent does not run it" if agent else f"agent {ref.agent_id} is gone"
            effects += self.lost(fw.framework_id, ref.agent_id, ref.executor_id, why)
        for executor_id in sorted(fw.executors - listed):
            key = (fw.framework_id, executor_id)
            ex = core.executors.get(key)
            agent = core.agents.get(ex.agent_id) if ex is not None else None
            if agent is not None and agent.conn is not None:
                effects += self.stop_orphan(agent.conn, key)
        return effects

    def stop_orphan(self, agent_conn: str, key: tuple[str, str]) -> list[Effect]:
        log.info("stopping executor %s: framework %s does not hold it", key[1], key[0])
        return [Send(agent_conn, m.StopExecutor(*key))]

    def expire(self, now: float) -> list[Effect]:
        core = self.core
        if not self.unreconciled or not core._reregistration_over(now):
            return []
        effects: list[Effect] = []
        for agent_id, keys in sorted(self.unreconciled.items()):
            why = f"agent {agent_id} did not re-register"
            for fw_id, executor_id in sorted(keys):
                effects += self.lost(fw_id, agent_id, executor_id, why)
        self.unreconciled.clear()
        return effects

    def lost(self, fw_id: str, agent_id: str, executor_id: str, why: str) -> list[Effect]:
        core = self.core
        fw = core.frameworks.get(fw_id)
        if fw is None or fw.conn is None:
            return []  # it reconciles again when it re-subscribes
        log.info("reconciliation: executor %s of framework %s is lost: %s", executor_id, fw_id, why)
        if fw.known is not None:
            fw.known.discard(executor_id)  # it stops holding it: should it come back, stop it
        update = m.StatusUpdate(
            "", agent_id, fw_id, executor_id, ExecutorState.LOST, f"reconciliation: {why}"
        )
        return [Send(fw.conn, m.ExecutorUpdate(update))]

    def agent_registered(self, agent_id: str) -> list[Effect]:
        """The agent (re-)registered: the queries that waited for it are answered (LOST for
        the executors it does not run)."""
        effects: list[Effect] = []
        for fw_id, executor_id in sorted(self.unreconciled.pop(agent_id, set())):
            if (fw_id, executor_id) not in self.core.executors:
                effects += self.lost(fw_id, agent_id, executor_id, "its agent does not run it")
        return effects
