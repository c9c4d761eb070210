"""The agent's side of the Mesos v1 APIs (sans-IO): Mesos command tasks, custom executors
and the Executor HTTP API's sessions.

Rules kept here:
- Every Mesos task and every custom executor is a run of :class:`AgentState` (a lease, named
  by :mod:`pymesos_rt.protocol.mesos`): re-registration, resource accounting, the stop of a
  framework and status-update delivery (kept until acknowledged, resent) stay
  :class:`AgentState`'s.
- A command task's process is the task (the agent is its command executor): the process's
  state is the task's, reported by :class:`AgentState` itself.
- A custom executor's lease has the process; its tasks' leases have none. A task waits in the
  executor's queue until the executor subscribes, then goes out as LAUNCH. The executor's
  UPDATEs become :class:`StatusUpdate` s of the task's lease (with the Mesos status and its
  ``uuid``); when the framework acknowledges one, the executor gets ACKNOWLEDGED.
- Task states change only along :data:`~pymesos_rt.protocol.mesos.TASK_TRANSITIONS`: an UPDATE
  that does not is refused (400) and changes nothing.
- When an executor's process ends, its tasks that have not ended fail (``TASK_FAILED``,
  ``REASON_EXECUTOR_TERMINATED``; ``REASON_CONTAINER_LIMITATION_MEMORY`` after a memory-limit
  kill; ``TASK_KILLED`` when it was stopped on request).

Inputs take ``now``; outputs are effects: :class:`AgentState`'s, plus :class:`Spawn`,
:class:`ToStream`, :class:`CloseStream` and :class:`StopLater`. Imports ``protocol`` and
``agent.state`` only.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import msgspec

from pymesos_rt.agent import state as core
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import IllegalTransition

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 2.0  # from SHUTDOWN to SIGTERM (MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD)


@dataclass(frozen=True)
class Spawn:
    """Start a Mesos process (command task or custom executor): a clean environment with the
    ``MESOS_*`` variables; ``executor``: it talks to the executor API."""

    framework_id: str
    lease: str
    resources: Resources  # its container
    command: m.CommandInfo
    executor: bool


@dataclass(frozen=True)
class ToStream:
    stream: str
    event: mc.ExecutorEvent


@dataclass(frozen=True)
class CloseStream:
    stream: str


@dataclass(frozen=True)
class StopLater:
    framework_id: str
    lease: str
    delay: float


Effect = core.Effect | Spawn | ToStream | CloseStream | StopLater


@dataclass
class MesosExecutorRun:
    framework_id: str
    lease: str
    executor_id: str
    spec: m.MesosExecutor
    stream: str | None = None
    queued: list[mc.ExecutorEvent] = field(default_factory=list)  # until it subscribes
    waiting: dict[str, ms.TaskInfo] = field(default_factory=dict)  # tasks not yet sent
    tasks: dict[str, ms.TaskState] = field(default_factory=dict)  # its live tasks
    stopping: bool = False


class MesosAgent:
    def __init__(self, agent: core.AgentState) -> None:
        self.agent = agent
        self.commands: dict[tuple[str, str], m.MesosCommandTask] = {}  # by lease
        self.executors: dict[tuple[str, str], MesosExecutorRun] = {}  # by lease
        self._by_executor_id: dict[tuple[str, str], str] = {}  # (fw, executor id) -> lease
        self._task_executor: dict[tuple[str, str], str] = {}  # (fw, task) -> executor lease
        self._streams: dict[str, tuple[str, str]] = {}  # stream -> (fw, executor lease)
        # update id -> (fw, executor lease, task id, uuid): waiting for the acknowledgement
        self._unacked: dict[str, tuple[str, str, str, bytes]] = {}
        self._seq = itertools.count(1)

    # --- from the master ---------------------------------------------------------------------
    def owns(self, framework_id: str, lease: str) -> bool:
        key = (framework_id, lease)
        return key in self.commands or key in self.executors or self._task_lease(key)

    def _task_lease(self, key: tuple[str, str]) -> bool:
        task_id = ms.task_of_lease(key[1])
        return task_id is not None and (key[0], task_id) in self._task_executor

    def on_launch(self, event: m.LaunchExecutor) -> None:
        """Record a Mesos launch (before :class:`AgentState` starts it)."""
        spec = event.launch.mesos
        fw_id, lease = event.framework_id, event.launch.executor_id
        key = (fw_id, lease)
        if spec is None or key in self.agent.executors:
            return  # not Mesos, or a duplicate launch
        if isinstance(spec, m.MesosCommandTask):
            self.commands[key] = spec
        elif isinstance(spec, m.MesosExecutor):
            executor_id = spec.executor.executor_id.value
            self.executors[key] = MesosExecutorRun(fw_id, lease, executor_id, spec)
            self._by_executor_id[(fw_id, executor_id)] = lease
        else:
            task_id = spec.task.task_id.value
            self._task_executor[(fw_id, task_id)] = spec.executor_lease
            run = self.executors.get((fw_id, spec.executor_lease))
            if run is not None:
                run.tasks[task_id] = ms.TaskState.TASK_STAGING
                run.waiting[task_id] = spec.task

    def start(self, eff: core.StartProcess, now: float) -> list[Effect]:
        """:class:`AgentState` starts a Mesos lease."""
        key = (eff.framework_id, eff.executor_id)
        if key in self.commands:
            return [Spawn(key[0], key[1], eff.resources, eff.command, executor=False)]
        run = self.executors.get(key)
        if run is not None:
            return [Spawn(key[0], key[1], run.spec.container, eff.command, executor=True)]
        task_id = ms.task_of_lease(eff.executor_id)
        assert task_id is not None
        ex_lease = self._task_executor[(key[0], task_id)]
        run = self.executors.get((key[0], ex_lease))
        if run is None or run.stopping:  # its executor is gone (or going)
            why = "its executor is not running"
            return self._task_update(key[0], task_id, ms.TaskState.TASK_LOST, why, None, now)
        return self._send_launches(run)

    def stop(self, eff: core.StopProcess, now: float) -> list[Effect]:
        """:class:`AgentState` stops a Mesos lease (framework shut down, SHUTDOWN, or a
        command task's KILL)."""
        key = (eff.framework_id, eff.executor_id)
        if key in self.commands:
            return [StopLater(key[0], key[1], 0.0)]
        run = self.executors.get(key)
        if run is not None:
            run.stopping = True
            if run.stream is None:
                return [StopLater(key[0], key[1], 0.0)]
            shutdown = ToStream(run.stream, mc.ShutdownExecutor())
            return [shutdown, StopLater(key[0], key[1], SHUTDOWN_GRACE_S)]
        task_id = ms.task_of_lease(eff.executor_id)
        assert task_id is not None
        return self.kill_task(m.KillTask(key[0], task_id), now)

    def kill_task(self, event: m.KillTask, now: float) -> list[Effect]:
        fw_id, task_id = event.framework_id, event.task_id
        lease = ms.task_lease(task_id)
        if (fw_id, lease) in self.commands:
            return list(self.agent.on_master_event(m.StopExecutor(fw_id, lease), now))
        ex_lease = self._task_executor.get((fw_id, task_id))
        run = self.executors.get((fw_id, ex_lease)) if ex_lease else None
        if run is None or task_id not in run.tasks:
            return []  # unknown here, or over already
        if task_id in run.waiting or run.stream is None:  # its executor never saw it
            run.waiting.pop(task_id, None)
            why = "killed before its executor took it"
            return self._task_update(fw_id, task_id, ms.TaskState.TASK_KILLED, why, None, now)
        nanos = int(event.grace * 1e9)
        kill = mc.KillTaskBody(
            task_id=ms.Id(value=task_id),
            kill_policy=ms.KillPolicy(grace_period=ms.Duration(nanoseconds=nanos)),
        )
        return [ToStream(run.stream, mc.KillTask(kill=kill))]

    def to_executor(self, event: m.ToExecutor) -> list[Effect]:
        lease = self._by_executor_id.get((event.framework_id, event.executor_id))
        run = self.executors.get((event.framework_id, lease)) if lease else None
        if run is None:
            return []
        msg = mc.ToExecutorMessage(message=mc.ExecutorMessageBody(data=event.data))
        if run.stream is None:
            run.queued.append(msg)
            return []
        return [ToStream(run.stream, msg)]

    def acked(self, update_id: str) -> list[Effect]:
        """The framework acknowledged ``update_id``: tell its executor."""
        entry = self._unacked.pop(update_id, None)
        if entry is None:
            return []
        fw_id, ex_lease, task_id, uuid = entry
        run = self.executors.get((fw_id, ex_lease))
        if run is None:
            return []
        body = mc.AcknowledgedBody(task_id=ms.Id(value=task_id), uuid=uuid)
        event = mc.Acknowledged(acknowledged=body)
        if run.stream is None:
            run.queued.append(event)
            return []
        return [ToStream(run.stream, event)]

    # --- from executors ----------------------------------------------------------------------
    def subscribe(self, stream: str, call: mc.ExecutorSubscribe, hostname: str) -> list[Effect]:
        """An executor subscribes on ``stream``; raises ValueError (400) if it is not one this
        agent runs."""
        run = self._run_of(call.framework_id.value, call.executor_id.value)
        effects: list[Effect] = []
        if run.stream is not None:
            self._streams.pop(run.stream, None)
            effects.append(CloseStream(run.stream))
        run.stream = stream
        self._streams[stream] = (run.framework_id, run.lease)
        info = run.spec.executor
        if info.framework_id is None:
            info = _replace_framework_id(info, run.framework_id)
        body = mc.ExecutorSubscribedBody(
            executor_info=info,
            framework_info=run.spec.framework,
            agent_info=ms.AgentInfo(
                hostname=hostname,
                id=ms.Id(value=self.agent.agent_id or ""),
                resources=ms.to_mesos_resources(self.agent.resources),
            ),
            container_id=ms.Id(value=f"{run.framework_id}.{run.lease}"),
        )
        effects.append(ToStream(stream, mc.ExecutorSubscribed(subscribed=body)))
        queued, run.queued = run.queued, []
        effects += [ToStream(stream, event) for event in queued]
        log.info("Mesos executor %s of framework %s subscribed", run.executor_id, run.framework_id)
        return effects + self._send_launches(run)

    def stream_closed(self, stream: str) -> None:
        key = self._streams.pop(stream, None)
        run = self.executors.get(key) if key else None
        if run is not None and run.stream == stream:
            run.stream = None

    def update(self, call: mc.ExecutorUpdate, now: float) -> list[Effect]:
        """An executor's UPDATE; raises ValueError (400) naming what is wrong with it."""
        run = self._run_of(call.framework_id.value, call.executor_id.value)
        status = call.update.status
        task_id = status.task_id.value
        if status.uuid is None or len(status.uuid) != 16:
            raise ValueError("an UPDATE's status needs a 16-byte uuid")
        if status.state == ms.TaskState.TASK_STAGING:
            raise ValueError("an executor cannot report TASK_STAGING")
        old = run.tasks.get(task_id)
        if old is None:
            raise ValueError(f"task {task_id} is not a live task of executor {run.executor_id}")
        try:
            ms.check_task_transition(old, status.state)
        except IllegalTransition as exc:
            raise ValueError(f"task {task_id}: {exc}") from None
        uuid = status.uuid
        status = _stamped(status, self.agent.agent_id or "", run.executor_id)
        update_id = f"{self.agent.agent_id or 'agent'}-x{uuid.hex()}"
        effects = self._report(run.framework_id, task_id, status, update_id, now)
        self._unacked[update_id] = (run.framework_id, run.lease, task_id, uuid)
        return effects

    def message(self, call: mc.ExecutorMessage) -> list[Effect]:
        run = self._run_of(call.framework_id.value, call.executor_id.value)
        msg = m.FromExecutor(
            self.agent.agent_id or "", run.framework_id, run.executor_id, call.message.data
        )
        return [core.ToMaster(msg)] if self.agent.registered else []

    # --- processes ---------------------------------------------------------------------------
    def exited(self, framework_id: str, lease: str, oom: str | None, now: float) -> list[Effect]:
        """A Mesos lease's process ended (or failed to start): forget it; a custom executor's
        live tasks end with it."""
        key = (framework_id, lease)
        self.commands.pop(key, None)
        run = self.executors.pop(key, None)
        if run is None:
            return []
        self._by_executor_id.pop((framework_id, run.executor_id), None)
        effects: list[Effect] = []
        if run.stream is not None:
            self._streams.pop(run.stream, None)
            effects.append(CloseStream(run.stream))
        if oom is not None:
            state, reason = ms.TaskState.TASK_FAILED, "REASON_CONTAINER_LIMITATION_MEMORY"
            why = oom
        elif run.stopping:
            state, reason, why = ms.TaskState.TASK_KILLED, "REASON_EXECUTOR_TERMINATED", "shut down"
        else:
            state, reason = ms.TaskState.TASK_FAILED, "REASON_EXECUTOR_TERMINATED"
            why = "its executor exited"
        for task_id in sorted(run.tasks):
            effects += self._task_update(framework_id, task_id, state, why, reason, now)
            self._task_executor.pop((framework_id, task_id), None)
        return effects

    # --- helpers -----------------------------------------------------------------------------
    def _run_of(self, framework_id: str, executor_id: str) -> MesosExecutorRun:
        lease = self._by_executor_id.get((framework_id, executor_id))
        run = self.executors.get((framework_id, lease)) if lease else None
        if run is None:
            raise ValueError(f"executor {executor_id} of framework {framework_id} is not run here")
        return run

    def _send_launches(self, run: MesosExecutorRun) -> list[Effect]:
        if run.stream is None or not run.waiting:
            return []
        waiting, run.waiting = run.waiting, {}
        return [
            ToStream(run.stream, mc.LaunchTask(launch=mc.LaunchBody(task=task)))
            for task in waiting.values()
        ]

    def _task_update(
        self,
        framework_id: str,
        task_id: str,
        state: ms.TaskState,
        why: str,
        reason: str | None,
        now: float,
    ) -> list[Effect]:
        """An update the agent makes for a custom executor's task."""
        ex_lease = self._task_executor.get((framework_id, task_id), "")
        run = self.executors.get((framework_id, ex_lease))
        status = ms.TaskStatus(
            task_id=ms.Id(value=task_id),
            state=state,
            message=why,
            source="SOURCE_AGENT",
            reason=reason,
            agent_id=ms.Id(value=self.agent.agent_id or ""),
            executor_id=ms.Id(value=run.executor_id) if run else None,
        )
        update_id = f"{self.agent.agent_id or 'agent'}-m{next(self._seq)}"
        return self._report(framework_id, task_id, status, update_id, now)

    def _report(
        self,
        framework_id: str,
        task_id: str,
        status: ms.TaskStatus,
        update_id: str,
        now: float,
    ) -> list[Effect]:
        ex_lease = self._task_executor.get((framework_id, task_id))
        run = self.executors.get((framework_id, ex_lease)) if ex_lease else None
        if run is not None:
            if status.state.terminal:
                run.tasks.pop(task_id, None)
                run.waiting.pop(task_id, None)
            else:
                run.tasks[task_id] = status.state
        if status.state.terminal:
            self._task_executor.pop((framework_id, task_id), None)
        update = m.StatusUpdate(
            update_id,
            self.agent.agent_id or "",
            framework_id,
            ms.task_lease(task_id),
            ms.LEASE_STATE[status.state],
            status.message or "",
            None,
            status,
        )
        return list(self.agent.report(update, now))

    def validate(self) -> None:
        for (fw_id, executor_id), lease in self._by_executor_id.items():
            assert self.executors[(fw_id, lease)].executor_id == executor_id
        for stream, key in self._streams.items():
            assert self.executors[key].stream == stream
        for (fw_id, task_id), lease in self._task_executor.items():
            run = self.executors.get((fw_id, lease))
            if run is not None:
                assert task_id in run.tasks or task_id not in run.waiting
        for run in self.executors.values():
            assert set(run.waiting) <= set(run.tasks), run.lease
            for state in run.tasks.values():
                assert not state.terminal


def _stamped(status: ms.TaskStatus, agent_id: str, executor_id: str) -> ms.TaskStatus:
    return msgspec.structs.replace(
        status,
        agent_id=ms.Id(value=agent_id),
        executor_id=ms.Id(value=executor_id),
        source=status.source or "SOURCE_EXECUTOR",
    )


def _replace_framework_id(info: ms.ExecutorInfo, framework_id: str) -> ms.ExecutorInfo:
    return msgspec.structs.replace(info, framework_id=ms.Id(value=framework_id))
