"""The bodies several messages share (executor launches, offers, status updates, agents'
summaries and records) and :class:`Message`, the base of every message of the wire contract.

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

import msgspec

from pymesos_rt.protocol import mesos
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState


class Message(
    msgspec.Struct, frozen=True, array_like=True, tag_field="t", forbid_unknown_fields=True
):
    """A message of a channel's union: frozen, encoded as an array, tagged by ``t``."""


class CommandInfo(msgspec.Struct, frozen=True):
    """How an agent starts an executor: an argv (no shell) and extra environment."""

    argv: list[str]
    env: dict[str, str] = {}
    user: str = ""  # a Mesos framework's process: run as this user (agent/mesos_user.py)


class MesosCommandTask(msgspec.Struct, frozen=True, tag="command", tag_field="kind"):
    """The launch is a Mesos command task: the process is the task (see docs/mesos-api.md)."""

    task: mesos.TaskInfo


class MesosExecutor(msgspec.Struct, frozen=True, tag="executor", tag_field="kind"):
    """The launch starts a Mesos framework's custom executor, which subscribes to the agent's
    ``/api/v1/executor``; ``container`` sizes its container (its own resources and those of the
    tasks launched with it)."""

    executor: mesos.ExecutorInfo
    framework: mesos.FrameworkInfo
    container: Resources


class MesosExecutorTask(msgspec.Struct, frozen=True, tag="executor_task", tag_field="kind"):
    """The launch holds the resources of a task that the custom executor of lease
    ``executor_lease`` runs: no process of its own."""

    executor_lease: str
    task: mesos.TaskInfo


MesosLaunch = MesosCommandTask | MesosExecutor | MesosExecutorTask


class ExecutorLaunch(msgspec.Struct, frozen=True):
    executor_id: str
    resources: Resources
    command: CommandInfo
    mesos: MesosLaunch | None = None  # a Mesos framework's task or executor


class Offer(msgspec.Struct, frozen=True):
    offer_id: str
    framework_id: str
    agent_id: str
    hostname: str
    resources: Resources


class StatusUpdate(msgspec.Struct, frozen=True):
    """An executor's state change, kept by its agent until the framework acknowledges it."""

    update_id: str
    agent_id: str
    framework_id: str
    executor_id: str
    state: ExecutorState
    message: str = ""
    exit_code: int | None = None
    mesos: mesos.TaskStatus | None = None  # a Mesos task's status, as its executor sent it


class AgentSummary(msgspec.Struct, frozen=True):
    agent_id: str
    hostname: str
    total: Resources
    object_address: str = ""  # the agent's object-store TCP endpoint, host:port


class ExecutorRecord(msgspec.Struct, frozen=True):
    """What an agent reports about an executor it runs when it (re-)registers."""

    framework_id: str
    executor_id: str
    resources: Resources
    # the digest of its framework's credential, as the LaunchExecutor carried it: lets a new
    # master check a re-subscribing framework (master/identity.py)
    framework_digest: str = ""
