"""The Mesos v1 Scheduler and Executor HTTP APIs' calls and events: one closed union per
direction of each channel, tagged by ``type`` as in ``scheduler.proto`` and ``executor.proto``.

A call whose ``type`` is not in its union (or whose body does not match) fails to decode with
:class:`MesosDecodeError`, which the HTTP shells answer with ``400`` and its message.
Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from pymesos_rt.protocol.mesos import (
    AgentInfo,
    ExecutorInfo,
    Filters,
    FrameworkInfo,
    Id,
    KillPolicy,
    MasterInfo,
    Offer,
    TaskInfo,
    TaskStatus,
)

T = TypeVar("T")


class MesosDecodeError(ValueError):
    """A request body that is not a call of its channel."""


class _B(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    pass


class _Call(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, tag_field="type"):
    framework_id: Id | None = None


# ---- scheduler calls -----------------------------------------------------------------------


class SubscribeBody(_B, frozen=True):
    framework_info: FrameworkInfo


class Subscribe(_Call, tag="SUBSCRIBE", frozen=True, kw_only=True):
    subscribe: SubscribeBody


class Teardown(_Call, tag="TEARDOWN", frozen=True, kw_only=True):
    pass


class Launch(_B, frozen=True):
    task_infos: list[TaskInfo] = []


class Operation(_B, frozen=True):
    type: str
    launch: Launch | None = None


class AcceptBody(_B, frozen=True):
    offer_ids: list[Id] = []
    operations: list[Operation] = []
    filters: Filters | None = None


class Accept(_Call, tag="ACCEPT", frozen=True, kw_only=True):
    accept: AcceptBody


class DeclineBody(_B, frozen=True):
    offer_ids: list[Id] = []
    filters: Filters | None = None


class Decline(_Call, tag="DECLINE", frozen=True, kw_only=True):
    decline: DeclineBody


class Revive(_Call, tag="REVIVE", frozen=True, kw_only=True):
    pass


class Suppress(_Call, tag="SUPPRESS", frozen=True, kw_only=True):
    pass


class KillBody(_B, frozen=True):
    task_id: Id
    agent_id: Id | None = None
    kill_policy: KillPolicy | None = None


class Kill(_Call, tag="KILL", frozen=True, kw_only=True):
    kill: KillBody


class ShutdownBody(_B, frozen=True):
    executor_id: Id
    agent_id: Id


class Shutdown(_Call, tag="SHUTDOWN", frozen=True, kw_only=True):
    shutdown: ShutdownBody


class AcknowledgeBody(_B, frozen=True):
    agent_id: Id
    task_id: Id
    uuid: bytes


class Acknowledge(_Call, tag="ACKNOWLEDGE", frozen=True, kw_only=True):
    acknowledge: AcknowledgeBody


class ReconcileTask(_B, frozen=True):
    task_id: Id
    agent_id: Id | None = None


class ReconcileBody(_B, frozen=True):
    tasks: list[ReconcileTask] = []


class Reconcile(_Call, tag="RECONCILE", frozen=True, kw_only=True):
    reconcile: ReconcileBody = ReconcileBody()


class MessageBody(_B, frozen=True):
    agent_id: Id
    executor_id: Id
    data: bytes = b""


class Message(_Call, tag="MESSAGE", frozen=True, kw_only=True):
    message: MessageBody


class Request(_Call, tag="REQUEST", frozen=True, kw_only=True):
    """Resource requests: accepted and ignored, as by Mesos's allocators."""


SchedulerCall = (
    Subscribe
    | Teardown
    | Accept
    | Decline
    | Revive
    | Suppress
    | Kill
    | Shutdown
    | Acknowledge
    | Reconcile
    | Message
    | Request
)


# ---- scheduler events ----------------------------------------------------------------------


class _Event(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, tag_field="type"):
    pass


class SubscribedBody(_B, frozen=True):
    framework_id: Id
    heartbeat_interval_seconds: float
    master_info: MasterInfo | None = None


class Subscribed(_Event, tag="SUBSCRIBED", frozen=True, kw_only=True):
    subscribed: SubscribedBody


class OffersBody(_B, frozen=True):
    offers: list[Offer] = []


class Offers(_Event, tag="OFFERS", frozen=True, kw_only=True):
    offers: OffersBody


class RescindBody(_B, frozen=True):
    offer_id: Id


class Rescind(_Event, tag="RESCIND", frozen=True, kw_only=True):
    rescind: RescindBody


class UpdateBody(_B, frozen=True):
    status: TaskStatus


class Update(_Event, tag="UPDATE", frozen=True, kw_only=True):
    update: UpdateBody


class FrameworkMessage(_Event, tag="MESSAGE", frozen=True, kw_only=True):
    message: MessageBody


class FailureBody(_B, frozen=True):
    agent_id: Id | None = None
    executor_id: Id | None = None
    status: int | None = None


class Failure(_Event, tag="FAILURE", frozen=True, kw_only=True):
    failure: FailureBody


class ErrorBody(_B, frozen=True):
    message: str


class Error(_Event, tag="ERROR", frozen=True, kw_only=True):
    error: ErrorBody


class Heartbeat(_Event, tag="HEARTBEAT", frozen=True, kw_only=True):
    pass


SchedulerEvent = (
    Subscribed | Offers | Rescind | Update | FrameworkMessage | Failure | Error | Heartbeat
)
SCHEDULER_EVENTS = (
    Subscribed,
    Offers,
    Rescind,
    Update,
    FrameworkMessage,
    Failure,
    Error,
    Heartbeat,
)


# ---- executor calls and events -------------------------------------------------------------


class _ExecutorCall(
    msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True, tag_field="type"
):
    framework_id: Id
    executor_id: Id


class ExecutorSubscribeBody(_B, frozen=True):
    unacknowledged_tasks: list[TaskInfo] = []
    unacknowledged_updates: list[msgspec.Raw] = []


class ExecutorSubscribe(_ExecutorCall, tag="SUBSCRIBE", frozen=True, kw_only=True):
    subscribe: ExecutorSubscribeBody = ExecutorSubscribeBody()


class ExecutorUpdateBody(_B, frozen=True):
    status: TaskStatus


class ExecutorUpdate(_ExecutorCall, tag="UPDATE", frozen=True, kw_only=True):
    update: ExecutorUpdateBody


class ExecutorMessageBody(_B, frozen=True):
    data: bytes = b""


class ExecutorMessage(_ExecutorCall, tag="MESSAGE", frozen=True, kw_only=True):
    message: ExecutorMessageBody


ExecutorCall = ExecutorSubscribe | ExecutorUpdate | ExecutorMessage


class ExecutorSubscribedBody(_B, frozen=True):
    executor_info: ExecutorInfo
    framework_info: FrameworkInfo
    agent_info: AgentInfo
    container_id: Id | None = None


class ExecutorSubscribed(_Event, tag="SUBSCRIBED", frozen=True, kw_only=True):
    subscribed: ExecutorSubscribedBody


class LaunchBody(_B, frozen=True):
    task: TaskInfo


class LaunchTask(_Event, tag="LAUNCH", frozen=True, kw_only=True):
    launch: LaunchBody


class KillTaskBody(_B, frozen=True):
    task_id: Id
    kill_policy: KillPolicy | None = None


class KillTask(_Event, tag="KILL", frozen=True, kw_only=True):
    kill: KillTaskBody


class AcknowledgedBody(_B, frozen=True):
    task_id: Id
    uuid: bytes


class Acknowledged(_Event, tag="ACKNOWLEDGED", frozen=True, kw_only=True):
    acknowledged: AcknowledgedBody


class ToExecutorMessage(_Event, tag="MESSAGE", frozen=True, kw_only=True):
    message: ExecutorMessageBody


class ShutdownExecutor(_Event, tag="SHUTDOWN", frozen=True, kw_only=True):
    pass


ExecutorEvent = (
    ExecutorSubscribed
    | LaunchTask
    | KillTask
    | Acknowledged
    | ToExecutorMessage
    | ShutdownExecutor
    | Error
    | Heartbeat
)


# ---- decoding ------------------------------------------------------------------------------

_SCHEDULER = msgspec.json.Decoder(SchedulerCall)
_EXECUTOR = msgspec.json.Decoder(ExecutorCall)


def _decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "`$.type`" in text:
            raise MesosDecodeError(f"unsupported call: {text}") from None
        raise MesosDecodeError(f"invalid call: {text}") from None
    except msgspec.DecodeError as exc:
        raise MesosDecodeError(f"body is not JSON: {exc}") from None


def decode_scheduler_call(body: bytes) -> SchedulerCall:
    return _decode(_SCHEDULER, body)


def decode_executor_call(body: bytes) -> ExecutorCall:
    return _decode(_EXECUTOR, body)
