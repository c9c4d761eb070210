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

from pymesos_rt.protocol import mesos
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


# ---- framework <-> master ------------------------------------------------------------------


GPU_RESOURCES = "GPU_RESOURCES"  # a framework capability, as Mesos names it


class Subscribe(_Msg, tag="subscribe", frozen=True):
    """``credential``: the framework's own secret, the same at every (re-)subscription (none at
    the first one: the master issues one in ``Subscribed``); see master/identity.py."""

    name: str
    role: str = "*"
    framework_id: str | None = None
    failover_timeout: float = 0.0
    credential: str = ""
    capabilities: list[str] = []  # e.g. GPU_RESOURCES: may be offered agents with GPUs


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


class UpdateFramework(_Msg, tag="update_fw", frozen=True):
    """The framework's capabilities changed (Mesos's UPDATE_FRAMEWORK): a pymesos_rt program
    declares GPU_RESOURCES when it first submits a task that asks for GPUs."""

    capabilities: list[str]


class FunctionCounts(msgspec.Struct, frozen=True, array_like=True):
    """One function's tasks: how many wait for arguments or an executor (``queued``), run on an
    executor (``running``), and have ended each way; ``runs`` attempts ran (on an executor) for
    ``seconds`` in all."""

    name: str
    queued: int
    running: int
    done: int
    failed: int
    cancelled: int
    runs: int
    seconds: float


class TaskBox(msgspec.Struct, frozen=True, array_like=True):
    """One attempt of a task that ended, for the task stream (times in the sender's clock)."""

    executor_id: str
    name: str
    start: float
    end: float
    ok: bool


class TaskFailure(msgspec.Struct, frozen=True, array_like=True):
    """A task that failed for good: its exception line and (capped) traceback."""

    at: float
    task_id: str
    name: str
    executor_id: str
    error: str
    traceback: str


class OutputLine(msgspec.Struct, frozen=True, array_like=True):
    at: float
    task_id: str
    name: str
    stream: str
    text: str


class JobSummary(_Msg, tag="summary", frozen=True):
    """What the dashboard shows of a framework's tasks (tasks themselves never reach the
    master), sent about once a second while it changes. ``functions`` is complete (every
    function, bounded: see ``scheduler/summary.py``); ``boxes``, ``failures`` and ``output`` are
    what is new since the last summary, capped, with ``dropped`` counting what the caps left
    out. Times are in the sender's clock, whose reading at sending is ``now``."""

    now: float
    functions: list[FunctionCounts]
    boxes: list[TaskBox] = []
    failures: list[TaskFailure] = []
    output: list[OutputLine] = []
    dropped: int = 0


class ActorBrief(msgspec.Struct, frozen=True, array_like=True):
    """One actor as ``/state`` shows it: ``state`` is an ``ActorState`` name, ``pending`` its
    calls not answered yet."""

    actor_id: str
    class_name: str
    name: str
    state: str
    agent_id: str
    executor_id: str
    restarts: int
    pending: int


class ActorSummary(_Msg, tag="actors", frozen=True):
    """The framework's actors whose summary changed since its last one (for ``/state``: an
    actor's calls never reach the master). After a (re-)subscription it sends them all."""

    actors: list[ActorBrief]


SchedulerCall = (
    Subscribe
    | Accept
    | Decline
    | Suppress
    | Revive
    | KillExecutor
    | Acknowledge
    | Teardown
    | JobSummary
    | Reconcile
    | UpdateFramework
    | ActorSummary
)


class Subscribed(_Msg, tag="subscribed", frozen=True):
    """``credential``: issued by the master when the Subscribe presented none."""

    framework_id: str
    master_id: str
    credential: str = ""


class Offers(_Msg, tag="offers", frozen=True):
    offers: list[Offer]


class Rescind(_Msg, tag="rescind", frozen=True):
    offer_id: str


class ExecutorUpdate(_Msg, tag="update", frozen=True):
    update: StatusUpdate


class ClusterChanged(_Msg, tag="cluster", frozen=True):
    agents: list[AgentSummary]


class ClusterDelta(_Msg, tag="cluster_delta", frozen=True):
    """Agents that joined or changed (``added``) and left (``removed``) since the framework last
    heard: at most one per framework per allocation cycle, applied to the list it got as
    :class:`ClusterChanged` when it subscribed."""

    added: list[AgentSummary]
    removed: list[str]


class Error(_Msg, tag="error", frozen=True):
    message: str


class Reclaim(_Msg, tag="reclaim", frozen=True):
    """The master asks a framework over its fair share to give back ``count`` executors (it
    drains them: no new tasks, stopped when their queued tasks are done)."""

    count: int
    reason: str = ""


SchedulerEvent = (
    Subscribed | Offers | Rescind | ExecutorUpdate | ClusterChanged | Error | Reclaim | ClusterDelta
)


# ---- agent <-> master ----------------------------------------------------------------------


class RegisterAgent(_Msg, tag="register", frozen=True):
    hostname: str
    resources: Resources
    agent_id: str | None = None
    executors: list[ExecutorRecord] = []
    isolation: str = "none"
    object_address: str = ""  # its object store's TCP endpoint (protocol/objects.py)
    credential: str = ""  # the agent's own secret, as for Subscribe


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


class FromExecutor(_Msg, tag="mesos_from_executor", frozen=True):
    """A Mesos executor's MESSAGE to its framework."""

    agent_id: str
    framework_id: str
    executor_id: str
    data: bytes


class StoreUsage(_Msg, tag="store_usage", frozen=True):
    """The agent's object store use, sent when it changed (at most about once a second)."""

    stats: StoreStats


AgentCall = (
    RegisterAgent | AgentStatus | Heartbeat | ExecutorUsage | Unregister | FromExecutor | StoreUsage
)


class AgentRegistered(_Msg, tag="registered", frozen=True):
    agent_id: str
    master_id: str
    credential: str = ""  # issued by the master when RegisterAgent presented none


class LaunchExecutor(_Msg, tag="launch", frozen=True):
    framework_id: str
    launch: ExecutorLaunch
    framework_digest: str = ""  # kept by the agent, reported in ExecutorRecord


class StopExecutor(_Msg, tag="stop", frozen=True):
    framework_id: str
    executor_id: str


class StatusAcked(_Msg, tag="acked", frozen=True):
    update_id: str


class ShutdownFramework(_Msg, tag="shutdown_fw", frozen=True):
    framework_id: str


class KillTask(_Msg, tag="mesos_kill", frozen=True):
    """Kill a Mesos task (a command task's process, or the task of a custom executor)."""

    framework_id: str
    task_id: str
    grace: float = 3.0


class ToExecutor(_Msg, tag="mesos_to_executor", frozen=True):
    """A Mesos framework's MESSAGE to its executor ``executor_id`` on this agent."""

    framework_id: str
    executor_id: str
    data: bytes


AgentEvent = (
    AgentRegistered
    | LaunchExecutor
    | StopExecutor
    | StatusAcked
    | ShutdownFramework
    | KillTask
    | ToExecutor
)


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


class RuntimeEnvSpec(msgspec.Struct, frozen=True, array_like=True):
    """A task's ``runtime_env``: environment variables, and a packed ``working_dir`` and
    ``py_modules`` (object ids of zip archives, stored once). ``key`` names it: executors of
    different keys are different executor kinds."""

    key: str
    env_vars: dict[str, str] = {}
    working_dir: str = ""
    py_modules: list[str] = []


RUNTIME_ENV_VAR = "PYMESOS_RT_RUNTIME_ENV"  # an executor's RuntimeEnvSpec, as JSON
STREAMING = -1  # TaskExtra.num_returns: a generator whose items arrive as it yields
DYNAMIC = -2  # the same, its item refs returned all at once when it ends


class TaskExtra(msgspec.Struct, frozen=True, array_like=True):
    """What a task asks beyond a plain call (``None`` for most tasks).

    ``num_returns``: N >= 0 return objects, or :data:`STREAMING` / :data:`DYNAMIC`.
    ``parent_id``: the task that submitted it (``rt.cancel(recursive=True)``).
    ``max_calls``: replace an executor after this many calls of the function (0: never).
    ``retry_on``: pickled tuple of exception classes that are retried (``retry_exceptions=[...]``).
    ``node``/``soft``: node affinity (an agent id); ``spread``: the SPREAD strategy.
    """

    num_returns: int = 1
    parent_id: str = ""
    max_calls: int = 0
    retry_on: bytes = b""
    node: str = ""
    soft: bool = False
    spread: bool = False
    runtime_env: RuntimeEnvSpec | None = None


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
    extra: TaskExtra | None = None


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
    returns: list[ObjectBlob] = []  # num_returns != 1: one per return (``value`` unused)
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
    With ``fetch`` false the answer carries ids only (``rt.wait``). With ``lost`` the executor
    could not read the one object asked for there (``reason``): the driver rebuilds it from its
    lineage first, or fails it, and answers once it is made again.
    """

    request_id: int
    object_ids: list[str]
    num_returns: int = 0
    fetch: bool = True
    lost: ObjectLocation | None = None
    reason: str = ""


class PutObject(_Msg, tag="put", frozen=True):
    blob: ObjectBlob


class CancelRequest(_Msg, tag="cancel_req", frozen=True):
    task_id: str
    force: bool = False
    recursive: bool = True


class Yielded(_Msg, tag="yielded", frozen=True):
    """Item ``index`` of a generator task (``TaskExtra.num_returns`` STREAMING or DYNAMIC); its
    object id is ``ids.item_id(task_id, index)``. A retried task yields its items again: the
    driver keeps the first of each index."""

    task_id: str
    index: int
    blob: ObjectBlob


class NextItem(_Msg, tag="next_item", frozen=True):
    """Wait for item ``index`` of generator task ``task_id``: answered by an
    :class:`ObjectValues` naming the item (no data), or empty once the generator has ended."""

    request_id: int
    task_id: str
    index: int


class StateRequest(_Msg, tag="state_req", frozen=True):
    """Ask the driver for the cluster's state (``rt.available_resources()`` in a task);
    ``params`` is the query of the master's ``/state``."""

    request_id: int
    params: str = ""


# ---- actors (executor <-> driver) ---------------------------------------------------------


class ActorSpec(msgspec.Struct, frozen=True, array_like=True):
    """An actor to create: its class (``cls`` bytes only the first time a process sends
    ``cls_id``), constructor arguments, where it may be placed (``placement``: what an offer
    must have free) and what its executor holds (``resources``), and how it restarts.
    ``meta`` is the pickled handle state that ``rt.get_actor`` hands out; ``handle_ids`` name
    the actors whose handles the constructor's arguments hold (kept alive while it lives)."""

    actor_id: str
    class_name: str
    cls_id: str
    cls: bytes | None
    args: bytes
    dep_ids: list[str]
    placement: Resources
    resources: Resources
    max_restarts: int
    max_task_retries: int
    max_concurrency: int
    is_async: bool
    meta: bytes
    name: str = ""
    namespace: str = ""
    get_if_exists: bool = False
    handle_ids: list[str] = []


class ActorCallSpec(msgspec.Struct, frozen=True, array_like=True):
    """A method call: ``task_id`` is its object id (with ``num_returns`` != 1 the returns are
    ``ids.return_id(task_id, i)``); ``max_task_retries`` re-runs it if the actor dies."""

    task_id: str
    actor_id: str
    method: str
    args: bytes
    dep_ids: list[str]
    num_returns: int = 1
    max_task_retries: int = 0
    handle_ids: list[str] = []


class SubmitActor(_Msg, tag="actor_new", frozen=True):
    """A nested ``Cls.remote()``; with ``request_id`` > 0 (a named actor) the driver answers
    with an :class:`ActorLookup` (empty: created; ``meta``: the existing one; ``error``)."""

    spec: ActorSpec
    request_id: int = 0


class SubmitCall(_Msg, tag="actor_call", frozen=True):
    """A nested ``handle.method.remote()`` (it runs in order with the caller's other calls)."""

    spec: ActorCallSpec


class HandleHeld(_Msg, tag="handle", frozen=True):
    """This process now holds (or no longer holds) a handle of the actor: the driver stops an
    actor once no process holds a handle and no unfinished task carries one. ``escaped``: a
    handle left this process inside a value (a result, ``rt.put``): keep the actor until the
    program ends."""

    actor_id: str
    held: bool
    escaped: bool = False


class HandlePins(_Msg, tag="handle_pins", frozen=True):
    """Task ``task_id`` (submitted just before) carries handles of these actors in its
    arguments: keep them alive until it ends."""

    task_id: str
    actor_ids: list[str]


class LookupActor(_Msg, tag="actor_lookup", frozen=True):
    """A nested ``rt.get_actor(name, namespace)``: answered by an :class:`ActorLookup`."""

    request_id: int
    name: str
    namespace: str = ""


class KillActor(_Msg, tag="actor_kill", frozen=True):
    """A nested ``rt.kill(handle, no_restart=...)``."""

    actor_id: str
    no_restart: bool = True


class ActorExiting(_Msg, tag="actor_exit", frozen=True):
    """The actor this executor hosts ends on its own (``rt.exit_actor()``, the graceful stop
    method): calls not answered before this fail; the process exits next."""

    actor_id: str
    reason: str


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
    | Yielded
    | NextItem
    | StateRequest
    | SubmitActor
    | SubmitCall
    | HandleHeld
    | HandlePins
    | LookupActor
    | KillActor
    | ActorExiting
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
    num_returns: int = 1  # as TaskExtra.num_returns
    # what the task asked for, when it is not the executor's shape (it borrows the executor
    # of a task blocked in get): what get_runtime_context().get_assigned_resources() reports
    resources: Resources | None = None


class ObjectValues(_Msg, tag="values", frozen=True):
    request_id: int
    objects: list[ObjectBlob]


class CancelTask(_Msg, tag="cancel", frozen=True):
    task_id: str


class StopWorker(_Msg, tag="stop_worker", frozen=True):
    pass


class StateReply(_Msg, tag="state", frozen=True):
    """The answer to :class:`StateRequest`: the cluster's state as JSON."""

    request_id: int
    state: bytes


class StartActor(_Msg, tag="actor_start", frozen=True):
    """Make this executor the host of an actor: run the constructor (``task_id`` is the
    creation's id, answered by ``TaskDone``/``TaskFailed``), then the calls that follow.
    ``restarts``: how many times the actor was re-created before this one."""

    task_id: str
    actor_id: str
    class_name: str
    cls_id: str
    cls: bytes | None
    args: bytes
    deps: list[ObjectBlob]
    max_concurrency: int
    is_async: bool
    restarts: int = 0
    name: str = ""
    namespace: str = ""


class CallMethod(_Msg, tag="actor_run", frozen=True):
    """Run a method of the hosted actor; answered by ``TaskDone``/``TaskFailed``."""

    task_id: str
    method: str
    args: bytes
    deps: list[ObjectBlob]
    num_returns: int = 1


class ActorLookup(_Msg, tag="actor_found", frozen=True):
    """The answer to :class:`LookupActor` or a named :class:`SubmitActor`: the pickled handle
    state of the actor (empty if none, or the new actor was created), or an error message."""

    request_id: int
    meta: bytes = b""
    error: str = ""


WorkerEvent = (
    RunTask
    | ObjectValues
    | CancelTask
    | StopWorker
    | StateReply
    | StartActor
    | CallMethod
    | ActorLookup
)
