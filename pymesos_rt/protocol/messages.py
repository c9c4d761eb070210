"""The wire contract: one closed union of typed messages per direction of each channel.

Channels (see docs/architecture.md for the catalog):
- framework -> master: :data:`SchedulerCall`;  master -> framework: :data:`SchedulerEvent`
- agent -> master: :data:`AgentCall`;          master -> agent: :data:`AgentEvent`
- executor -> driver: :data:`WorkerCall`;      driver -> executor: :data:`WorkerEvent`

Every message is a frozen ``msgspec.Struct`` with a short tag; a frame on the wire is a list of
messages of one union (batching), so decoding validates types and rejects unknown tags.
Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from pymesos_rt.protocol.objects import ObjectLocation, StoreStats
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState


class _Msg(msgspec.Struct, frozen=True, array_like=True, tag_field="t", forbid_unknown_fields=True):
    pass


# ---- shared bodies -------------------------------------------------------------------------


class CommandInfo(msgspec.Struct, frozen=True):
    """How an agent starts an executor: an argv (no shell) and extra environment."""

    argv: list[str]
    env: dict[str, str] = {}


class ExecutorLaunch(msgspec.Struct, frozen=True):
    executor_id: str
    resources: Resources
    command: CommandInfo


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


# ---- framework <-> master ------------------------------------------------------------------


class Subscribe(_Msg, tag="subscribe", frozen=True):
    name: str
    role: str = "*"
    framework_id: str | None = None
    failover_timeout: float = 0.0


class Accept(_Msg, tag="accept", frozen=True):
    offer_ids: list[str]
    launches: list[ExecutorLaunch]
    refuse_seconds: float = 5.0


class Decline(_Msg, tag="decline", frozen=True):
    offer_ids: list[str]
    refuse_seconds: float = 5.0


class Suppress(_Msg, tag="suppress", frozen=True):
    pass


class Revive(_Msg, tag="revive", frozen=True):
    pass


class KillExecutor(_Msg, tag="kill", frozen=True):
    agent_id: str
    executor_id: str


class Acknowledge(_Msg, tag="ack", frozen=True):
    agent_id: str
    update_id: str


class Teardown(_Msg, tag="teardown", frozen=True):
    pass


class ExecutorRef(msgspec.Struct, frozen=True, array_like=True):
    agent_id: str
    executor_id: str


class Reconcile(_Msg, tag="reconcile", frozen=True):
    """Every executor the framework holds, sent after each (re-)subscription.

    The master answers with a LOST :class:`ExecutorUpdate` (``update_id`` empty: not to be
    acknowledged) for each listed executor that no agent runs, once its agent has re-registered
    or failed to in time, and stops the framework's executors that the list does not name.
    """

    executors: list[ExecutorRef]


class TaskCounts(_Msg, tag="counts", frozen=True):
    """The framework's task counts, for ``/state`` (tasks themselves never reach the master)."""

    queued: int
    running: int
    finished: int
    failed: int


SchedulerCall = (
    Subscribe
    | Accept
    | Decline
    | Suppress
    | Revive
    | KillExecutor
    | Acknowledge
    | Teardown
    | TaskCounts
    | Reconcile
)


class Subscribed(_Msg, tag="subscribed", frozen=True):
    framework_id: str
    master_id: str


class Offers(_Msg, tag="offers", frozen=True):
    offers: list[Offer]


class Rescind(_Msg, tag="rescind", frozen=True):
    offer_id: str


class ExecutorUpdate(_Msg, tag="update", frozen=True):
    update: StatusUpdate


class ClusterChanged(_Msg, tag="cluster", frozen=True):
    agents: list[AgentSummary]


class Error(_Msg, tag="error", frozen=True):
    message: str


class Reclaim(_Msg, tag="reclaim", frozen=True):
    """The master asks a framework over its fair share to give back ``count`` executors (it
    drains them: no new tasks, stopped when their queued tasks are done)."""

    count: int
    reason: str = ""


SchedulerEvent = Subscribed | Offers | Rescind | ExecutorUpdate | ClusterChanged | Error | Reclaim


# ---- agent <-> master ----------------------------------------------------------------------


class RegisterAgent(_Msg, tag="register", frozen=True):
    hostname: str
    resources: Resources
    agent_id: str | None = None
    executors: list[ExecutorRecord] = []
    isolation: str = "none"
    object_address: str = ""  # its object store's TCP endpoint (protocol/objects.py)


class AgentStatus(_Msg, tag="status", frozen=True):
    update: StatusUpdate


class Heartbeat(_Msg, tag="heartbeat", frozen=True):
    pass


class Unregister(_Msg, tag="unregister", frozen=True):
    """The agent is shutting down: remove it now (its executors are LOST to their frameworks,
    which run their tasks elsewhere) and send it nothing more."""

    reason: str = ""


class UsageRecord(msgspec.Struct, frozen=True, array_like=True):
    """One executor's usage, read from its container: ``cpu_seconds``, ``memory`` and
    ``memory_peak`` (bytes), ``pids``; a key is missing when its backend cannot tell."""

    framework_id: str
    executor_id: str
    usage: dict[str, float]


class ExecutorUsage(_Msg, tag="usage", frozen=True):
    """The usage of the agent's running executors, sent about once a second."""

    executors: list[UsageRecord]


class StoreUsage(_Msg, tag="store_usage", frozen=True):
    """The agent's object store use, sent when it changed (at most about once a second)."""

    stats: StoreStats


AgentCall = RegisterAgent | AgentStatus | Heartbeat | ExecutorUsage | Unregister | StoreUsage


class AgentRegistered(_Msg, tag="registered", frozen=True):
    agent_id: str
    master_id: str


class LaunchExecutor(_Msg, tag="launch", frozen=True):
    framework_id: str
    launch: ExecutorLaunch


class StopExecutor(_Msg, tag="stop", frozen=True):
    framework_id: str
    executor_id: str


class StatusAcked(_Msg, tag="acked", frozen=True):
    update_id: str


class ShutdownFramework(_Msg, tag="shutdown_fw", frozen=True):
    framework_id: str


AgentEvent = AgentRegistered | LaunchExecutor | StopExecutor | StatusAcked | ShutdownFramework


# ---- executor <-> driver (data plane) ------------------------------------------------------


class ObjectBlob(msgspec.Struct, frozen=True, array_like=True):
    """A serialized value (or, with ``error``, a serialized exception) of one object id.

    A large value is not inline: ``location`` names the object store holding it.
    """

    object_id: str
    data: bytes
    error: bool = False
    location: ObjectLocation | None = None
    contained: list[str] = []  # ids of the references inside the value (kept alive by it)


class TaskSpec(msgspec.Struct, frozen=True, array_like=True):
    """A task submitted from inside an executor (nested ``f.remote()``)."""

    task_id: str
    name: str
    fn_id: str
    fn: bytes | None
    args: bytes
    dep_ids: list[str]
    resources: Resources
    max_retries: int
    retry_exceptions: bool


class Hello(_Msg, tag="hello", frozen=True):
    executor_id: str
    pid: int
    hostname: str


class TaskDone(_Msg, tag="done", frozen=True):
    """``value`` is the pickled result, or empty when ``location`` names the object store
    (the executor's agent's) holding it."""

    task_id: str
    value: bytes
    duration: float = 0.0
    location: ObjectLocation | None = None
    contained: list[str] = []  # ids of the references inside the result (kept alive by it)


class TaskFailed(_Msg, tag="failed", frozen=True):
    """``error`` is the pickled exception ``get`` raises (a ``TaskError`` for user errors)."""

    task_id: str
    error: bytes
    traceback: str
    duration: float = 0.0


class Output(_Msg, tag="out", frozen=True):
    task_id: str
    stream: Literal["stdout", "stderr"]
    text: str


class Submit(_Msg, tag="submit", frozen=True):
    spec: TaskSpec


class GetObjects(_Msg, tag="get", frozen=True):
    """Ask the driver for objects; it answers once ``num_returns`` of them are ready (0: all).

    While a request is open the executor's slot counts as given back (the task is blocked).
    With ``fetch`` false the answer carries ids only (``rt.wait``).
    """

    request_id: int
    object_ids: list[str]
    num_returns: int = 0
    fetch: bool = True


class PutObject(_Msg, tag="put", frozen=True):
    blob: ObjectBlob


class CancelRequest(_Msg, tag="cancel_req", frozen=True):
    task_id: str
    force: bool = False


class DepsLost(_Msg, tag="deps_lost", frozen=True):
    """The task did not run: these arguments could not be had (every copy lost, or, for an
    argument chained behind a task on this executor, not produced). The driver rebuilds them
    (lineage) and runs the task again, or fails it with ``ObjectLostError``."""

    task_id: str
    object_ids: list[str]
    reason: str


class Borrow(_Msg, tag="borrow", frozen=True):
    """The executor now holds references to these objects (each sent when its count of live
    references goes from 0 to 1): the driver keeps them until the matching ``Unborrow``, or
    until the executor is gone. Objects it created itself (``Submit``, ``PutObject``) start
    borrowed."""

    object_ids: list[str]


class Unborrow(_Msg, tag="unborrow", frozen=True):
    object_ids: list[str]


WorkerCall = (
    Hello
    | TaskDone
    | TaskFailed
    | Output
    | Submit
    | GetObjects
    | PutObject
    | CancelRequest
    | Borrow
    | Unborrow
    | DepsLost
)


class RunTask(_Msg, tag="run", frozen=True):
    """Run a task. ``deps`` carry the argument objects that exist; ``local_deps`` name those
    that tasks queued before this one on the same executor will produce (chained dispatch)."""

    task_id: str
    name: str
    fn_id: str
    fn: bytes | None
    args: bytes
    deps: list[ObjectBlob]
    local_deps: list[str] = []


class ObjectValues(_Msg, tag="values", frozen=True):
    request_id: int
    objects: list[ObjectBlob]


class CancelTask(_Msg, tag="cancel", frozen=True):
    task_id: str


class StopWorker(_Msg, tag="stop_worker", frozen=True):
    pass


WorkerEvent = RunTask | ObjectValues | CancelTask | StopWorker
