"""The agent's sans-IO core: executors it runs and status updates awaiting acknowledgement.

Rules kept here:
- Inputs are master events, process events (started, exited) and ``tick``; every input takes
  ``now``. Outputs are effects (:class:`ToMaster`, :class:`StartProcess`, :class:`StopProcess`).
- A status update is kept until the framework acknowledges it (through the master) and resent
  every ``resend_interval`` seconds and after each (re-)registration: delivery is at least once.
- Re-registration reports the executors still running, so a new master can rebuild its state.
- An executor's terminal state: KILLED if it was asked to stop, OOM if its container hit the
  memory limit, FINISHED on exit status 0, otherwise FAILED.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState, check_executor_transition


@dataclass(frozen=True)
class ToMaster:
    message: m.AgentCall


@dataclass(frozen=True)
class StartProcess:
    framework_id: str
    executor_id: str
    resources: Resources
    command: m.CommandInfo


@dataclass(frozen=True)
class StopProcess:
    framework_id: str
    executor_id: str


Effect = ToMaster | StartProcess | StopProcess


@dataclass
class ExecutorRun:
    framework_id: str
    executor_id: str
    resources: Resources
    state: ExecutorState = ExecutorState.STAGING
    stopping: bool = False
    framework_digest: str = ""  # from its LaunchExecutor; reported when re-registering


@dataclass(frozen=True)
class AgentConfig:
    """What the agent core decides with; ``pymesos-rt agent`` makes a flag of each field."""

    resend_interval: float = field(
        default=5.0,
        metadata={
            "help": "seconds between resends of an unacknowledged status update",
            "flag": "status_resend_interval",
        },
    )
    # the master declares an agent lost after missing several
    heartbeat_interval: float = field(
        default=5.0, metadata={"help": "seconds between heartbeats to the master"}
    )
    # executors' usage goes to the master this often (containers are still watched every
    # second); a usage report counts as a heartbeat. At 10,000 agents the master then reads
    # about 2,000 frames a second from idle agents instead of 10,000.
    usage_interval: float = field(
        default=5.0, metadata={"help": "seconds between usage reports to the master"}
    )


@dataclass
class _Pending:
    update: m.StatusUpdate
    sent_at: float


class AgentState:
    def __init__(
        self,
        hostname: str,
        resources: Resources,
        isolation: str,
        config: AgentConfig | None = None,
        credential: str = "",
    ) -> None:
        """``credential``: this agent's own secret, proving its id when it re-registers (none:
        the master issues one at the first registration)."""
        self.hostname = hostname
        self.credential = credential
        self.resources = resources
        self.isolation = isolation
        self.config = config or AgentConfig()
        self.agent_id: str | None = None
        self.object_address = ""  # the object store's TCP endpoint, reported at registration
        self.registered = False
        self.executors: dict[tuple[str, str], ExecutorRun] = {}
        self.pending: dict[str, _Pending] = {}
        self._seq = itertools.count(1)
        self._last_heartbeat = 0.0
        self._last_usage = 0.0

    # --- master ------------------------------------------------------------------------------
    def connected(self, now: float) -> list[Effect]:
        """A (new) connection to a master: register, reporting running executors."""
        self.registered = False
        records = [
            m.ExecutorRecord(run.framework_id, run.executor_id, run.resources, run.framework_digest)
            for run in self.executors.values()
            if not run.state.terminal
        ]
        register = m.RegisterAgent(
            self.hostname,
            self.resources,
            self.agent_id,
            records,
            self.isolation,
            self.object_address,
            self.credential,
        )
        return [ToMaster(register)]

    def on_master_event(self, event: m.AgentEvent, now: float) -> list[Effect]:
        match event:
            case m.AgentRegistered():
                self.agent_id = event.agent_id
                self.credential = event.credential or self.credential
                self.registered = True
                self._last_heartbeat = now  # registering counts as contact
                effects: list[Effect] = []
                for pending in self.pending.values():
                    pending.sent_at = now
                    effects.append(ToMaster(m.AgentStatus(pending.update)))
                return effects
            case m.LaunchExecutor():
                key = (event.framework_id, event.launch.executor_id)
                if key in self.executors:
                    return []  # duplicate launch
                self.executors[key] = ExecutorRun(
                    key[0], key[1], event.launch.resources, framework_digest=event.framework_digest
                )
                return [StartProcess(key[0], key[1], event.launch.resources, event.launch.command)]
            case m.StopExecutor():
                return self._stop(event.framework_id, event.executor_id)
            case m.StatusAcked():
                self.pending.pop(event.update_id, None)
                return []
            case m.ShutdownFramework():
                effects = []
                for fw, eid in list(self.executors):
                    if fw == event.framework_id:
                        effects += self._stop(fw, eid)
                return effects
        return []  # pragma: no cover

    def _stop(self, framework_id: str, executor_id: str) -> list[Effect]:
        run = self.executors.get((framework_id, executor_id))
        if run is None or run.state.terminal or run.stopping:
            return []
        run.stopping = True
        return [StopProcess(framework_id, executor_id)]

    # --- processes ---------------------------------------------------------------------------
    def process_started(self, framework_id: str, executor_id: str, now: float) -> list[Effect]:
        return self._transition(framework_id, executor_id, ExecutorState.RUNNING, "", None, now)

    def process_failed_to_start(
        self, framework_id: str, executor_id: str, why: str, now: float
    ) -> list[Effect]:
        return self._transition(framework_id, executor_id, ExecutorState.FAILED, why, None, now)

    def process_exited(
        self, framework_id: str, executor_id: str, exit_code: int, oom: str | None, now: float
    ) -> list[Effect]:
        run = self.executors.get((framework_id, executor_id))
        if run is None:
            return []
        if run.stopping:
            state, why = ExecutorState.KILLED, "stopped on request"
        elif oom is not None:
            state, why = ExecutorState.OOM, oom
        elif exit_code == 0:
            state, why = ExecutorState.FINISHED, "exited"
        elif exit_code < 0:
            state, why = ExecutorState.FAILED, f"killed by signal {-exit_code}"
        else:
            state, why = ExecutorState.FAILED, f"exited with status {exit_code}"
        return self._transition(framework_id, executor_id, state, why, exit_code, now)

    def _transition(
        self,
        framework_id: str,
        executor_id: str,
        state: ExecutorState,
        why: str,
        exit_code: int | None,
        now: float,
    ) -> list[Effect]:
        key = (framework_id, executor_id)
        run = self.executors.get(key)
        if run is None or run.state == state:
            return []
        check_executor_transition(run.state, state)
        run.state = state
        if state.terminal:
            del self.executors[key]
        update = m.StatusUpdate(
            f"{self.agent_id or 'agent'}-u{next(self._seq)}",
            self.agent_id or "",
            framework_id,
            executor_id,
            state,
            why,
            exit_code,
        )
        self.pending[update.update_id] = _Pending(update, now)
        if not self.registered:
            return []
        return [ToMaster(m.AgentStatus(update))]

    def report(self, update: m.StatusUpdate, now: float) -> list[Effect]:
        """Deliver an update made outside this core (a Mesos executor's task update: the run it
        names has no process of its own) at least once, and apply its state to that run. A
        repeated state is a new update (it may carry new data); an illegal change raises
        :class:`IllegalTransition` and changes nothing."""
        key = (update.framework_id, update.executor_id)
        run = self.executors.get(key)
        if run is not None and run.state != update.state:
            check_executor_transition(run.state, update.state)
            run.state = update.state
            if update.state.terminal:
                del self.executors[key]
        self.pending[update.update_id] = _Pending(update, now)
        return [ToMaster(m.AgentStatus(update))] if self.registered else []

    def tick(self, now: float) -> list[Effect]:
        if not self.registered:
            return []
        effects: list[Effect] = []
        for pending in self.pending.values():
            if now - pending.sent_at >= self.config.resend_interval:
                pending.sent_at = now
                effects.append(ToMaster(m.AgentStatus(pending.update)))
        if now - self._last_heartbeat >= self.config.heartbeat_interval:
            self._last_heartbeat = now
            effects.append(ToMaster(m.Heartbeat()))
        return effects

    def usage_due(self, now: float) -> bool:
        """Whether to send the executors' usage now; if so, it is taken as sent (and as this
        interval's heartbeat)."""
        if not self.registered or now - self._last_usage < self.config.usage_interval:
            return False
        self._last_usage = self._last_heartbeat = now
        return True

    def free(self) -> Resources:
        """What the executors it runs leave of its resources."""
        used = Resources()
        for run in self.executors.values():
            if not run.state.terminal:
                used = used + run.resources
        return (self.resources - used).clamp_nonnegative()

    def running(self) -> list[ExecutorRun]:
        return [run for run in self.executors.values() if not run.state.terminal]
