"""The wire contract: one closed union of typed messages per direction of each channel.

Channels (see docs/architecture.md for the catalog):
- framework -> master: :data:`SchedulerCall`;  master -> framework: :data:`SchedulerEvent`
- agent -> master: :data:`AgentCall`;          master -> agent: :data:`AgentEvent`
- executor -> driver: :data:`WorkerCall`;      driver -> executor: :data:`WorkerEvent`

Every message is a frozen ``msgspec.Struct`` with a short tag; a frame on the wire is a list of
messages of one union (batching), so decoding validates types and rejects unknown tags.
The messages live in one module per seam: ``bodies`` (shared bodies and the base
:class:`Message`), ``framework_messages``, ``agent_messages``, ``worker_messages`` (the data
plane) and ``actor_messages``; this module holds the unions and re-exports every name, so
``from pymesos_rt.protocol import messages as m; m.Subscribe`` is the way to name them.
Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

from pymesos_rt.protocol.actor_messages import (
    ActorCallSpec,
    ActorExiting,
    ActorLookup,
    ActorSpec,
    CallMethod,
    HandleHeld,
    HandlePins,
    KillActor,
    LookupActor,
    StartActor,
    SubmitActor,
    SubmitCall,
)
from pymesos_rt.protocol.agent_messages import (
    AgentRegistered,
    AgentStatus,
    ExecutorUsage,
    FromExecutor,
    Heartbeat,
    KillTask,
    LaunchExecutor,
    RegisterAgent,
    ShutdownFramework,
    StatusAcked,
    StopExecutor,
    StoreUsage,
    ToExecutor,
    Unregister,
    UsageRecord,
)
from pymesos_rt.protocol.bodies import (
    AgentSummary,
    CommandInfo,
    ExecutorLaunch,
    ExecutorRecord,
    MesosCommandTask,
    MesosExecutor,
    MesosExecutorTask,
    MesosLaunch,
    Message,
    Offer,
    StatusUpdate,
)
from pymesos_rt.protocol.framework_messages import (
    GPU_RESOURCES,
    Accept,
    Acknowledge,
    ActorBrief,
    ActorSummary,
    ClusterChanged,
    ClusterDelta,
    Decline,
    Error,
    ExecutorRef,
    ExecutorUpdate,
    FunctionCounts,
    JobSummary,
    KillExecutor,
    Offers,
    OutputLine,
    Reclaim,
    Reconcile,
    Rescind,
    Revive,
    Subscribe,
    Subscribed,
    Suppress,
    TaskBox,
    TaskFailure,
    Teardown,
    UpdateFramework,
)
from pymesos_rt.protocol.worker_messages import (
    DYNAMIC,
    RUNTIME_ENV_VAR,
    STREAMING,
    Borrow,
    CancelRequest,
    CancelTask,
    DepsLost,
    GetObjects,
    Hello,
    NextItem,
    ObjectBlob,
    ObjectValues,
    Output,
    Preload,
    PutObject,
    RunTask,
    RuntimeEnvSpec,
    StateReply,
    StateRequest,
    StopWorker,
    Submit,
    TaskDone,
    TaskExtra,
    TaskFailed,
    TaskSpec,
    Unborrow,
    Yielded,
)

__all__ = [
    "DYNAMIC",
    "GPU_RESOURCES",
    "RUNTIME_ENV_VAR",
    "STREAMING",
    "Accept",
    "Acknowledge",
    "ActorBrief",
    "ActorCallSpec",
    "ActorExiting",
    "ActorLookup",
    "ActorSpec",
    "ActorSummary",
    "AgentCall",
    "AgentEvent",
    "AgentRegistered",
    "AgentStatus",
    "AgentSummary",
    "Borrow",
    "CallMethod",
    "CancelRequest",
    "CancelTask",
    "ClusterChanged",
    "ClusterDelta",
    "CommandInfo",
    "Decline",
    "DepsLost",
    "Error",
    "ExecutorLaunch",
    "ExecutorRecord",
    "ExecutorRef",
    "ExecutorUpdate",
    "ExecutorUsage",
    "FromExecutor",
    "FunctionCounts",
    "GetObjects",
    "HandleHeld",
    "HandlePins",
    "Heartbeat",
    "Hello",
    "JobSummary",
    "KillActor",
    "KillExecutor",
    "KillTask",
    "LaunchExecutor",
    "LookupActor",
    "MesosCommandTask",
    "MesosExecutor",
    "MesosExecutorTask",
    "MesosLaunch",
    "Message",
    "NextItem",
    "ObjectBlob",
    "ObjectValues",
    "Offer",
    "Offers",
    "Output",
    "OutputLine",
    "Preload",
    "PutObject",
    "Reclaim",
    "Reconcile",
    "RegisterAgent",
    "Rescind",
    "Revive",
    "RunTask",
    "RuntimeEnvSpec",
    "SchedulerCall",
    "SchedulerEvent",
    "ShutdownFramework",
    "StartActor",
    "StateReply",
    "StateRequest",
    "StatusAcked",
    "StatusUpdate",
    "StopExecutor",
    "StopWorker",
    "StoreUsage",
    "Submit",
    "SubmitActor",
    "SubmitCall",
    "Subscribe",
    "Subscribed",
    "Suppress",
    "TaskBox",
    "TaskDone",
    "TaskExtra",
    "TaskFailed",
    "TaskFailure",
    "TaskSpec",
    "Teardown",
    "ToExecutor",
    "Unborrow",
    "Unregister",
    "UpdateFramework",
    "UsageRecord",
    "WorkerCall",
    "WorkerEvent",
    "Yielded",
]


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

SchedulerEvent = (
    Subscribed | Offers | Rescind | ExecutorUpdate | ClusterChanged | Error | Reclaim | ClusterDelta
)

AgentCall = (
    RegisterAgent | AgentStatus | Heartbeat | ExecutorUsage | Unregister | FromExecutor | StoreUsage
)

AgentEvent = (
    AgentRegistered
    | LaunchExecutor
    | StopExecutor
    | StatusAcked
    | ShutdownFramework
    | KillTask
    | ToExecutor
)

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

WorkerEvent = (
    RunTask
    | ObjectValues
    | CancelTask
    | StopWorker
    | Preload
    | StateReply
    | StartActor
    | CallMethod
    | ActorLookup
)
