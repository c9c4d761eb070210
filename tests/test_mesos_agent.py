"""The agent's Mesos core, without processes or sockets: launches become processes or queued
LAUNCH events, executor calls become status updates kept until acknowledged."""

from __future__ import annotations

import pytest

from pymesos_rt.agent import mesos_core as mcore
from pymesos_rt.agent.state import AgentState, StartProcess, StopProcess, ToMaster
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

FW = "fw-1"
NOW = 10.0
LEASE = "mx.ag-1.ex"


def task(task_id, data=b""):
    return ms.TaskInfo(name=task_id, task_id=ms.Id(value=task_id), data=data)


class World:
    def __init__(self):
        self.agent = AgentState("host-a", Resources(cpus=4, mem=4096), "none")
        self.agent.on_master_event(m.AgentRegistered("ag-1", "master"), NOW)
        self.core = mcore.MesosAgent(self.agent)
        spec = m.MesosExecutor(
            executor=ms.ExecutorInfo(executor_id=ms.Id(value="ex")),
            framework=ms.FrameworkInfo(name="f", id=ms.Id(value=FW)),
            container=Resources(cpus=2),
        )
        self.launch(LEASE, Resources(cpus=0.5), spec)

    def launch(self, lease, resources, spec):
        event = m.LaunchExecutor(FW, m.ExecutorLaunch(lease, resources, m.CommandInfo(["x"]), spec))
        self.core.on_launch(event)
        out = []
        for eff in self.agent.on_master_event(event, NOW):
            assert isinstance(eff, StartProcess)
            out += self.core.start(eff, NOW)
        self.core.validate()
        return out

    def task(self, task_id, data=b""):
        spec = m.MesosExecutorTask(LEASE, task(task_id, data))
        return self.launch(ms.task_lease(task_id), Resources(cpus=1), spec)

    def subscribe(self, stream="s1"):
        call = mc.ExecutorSubscribe(framework_id=ms.Id(value=FW), executor_id=ms.Id(value="ex"))
        out = self.core.subscribe(stream, call, "host-a")
        self.core.validate()
        return out

    def update(self, task_id, state, uuid=b"\x07" * 16, data=None):
        status = ms.TaskStatus(task_id=ms.Id(value=task_id), state=state, uuid=uuid, data=data)
        call = mc.ExecutorUpdate(
            framework_id=ms.Id(value=FW),
            executor_id=ms.Id(value="ex"),
            update=mc.ExecutorUpdateBody(status=status),
        )
        out = self.core.update(call, NOW)
        self.core.validate()
        return out


def test_a_command_task_is_spawned_as_its_own_process():
    w = World()
    spec = m.MesosCommandTask(task=task("c1"))
    (spawn,) = w.launch("mt.c1", Resources(cpus=1), spec)
    assert spawn == mcore.Spawn(
        FW, "mt.c1", Resources(cpus=1), m.CommandInfo(["x"]), executor=False
    )
    # a KILL becomes a stop of its process, through AgentState
    assert w.core.kill_task(m.KillTask(FW, "c1"), NOW) == [StopProcess(FW, "mt.c1")]


def test_an_executor_is_spawned_in_its_container_and_gets_its_tasks_once_subscribed():
    w = World()
    assert w.task("t1", b"data") == []  # queued: the executor has not subscribed
    out = w.subscribe()
    kinds = [type(e.event) for e in out if isinstance(e, mcore.ToStream)]
    assert kinds == [mc.ExecutorSubscribed, mc.LaunchTask]
    subscribed = out[0].event.subscribed
    assert subscribed.framework_info.id.value == FW
    assert subscribed.executor_info.executor_id.value == "ex"
    assert out[1].event.launch.task.data == b"data"
    # a task launched now goes straight out
    (launch,) = w.task("t2")
    assert isinstance(launch.event, mc.LaunchTask)


def test_executor_updates_are_kept_until_acknowledged_then_acknowledged_to_it():
    w = World()
    w.task("t1")
    w.subscribe()
    (sent,) = w.update("t1", ms.TaskState.TASK_RUNNING)
    assert isinstance(sent, ToMaster)
    update = sent.message.update
    assert update.executor_id == "mt.t1" and update.state == ExecutorState.RUNNING
    assert update.mesos.uuid == b"\x07" * 16 and update.mesos.executor_id.value == "ex"
    assert update.update_id in w.agent.pending
    # a repeated RUNNING is a new update (with new data)
    w.update("t1", ms.TaskState.TASK_RUNNING, uuid=b"\x08" * 16, data=b"progress")
    w.agent.on_master_event(m.StatusAcked(update.update_id), NOW)
    (ack,) = w.core.acked(update.update_id)
    assert ack.event == mc.Acknowledged(
        acknowledged=mc.AcknowledgedBody(task_id=ms.Id(value="t1"), uuid=b"\x07" * 16)
    )
    assert update.update_id not in w.agent.pending


@pytest.mark.parametrize(
    ("state", "uuid", "why"),
    [
        (ms.TaskState.TASK_STAGING, b"\x01" * 16, "TASK_STAGING"),
        (ms.TaskState.TASK_RUNNING, b"short", "16-byte uuid"),
    ],
)
def test_bad_updates_are_refused(state, uuid, why):
    w = World()
    w.task("t1")
    w.subscribe()
    with pytest.raises(ValueError, match=why):
        w.update("t1", state, uuid=uuid)


def test_nothing_follows_a_terminal_state():
    w = World()
    w.task("t1")
    w.subscribe()
    w.update("t1", ms.TaskState.TASK_FINISHED)
    with pytest.raises(ValueError, match="not a live task"):
        w.update("t1", ms.TaskState.TASK_RUNNING, uuid=b"\x02" * 16)
    with pytest.raises(ValueError, match="not run here"):
        call = mc.ExecutorSubscribe(framework_id=ms.Id(value=FW), executor_id=ms.Id(value="other"))
        w.core.subscribe("s9", call, "host-a")


def test_illegal_transition_is_refused_and_changes_nothing():
    w = World()
    w.task("t1")
    w.subscribe()
    w.update("t1", ms.TaskState.TASK_RUNNING)
    assert ms.TaskState.TASK_STARTING not in ms.TASK_TRANSITIONS[ms.TaskState.TASK_RUNNING]
    with pytest.raises(ValueError, match="cannot go from TASK_RUNNING to TASK_STARTING"):
        w.update("t1", ms.TaskState.TASK_STARTING, uuid=b"\x03" * 16)
    assert w.core.executors[(FW, LEASE)].tasks["t1"] == ms.TaskState.TASK_RUNNING


def test_kill_of_a_task_the_executor_has_not_seen_is_killed_by_the_agent():
    w = World()
    w.task("t1")
    (sent,) = w.core.kill_task(m.KillTask(FW, "t1"), NOW)
    assert sent.message.update.mesos.state == ms.TaskState.TASK_KILLED
    w.task("t2")
    w.subscribe()
    (kill,) = w.core.kill_task(m.KillTask(FW, "t2", grace=1.0), NOW)
    assert isinstance(kill.event, mc.KillTask)
    assert kill.event.kill.kill_policy.grace_period.nanoseconds == 1_000_000_000


@pytest.mark.parametrize(
    ("oom", "stopping", "state", "reason"),
    [
        (None, False, ms.TaskState.TASK_FAILED, "REASON_EXECUTOR_TERMINATED"),
        (
            "memory limit of 64 MiB reached",
            False,
            ms.TaskState.TASK_FAILED,
            "REASON_CONTAINER_LIMITATION_MEMORY",
        ),
        (None, True, ms.TaskState.TASK_KILLED, "REASON_EXECUTOR_TERMINATED"),
    ],
)
def test_an_executors_live_tasks_end_with_it(oom, stopping, state, reason):
    w = World()
    w.task("t1")
    w.subscribe()
    w.update("t1", ms.TaskState.TASK_RUNNING)
    if stopping:
        out = w.core.stop(StopProcess(FW, LEASE), NOW)
        assert isinstance(out[0].event, mc.ShutdownExecutor)
        assert out[1] == mcore.StopLater(FW, LEASE, mcore.SHUTDOWN_GRACE_S)
    out = w.core.exited(FW, LEASE, oom, NOW)
    w.core.validate()
    assert mcore.CloseStream("s1") in out
    (sent,) = [e for e in out if isinstance(e, ToMaster)]
    status = sent.message.update.mesos
    assert (status.task_id.value, status.state, status.reason) == ("t1", state, reason)
    assert not w.core.executors


def test_framework_messages_both_ways():
    w = World()
    queued = w.core.to_executor(m.ToExecutor(FW, "ex", b"hi"))
    assert queued == []  # waits for the subscription
    out = w.subscribe()
    assert any(isinstance(e.event, mc.ToExecutorMessage) for e in out)
    call = mc.ExecutorMessage(
        framework_id=ms.Id(value=FW),
        executor_id=ms.Id(value="ex"),
        message=mc.ExecutorMessageBody(data=b"back"),
    )
    assert w.core.message(call) == [ToMaster(m.FromExecutor("ag-1", FW, "ex", b"back"))]
