"""The agent's sans-IO core: launches, process events, and status updates kept until acked."""

from __future__ import annotations

import pytest

from pymesos_rt.agent.state import (
    AgentConfig,
    AgentState,
    StartProcess,
    StopProcess,
    ToMaster,
)
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

R = Resources
TOTAL = R(cpus=4, mem=4096)
CMD = m.CommandInfo(["python", "-m", "pymesos_rt.executor"], {"X": "1"})
E1 = m.ExecutorLaunch("e1", R(cpus=2, mem=1024), CMD)
E2 = m.ExecutorLaunch("e2", R(cpus=1, mem=2048), CMD)


def status(uid, eid, state, message="", exit_code=None, fw="fw1", agent="ag1") -> ToMaster:
    return ToMaster(m.AgentStatus(m.StatusUpdate(uid, agent, fw, eid, state, message, exit_code)))


@pytest.fixture
def agent() -> AgentState:
    """Registered as ag1, running nothing."""
    a = AgentState(
        "host-a", TOTAL, "none", AgentConfig(resend_interval=5.0, heartbeat_interval=1e9)
    )
    a.connected(0.0)
    a.on_master_event(m.AgentRegistered("ag1", "M"), 0.0)
    return a


@pytest.fixture
def running(agent) -> AgentState:
    """e1 of fw1 runs; its RUNNING update (ag1-u1) is acknowledged."""
    agent.on_master_event(m.LaunchExecutor("fw1", E1), 1.0)
    agent.process_started("fw1", "e1", 1.0)
    agent.on_master_event(m.StatusAcked("ag1-u1"), 1.0)
    return agent


def test_first_registration():
    a = AgentState("host-a", TOTAL, "cgroups-v2")
    assert a.connected(0.0) == [ToMaster(m.RegisterAgent("host-a", TOTAL, None, [], "cgroups-v2"))]
    assert a.registered is False
    assert a.on_master_event(m.AgentRegistered("ag1", "M"), 0.0) == []
    assert (a.agent_id, a.registered) == ("ag1", True)


def test_launch_starts_a_process_and_duplicates_are_ignored(agent):
    assert agent.on_master_event(m.LaunchExecutor("fw1", E1), 1.0) == [
        StartProcess("fw1", "e1", R(cpus=2, mem=1024), CMD)
    ]
    assert agent.on_master_event(m.LaunchExecutor("fw1", E1), 1.5) == []
    assert [r.executor_id for r in agent.running()] == ["e1"]
    # the same executor id of another framework is another executor
    assert agent.on_master_event(m.LaunchExecutor("fw2", E1), 2.0) == [
        StartProcess("fw2", "e1", R(cpus=2, mem=1024), CMD)
    ]


def test_process_started_reports_running(agent):
    agent.on_master_event(m.LaunchExecutor("fw1", E1), 1.0)
    assert agent.process_started("fw1", "e1", 1.0) == [
        status("ag1-u1", "e1", ExecutorState.RUNNING)
    ]
    assert agent.process_started("fw1", "e1", 1.1) == []  # same state: no update
    assert agent.process_started("fw1", "nope", 1.1) == []


def test_failed_to_start(agent):
    agent.on_master_event(m.LaunchExecutor("fw1", E1), 1.0)
    assert agent.process_failed_to_start("fw1", "e1", "no such file: python", 1.0) == [
        status("ag1-u1", "e1", ExecutorState.FAILED, "no such file: python")
    ]
    assert agent.running() == []
    assert agent.executors == {}


# --- exit classification ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_first", "exit_code", "oom", "state", "message"),
    [
        (True, -15, None, ExecutorState.KILLED, "stopped on request"),
        (True, 0, "memory limit 1024 MiB", ExecutorState.KILLED, "stopped on request"),
        (False, -9, "memory limit 1024 MiB", ExecutorState.OOM, "memory limit 1024 MiB"),
        (False, 0, None, ExecutorState.FINISHED, "exited"),
        (False, 3, None, ExecutorState.FAILED, "exited with status 3"),
        (False, -11, None, ExecutorState.FAILED, "killed by signal 11"),
    ],
    ids=["killed", "killed-beats-oom", "oom", "finished", "failed", "signal"],
)
def test_exit_classification(running, stop_first, exit_code, oom, state, message):
    if stop_first:
        assert running.on_master_event(m.StopExecutor("fw1", "e1"), 2.0) == [
            StopProcess("fw1", "e1")
        ]
    assert running.process_exited("fw1", "e1", exit_code, oom, 3.0) == [
        status("ag1-u2", "e1", state, message, exit_code)
    ]
    assert running.running() == []
    # a second exit report is nothing new
    assert running.process_exited("fw1", "e1", exit_code, oom, 3.0) == []


def test_exit_of_a_staging_executor(agent):
    agent.on_master_event(m.LaunchExecutor("fw1", E1), 1.0)
    assert agent.process_exited("fw1", "e1", 1, None, 1.0) == [
        status("ag1-u1", "e1", ExecutorState.FAILED, "exited with status 1", 1)
    ]


def test_stop_is_sent_once_and_ignored_for_unknown_executors(running):
    assert running.on_master_event(m.StopExecutor("fw1", "e1"), 2.0) == [StopProcess("fw1", "e1")]
    assert running.on_master_event(m.StopExecutor("fw1", "e1"), 2.5) == []
    assert running.on_master_event(m.StopExecutor("fw1", "nope"), 2.5) == []


def test_shutdown_framework_stops_only_its_executors(running):
    running.on_master_event(m.LaunchExecutor("fw1", E2), 2.0)
    running.on_master_event(m.LaunchExecutor("fw2", E1), 2.0)
    assert running.on_master_event(m.ShutdownFramework("fw1"), 3.0) == [
        StopProcess("fw1", "e1"),
        StopProcess("fw1", "e2"),
    ]
    assert running.on_master_event(m.ShutdownFramework("fw1"), 3.5) == []


# --- at-least-once delivery -------------------------------------------------------------------


def test_update_is_resent_every_interval_until_acked(agent):
    agent.on_master_event(m.LaunchExecutor("fw1", E1), 1.0)
    first = agent.process_started("fw1", "e1", 1.0)
    assert first == [status("ag1-u1", "e1", ExecutorState.RUNNING)]
    assert agent.tick(5.9) == []
    assert agent.tick(6.0) == first
    assert agent.tick(10.9) == []
    assert agent.tick(11.0) == first
    assert agent.on_master_event(m.StatusAcked("ag1-u1"), 12.0) == []
    assert agent.tick(100.0) == []
    # an ack for an unknown update is harmless
    assert agent.on_master_event(m.StatusAcked("ag1-u1"), 100.0) == []


def test_updates_are_resent_in_order_and_acked_independently(running):
    running.on_master_event(m.LaunchExecutor("fw1", E2), 2.0)
    running.process_started("fw1", "e2", 2.0)  # ag1-u2
    running.process_exited("fw1", "e1", 0, None, 3.0)  # ag1-u3
    running.on_master_event(m.StatusAcked("ag1-u2"), 3.0)
    assert running.tick(8.0) == [status("ag1-u3", "e1", ExecutorState.FINISHED, "exited", 0)]


def test_reregistration_reports_running_executors_and_resends_unacked_updates(running):
    running.on_master_event(m.LaunchExecutor("fw1", E2), 2.0)
    running.process_started("fw1", "e2", 2.0)  # ag1-u2, not acked
    # the master connection drops; a new master comes
    assert running.connected(3.0) == [
        ToMaster(
            m.RegisterAgent(
                "host-a",
                TOTAL,
                "ag1",
                [
                    m.ExecutorRecord("fw1", "e1", R(cpus=2, mem=1024)),
                    m.ExecutorRecord("fw1", "e2", R(cpus=1, mem=2048)),
                ],
                "none",
            )
        )
    ]
    assert running.registered is False
    # nothing is sent while unregistered, and updates made meanwhile are kept
    assert running.tick(100.0) == []
    assert running.process_exited("fw1", "e1", 0, None, 4.0) == []
    assert running.on_master_event(m.AgentRegistered("ag1", "M2"), 5.0) == [
        status("ag1-u2", "e2", ExecutorState.RUNNING),
        status("ag1-u3", "e1", ExecutorState.FINISHED, "exited", 0),
    ]
    # the resend clock restarts at registration
    assert running.tick(9.9) == []
    assert len(running.tick(10.0)) == 2


def test_reregistration_leaves_out_ended_executors(running):
    running.process_exited("fw1", "e1", 0, None, 2.0)
    (register,) = running.connected(3.0)
    assert register.message.executors == []


def test_usage_reports_every_interval_count_as_heartbeats():
    a = AgentState("host-a", TOTAL, "none", AgentConfig(heartbeat_interval=5.0, usage_interval=5.0))
    a.connected(0.0)
    assert not a.usage_due(6.0)  # not registered yet
    a.on_master_event(m.AgentRegistered("ag1", "M"), 6.0)
    assert a.usage_due(6.0)
    assert not a.usage_due(10.9)
    assert a.tick(10.9) == []  # the usage report was this interval's heartbeat
    assert a.usage_due(11.0)
    assert a.tick(15.5) == []
    assert a.tick(16.0) == [ToMaster(m.Heartbeat())]  # nothing reported since 11.0


def test_heartbeats_every_interval_once_registered():
    a = AgentState("host-a", TOTAL, "none", AgentConfig(heartbeat_interval=5.0))
    a.connected(0.0)
    assert a.tick(0.0) == []  # not registered yet: nothing to say
    a.on_master_event(m.AgentRegistered("ag1", "M"), 0.0)
    assert a.tick(4.0) == []
    assert a.tick(5.5) == [ToMaster(m.Heartbeat())]
    assert a.tick(9.0) == []
    assert a.tick(10.6) == [ToMaster(m.Heartbeat())]


def test_free_is_what_running_executors_leave():
    a = AgentState("host-a", TOTAL, "none")
    a.connected(0.0)
    a.on_master_event(m.AgentRegistered("ag1", "M"), 0.0)
    assert a.free() == TOTAL
    launch = m.ExecutorLaunch("e1", Resources(cpus=1, mem=512), m.CommandInfo(["x"]))
    a.on_master_event(m.LaunchExecutor("fw1", launch), 0.0)
    a.process_started("fw1", "e1", 0.0)
    assert a.free() == TOTAL - Resources(cpus=1, mem=512)
    a.process_exited("fw1", "e1", 0, None, 1.0)
    assert a.free() == TOTAL
