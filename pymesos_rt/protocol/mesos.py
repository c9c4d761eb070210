"""The Mesos v1 HTTP API's JSON shapes (``mesos.proto``, ``scheduler.proto``, ``executor.proto``
in apache/mesos), as typed structs, with the task states and their transition table.

Rules kept here:
- Only what the master and agents use is declared; unknown fields in what a framework sends are
  ignored (as protobuf's JSON mapping does), unknown call types are refused on decode.
- Bytes fields (``data``, ``uuid``) are base64 strings in JSON, as in Mesos.
- Events are written as compact ASCII JSON: mesoshttp slices a record by its byte length from a
  decoded text line, which only works when every character is one byte.
- A task state change not in :data:`TASK_TRANSITIONS` raises :class:`IllegalTransition`.
- Mesos tasks and custom executors hold resources as the master's executor entries (leases):
  :func:`task_lease` and :func:`executor_lease` name them.

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import msgspec

from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState, IllegalTransition

VERSION = "1.11.0"  # the Mesos API version we speak (pymesos parses it as numbers)


class _J(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    pass


class Id(_J, frozen=True):
    """FrameworkID, AgentID, TaskID, ExecutorID, OfferID: ``{"value": "..."}``."""

    value: str


# ---- resources -----------------------------------------------------------------------------


class Scalar(_J, frozen=True):
    value: float


class Range(_J, frozen=True):
    begin: int
    end: int


class Ranges(_J, frozen=True):
    range: list[Range] = []


class ValueSet(_J, frozen=True):
    item: list[str] = []


class AllocationInfo(_J, frozen=True):
    role: str | None = None


class Resource(_J, frozen=True):
    name: str
    type: str | None = None  # SCALAR (also when absent), RANGES or SET
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    role: str | None = None
    allocation_info: AllocationInfo | None = None


def to_mesos_resources(resources: Resources, role: str = "*") -> list[Resource]:
    """Our scalar vector in Mesos's form (unreserved, allocated to ``role``)."""
    return [
        Resource(
            name=name,
            type="SCALAR",
            scalar=Scalar(value=value),
            role="*",
            allocation_info=AllocationInfo(role=role),
        )
        for name, value in resources.items()
    ]


def from_mesos_resources(resources: list[Resource]) -> Resources:
    """Mesos resources as our scalar vector; raises ``ValueError`` naming what is unsupported."""
    total: dict[str, float] = {}
    for res in resources:
        if res.type not in (None, "SCALAR") or res.scalar is None:
            raise ValueError(
                f"resource {res.name!r} is {res.type}: only SCALAR resources are supported"
            )
        if res.scalar.value < 0:
            raise ValueError(f"resource {res.name!r} is negative ({res.scalar.value})")
        total[res.name] = total.get(res.name, 0.0) + res.scalar.value
    return Resources(total)


# ---- infos ---------------------------------------------------------------------------------


class EnvVar(_J, frozen=True):
    name: str
    value: str = ""


class Environment(_J, frozen=True):
    variables: list[EnvVar] = []


class URI(_J, frozen=True):
    value: str


class CommandInfo(_J, frozen=True):
    value: str | None = None
    shell: bool = True
    arguments: list[str] = []
    environment: Environment | None = None
    uris: list[URI] = []
    user: str | None = None


class Label(_J, frozen=True):
    key: str
    value: str | None = None


class Labels(_J, frozen=True):
    labels: list[Label] = []


class Duration(_J, frozen=True):
    nanoseconds: int


class KillPolicy(_J, frozen=True):
    grace_period: Duration | None = None


class ContainerInfo(_J, frozen=True):
    type: str = "MESOS"


class ExecutorInfo(_J, frozen=True):
    executor_id: Id
    type: str | None = None
    framework_id: Id | None = None
    command: CommandInfo | None = None
    resources: list[Resource] = []
    name: str | None = None
    source: str | None = None
    data: bytes | None = None
    labels: Labels | None = None


class TaskInfo(_J, frozen=True):
    name: str
    task_id: Id
    agent_id: Id | None = None
    resources: list[Resource] = []
    executor: ExecutorInfo | None = None
    command: CommandInfo | None = None
    container: ContainerInfo | None = None
    data: bytes | None = None
    labels: Labels | None = None
    kill_policy: KillPolicy | None = None


class Capability(_J, frozen=True):
    type: str


class FrameworkInfo(_J, frozen=True):
    user: str = ""
    name: str = ""
    id: Id | None = None
    failover_timeout: float | None = None
    checkpoint: bool | None = None
    role: str | None = None
    roles: list[str] = []
    hostname: str | None = None
    principal: str | None = None
    webui_url: str | None = None
    capabilities: list[Capability] = []
    labels: Labels | None = None


class Address(_J, frozen=True):
    port: int
    hostname: str | None = None
    ip: str | None = None


class MasterInfo(_J, frozen=True):
    id: str
    ip: int
    port: int
    hostname: str | None = None
    version: str | None = None
    address: Address | None = None
    pid: str | None = None


class AgentInfo(_J, frozen=True):
    hostname: str
    id: Id | None = None
    port: int | None = None
    resources: list[Resource] = []


class Offer(_J, frozen=True):
    id: Id
    framework_id: Id
    agent_id: Id
    hostname: str
    resources: list[Resource] = []
    allocation_info: AllocationInfo | None = None


class Filters(_J, frozen=True):
    refuse_seconds: float = 5.0


# ---- task states ---------------------------------------------------------------------------


class TaskState(enum.StrEnum):
    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    TASK_UNKNOWN = "TASK_UNKNOWN"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_TASK_STATES


TERMINAL_TASK_STATES = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
    }
)

# What an executor (or the agent for it) may report after each state. A repeated RUNNING is a
# new update (it may carry new data); nothing follows a terminal state.
TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.TASK_STAGING: frozenset(
        {TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_KILLING}
        | TERMINAL_TASK_STATES
    ),
    TaskState.TASK_STARTING: frozenset(
        {TaskState.TASK_STARTING, TaskState.TASK_RUNNING, TaskState.TASK_KILLING}
        | TERMINAL_TASK_STATES
    ),
    TaskState.TASK_RUNNING: frozenset(
        {TaskState.TASK_RUNNING, TaskState.TASK_KILLING} | TERMINAL_TASK_STATES
    ),
    TaskState.TASK_KILLING: frozenset(
        {TaskState.TASK_KILLING, TaskState.TASK_RUNNING} | TERMINAL_TASK_STATES
    ),
    TaskState.TASK_UNREACHABLE: frozenset({TaskState.TASK_RUNNING} | TERMINAL_TASK_STATES),
    TaskState.TASK_UNKNOWN: frozenset(),
    **{state: frozenset() for state in TERMINAL_TASK_STATES},
}


def check_task_transition(old: TaskState, new: TaskState) -> None:
    if new not in TASK_TRANSITIONS[old]:
        raise IllegalTransition(f"task cannot go from {old} to {new}")


# The state of a task's lease (its resources, in the master's executor entries) for each task
# state an executor reports.
LEASE_STATE: dict[TaskState, ExecutorState] = {
    TaskState.TASK_STAGING: ExecutorState.STAGING,
    TaskState.TASK_STARTING: ExecutorState.STAGING,
    TaskState.TASK_RUNNING: ExecutorState.RUNNING,
    TaskState.TASK_KILLING: ExecutorState.RUNNING,
    TaskState.TASK_UNREACHABLE: ExecutorState.RUNNING,
    TaskState.TASK_UNKNOWN: ExecutorState.RUNNING,
    TaskState.TASK_FINISHED: ExecutorState.FINISHED,
    TaskState.TASK_FAILED: ExecutorState.FAILED,
    TaskState.TASK_ERROR: ExecutorState.FAILED,
    TaskState.TASK_KILLED: ExecutorState.KILLED,
    TaskState.TASK_LOST: ExecutorState.LOST,
    TaskState.TASK_DROPPED: ExecutorState.LOST,
    TaskState.TASK_GONE: ExecutorState.LOST,
    TaskState.TASK_GONE_BY_OPERATOR: ExecutorState.LOST,
}

# The task state (and reason) the master reports for a lease's state, for tasks whose updates
# the agent makes itself (command tasks: the process is the task).
TASK_STATE_OF: dict[ExecutorState, tuple[TaskState, str | None]] = {
    ExecutorState.STAGING: (TaskState.TASK_STAGING, None),
    ExecutorState.RUNNING: (TaskState.TASK_RUNNING, None),
    ExecutorState.FINISHED: (TaskState.TASK_FINISHED, None),
    ExecutorState.FAILED: (TaskState.TASK_FAILED, None),
    ExecutorState.KILLED: (TaskState.TASK_KILLED, None),
    ExecutorState.LOST: (TaskState.TASK_LOST, "REASON_AGENT_REMOVED"),
    ExecutorState.OOM: (TaskState.TASK_FAILED, "REASON_CONTAINER_LIMITATION_MEMORY"),
}


class TaskStatus(_J, frozen=True):
    task_id: Id
    state: TaskState
    message: str | None = None
    source: str | None = None  # SOURCE_MASTER, SOURCE_AGENT or SOURCE_EXECUTOR
    reason: str | None = None
    data: bytes | None = None
    agent_id: Id | None = None
    executor_id: Id | None = None
    timestamp: float | None = None
    uuid: bytes | None = None
    healthy: bool | None = None
    labels: Labels | None = None


# ---- leases --------------------------------------------------------------------------------


def valid_id(text: str) -> str | None:
    """None when ``text`` may be a task or executor id; else why not (Mesos's rules: not empty,
    no ``/``, not ``.`` or ``..``; we also keep to printable ASCII without spaces, since the
    id names a sandbox directory and a cgroup)."""
    if not text:
        return "it is empty"
    if len(text) > 200:
        return "it is longer than 200 characters"
    if text in (".", ".."):
        return f"it is {text!r}"
    bad = sorted({c for c in text if not ("!" <= c <= "~") or c in "/\\"})
    if bad:
        return f"it contains {''.join(bad)!r} (only printable ASCII, no spaces or slashes)"
    return None


def task_lease(task_id: str) -> str:
    """The id of the executor entry that holds a task's resources (task ids are unique among a
    framework's live tasks, as Mesos requires)."""
    return f"mt.{task_id}"


def executor_lease(agent_id: str, executor_id: str) -> str:
    """The id of the executor entry of a custom executor's own resources (executor ids are
    unique per agent in Mesos, so one framework may run executor ``E`` on several agents)."""
    return f"mx.{agent_id}.{executor_id}"


def task_of_lease(lease_id: str) -> str | None:
    return lease_id[3:] if lease_id.startswith("mt.") else None


# ---- encoding ------------------------------------------------------------------------------

_JSON = msgspec.json.Encoder()


def encode_json(obj: Any) -> bytes:
    """Compact JSON, ASCII only (non-ASCII text escaped as ``\\uXXXX``)."""
    data = _JSON.encode(obj)
    if data.isascii():
        return data
    return json.dumps(json.loads(data), separators=(",", ":")).encode()


def record(obj: Any) -> bytes:
    """One RecordIO record: the JSON's length in bytes, a newline, the JSON."""
    data = encode_json(obj)
    return b"%d\n%s" % (len(data), data)


def executor_of_lease(lease_id: str, agent_id: str) -> str | None:
    """The Mesos executor id of a custom executor's lease on ``agent_id`` (None: not one)."""
    prefix = f"mx.{agent_id}."
    return lease_id[len(prefix) :] if lease_id.startswith(prefix) else None
