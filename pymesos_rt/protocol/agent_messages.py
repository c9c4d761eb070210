"""agent <-> master: the messages of the unions ``AgentCall`` (registering, executors' status
updates, usage, heartbeats) and ``AgentEvent`` (launching and stopping executors, acknowledging
updates, Mesos tasks). The unions themselves are in ``protocol/messages.py``, which re-exports
every name here.

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

import msgspec

from pymesos_rt.protocol.bodies import ExecutorLaunch, ExecutorRecord, Message, StatusUpdate
from pymesos_rt.protocol.objects import StoreStats
from pymesos_rt.protocol.resources import Resources


class RegisterAgent(Message, tag="register", frozen=True):
    hostname: str
    resources: Resources
    agent_id: str | None = None
    executors: list[ExecutorRecord] = []
    isolation: str = "none"
    object_address: str = ""  # its object store's TCP endpoint (protocol/objects.py)
    credential: str = ""  # the agent's own secret, as for Subscribe


class AgentStatus(Message, tag="status", frozen=True):
    update: StatusUpdate


class Heartbeat(Message, tag="heartbeat", frozen=True):
    pass


class Unregister(Message, tag="unregister", frozen=True):
    """The agent is shutting down: remove it now (its executors are LOST to their frameworks,
    which run their tasks elsewhere) and send it nothing more."""

    reason: str = ""


class UsageRecord(msgspec.Struct, frozen=True, array_like=True):
    """One executor's usage, read from its container: ``cpu_seconds``, ``memory`` and
    ``memory_peak`` (bytes), ``pids``; a key is missing when its backend cannot tell."""

    framework_id: str
    executor_id: str
    usage: dict[str, float]


class ExecutorUsage(Message, tag="usage", frozen=True):
    """The usage of the agent's running executors, sent about once a second."""

    executors: list[UsageRecord]


class FromExecutor(Message, tag="mesos_from_executor", frozen=True):
    """A Mesos executor's MESSAGE to its framework."""

    agent_id: str
    framework_id: str
    executor_id: str
    data: bytes


class StoreUsage(Message, tag="store_usage", frozen=True):
    """The agent's object store use, sent when it changed (at most about once a second)."""

    stats: StoreStats


class AgentRegistered(Message, tag="registered", frozen=True):
    agent_id: str
    master_id: str
    credential: str = ""  # issued by the master when RegisterAgent presented none


class LaunchExecutor(Message, tag="launch", frozen=True):
    framework_id: str
    launch: ExecutorLaunch
    framework_digest: str = ""  # kept by the agent, reported in ExecutorRecord


class StopExecutor(Message, tag="stop", frozen=True):
    framework_id: str
    executor_id: str


class StatusAcked(Message, tag="acked", frozen=True):
    update_id: str


class ShutdownFramework(Message, tag="shutdown_fw", frozen=True):
    framework_id: str


class KillTask(Message, tag="mesos_kill", frozen=True):
    """Kill a Mesos task (a command task's process, or the task of a custom executor)."""

    framework_id: str
    task_id: str
    grace: float = 3.0


class ToExecutor(Message, tag="mesos_to_executor", frozen=True):
    """A Mesos framework's MESSAGE to its executor ``executor_id`` on this agent."""

    framework_id: str
    executor_id: str
    data: bytes
