"""What a status update becomes in Mesos form (sans-IO helpers of the Mesos core): TaskStatus
with its source, reason and uuid, the updates reconciliation answers, and the ``/state`` task
count a Mesos task state counts in.

Imports ``protocol`` only.
"""

from __future__ import annotations

import uuid

import msgspec

from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.states import ExecutorState

_UUID_NAMESPACE = uuid.UUID("5d0b2a52-9c1e-4a53-8f1e-6d2f3b7c9a10")
BUCKETS = ("queued", "running", "finished", "failed")  # the task counts of ``/state``


def mesos_status(update: m.StatusUpdate, task_id: str) -> ms.TaskStatus:
    """The Mesos form of an update of task ``task_id`` (its executor's own, or one made from
    our executor states)."""
    agent = ms.Id(value=update.agent_id) if update.agent_id else None
    if update.mesos is not None:
        status = update.mesos
        return ms.TaskStatus(
            task_id=status.task_id,
            state=status.state,
            message=status.message,
            source=status.source or "SOURCE_EXECUTOR",
            reason=status.reason,
            data=status.data,
            agent_id=agent,
            executor_id=status.executor_id,
            timestamp=status.timestamp,
            uuid=status.uuid or uuid_of(update.update_id),
            healthy=status.healthy,
            labels=status.labels,
        )
    state, reason = ms.TASK_STATE_OF[update.state]
    source = "SOURCE_EXECUTOR"
    if update.state == ExecutorState.LOST:
        source = "SOURCE_MASTER"
    elif update.state == ExecutorState.OOM:
        source = "SOURCE_AGENT"
    elif update.state == ExecutorState.FAILED and update.exit_code is None:
        source, reason = "SOURCE_AGENT", "REASON_CONTAINER_LAUNCH_FAILED"
    if not update.update_id:  # made by reconciliation: nothing to acknowledge
        reason = "REASON_RECONCILIATION"
    message = update.message
    ended = update.state in (ExecutorState.FINISHED, ExecutorState.FAILED)
    if ended and update.exit_code is not None and update.exit_code >= 0:
        message = f"Command exited with status {update.exit_code}"
    return ms.TaskStatus(
        task_id=ms.Id(value=task_id),
        state=state,
        message=message or None,
        source=source,
        reason=reason,
        agent_id=agent,
        executor_id=ms.Id(value=task_id),  # a command task's executor has its id
        uuid=uuid_of(update.update_id) if update.update_id else None,
    )


def bucket(state: ms.TaskState) -> str:
    """The ``/state`` task count a Mesos task state counts in."""
    if state in (ms.TaskState.TASK_STAGING, ms.TaskState.TASK_STARTING):
        return "queued"
    if not state.terminal:
        return "running"
    return "finished" if state == ms.TaskState.TASK_FINISHED else "failed"


def uuid_of(update_id: str) -> bytes:
    """The uuid of an update the agent made (stable across resends of the same update)."""
    return uuid.uuid5(_UUID_NAMESPACE, update_id).bytes


def without_uuid(status: ms.TaskStatus) -> ms.TaskStatus:
    return msgspec.structs.replace(status, uuid=None, reason="REASON_RECONCILIATION")


def reconciled(
    task_id: str, state: ms.TaskState, agent_id: str, source: str, recon: bool
) -> mc.Update:
    status = ms.TaskStatus(
        task_id=ms.Id(value=task_id),
        state=state,
        source=source,
        reason="REASON_RECONCILIATION" if recon else None,
        agent_id=ms.Id(value=agent_id) if agent_id else None,
    )
    return mc.Update(update=mc.UpdateBody(status=status))
