"""The Mesos v1 scheduler API's core, without sockets: Mesos calls in, MasterState and agent
effects and Mesos events out (validate() after every step)."""

from __future__ import annotations

import pytest

from pymesos_rt.master.mesos_auth import Refusal
from pymesos_rt.master.mesos_core import MesosMaster, Subscription
from pymesos_rt.master.records import Close, MasterConfig, Send
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

STREAM = "mesos#1"
AGENT = "agent-conn"


def res(cpus, mem=64.0):
    return ms.to_mesos_resources(Resources(cpus=cpus, mem=mem))


def command_task(task_id, cpus=1.0, command="echo hi"):
    return ms.TaskInfo(
        name=task_id,
        task_id=ms.Id(value=task_id),
        command=ms.CommandInfo(value=command),
        resources=res(cpus),
    )


def executor_task(task_id, executor_id="ex", cpus=1.0):
    return ms.TaskInfo(
        name=task_id,
        task_id=ms.Id(value=task_id),
        executor=ms.ExecutorInfo(
            executor_id=ms.Id(value=executor_id),
            command=ms.CommandInfo(value="run-executor"),
            resources=res(0.5, 32),
        ),
        resources=res(cpus),
        data=b"payload",
    )


class World:
    """A master with one agent (4 cpus) and one Mesos framework subscribed on STREAM."""

    def __init__(self, capabilities=(), role="", config=None):
        self.state = MasterState(config=config)
        self.core = MesosMaster(self.state, heartbeat_interval=2.0)
        self.now = 100.0
        reg = m.RegisterAgent("host-a", Resources(cpus=4, mem=4096))
        eff = self.state.on_agent_call(AGENT, reg, self.now)
        self.agent_id = next(
            e.message.agent_id for e in eff if isinstance(e.message, m.AgentRegistered)
        )
        info = ms.FrameworkInfo(
            name="fw",
            user="u",
            role=role,
            capabilities=[ms.Capability(type=c) for c in capabilities],
        )
        call = mc.Subscribe(subscribe=mc.SubscribeBody(framework_info=info))
        sub = self.core.subscribe(STREAM, call, self.now)
        assert isinstance(sub, Subscription), sub
        self.stream_id, self.effects = sub.stream_id, sub.effects
        self.fw = next(iter(self.core.frameworks.values()))
        self.check()

    def check(self):
        self.core.validate()

    def events(self, effects):
        """What the framework's stream would carry (translated as the shell does)."""
        out = []
        for eff in effects:
            if isinstance(eff, Send) and eff.conn == STREAM:
                if isinstance(eff.message, mc.SCHEDULER_EVENTS):
                    out.append(eff.message)
                else:
                    events, _ = self.core.translate(STREAM, eff.message, self.now)
                    out += events
        return out

    def to_agent(self, effects):
        return [e.message for e in effects if isinstance(e, Send) and e.conn == AGENT]

    def call(self, call):
        effects = self.core.call(self.fw, call, self.now)
        self.check()
        return effects

    def offer(self):
        events = self.events(self.state.allocate(self.now))
        assert len(events) == 1 and isinstance(events[0], mc.Offers)
        return events[0].offers.offers[0]

    def accept(self, offer, *tasks, refuse=5.0, offer_ids=None):
        ids = offer_ids or [offer.id]
        launch = mc.Operation(type="LAUNCH", launch=mc.Launch(task_infos=list(tasks)))
        body = mc.AcceptBody(
            offer_ids=ids, operations=[launch], filters=ms.Filters(refuse_seconds=refuse)
        )
        return self.call(mc.Accept(framework_id=ms.Id(value=self.fw.framework_id), accept=body))

    def agent_status(self, lease, state, update_id, mesos=None, exit_code=None):
        update = m.StatusUpdate(
            update_id, self.agent_id, self.fw.framework_id, lease, state, "", exit_code, mesos
        )
        effects = self.state.on_agent_call(AGENT, m.AgentStatus(update), self.now)
        out = []
        for eff in effects:
            if isinstance(eff, Send) and eff.conn == STREAM:
                events, more = self.core.translate(STREAM, eff.message, self.now)
                out += events
                effects += more
        self.check()
        return out, effects

    @property
    def fid(self):
        return ms.Id(value=self.fw.framework_id)


def test_subscribe_answers_subscribed_with_id_and_heartbeat():
    w = World()
    events = w.events(w.effects)
    assert isinstance(events[0], mc.Subscribed)
    body = events[0].subscribed
    assert body.framework_id.value == w.fw.framework_id
    assert body.heartbeat_interval_seconds == 2.0
    assert w.core.framework_of_stream(w.stream_id) is w.fw
    assert w.fw.framework_id in w.state.frameworks


def test_resubscribe_with_id_replaces_the_stream_and_keeps_the_framework():
    w = World()
    call = mc.Subscribe(
        framework_id=w.fid,
        subscribe=mc.SubscribeBody(framework_info=ms.FrameworkInfo(name="fw", id=w.fid)),
    )
    sub = w.core.subscribe("mesos#2", call, w.now)
    w.check()
    assert isinstance(sub, Subscription)
    assert Close(STREAM, "framework re-subscribed elsewhere") in sub.effects
    assert w.core.framework_of_stream(w.stream_id) is None
    assert w.core.framework_of_stream(sub.stream_id).conn == "mesos#2"
    other = ms.FrameworkInfo(name="fw", id=ms.Id(value="other"))
    refusal = w.core.subscribe(
        "mesos#3",
        mc.Subscribe(framework_id=w.fid, subscribe=mc.SubscribeBody(framework_info=other)),
        w.now,
    )
    assert isinstance(refusal, Refusal) and refusal.status == 400 and "differ" in refusal.reason


def test_offers_are_scalar_resources_in_mesos_form():
    w = World()
    offer = w.offer()
    assert offer.agent_id.value == w.agent_id and offer.hostname == "host-a"
    assert {r.name: (r.type, r.scalar.value) for r in offer.resources} == {
        "cpus": ("SCALAR", 4.0),
        "mem": ("SCALAR", 4096.0),
    }


def test_an_unanswered_offer_is_rescinded_after_the_offer_timeout():
    timeout = 5.0  # within the agent's timeout: the agent is still there
    w = World(config=MasterConfig(offer_timeout=timeout))
    offer = w.offer()
    assert w.events(w.state.tick(w.now + timeout - 1)) == []
    (rescind,) = w.events(w.state.tick(w.now + timeout))
    w.check()
    assert isinstance(rescind, mc.Rescind) and rescind.rescind.offer_id == offer.id
    # the rescinded offer is gone: accepting it now loses the task (REASON_INVALID_OFFERS)
    w.now += timeout
    effects = w.accept(offer, command_task("late"))
    assert w.to_agent(effects) == []
    (lost,) = w.events(effects)
    assert lost.update.status.state == "TASK_LOST"
    assert lost.update.status.reason == "REASON_INVALID_OFFERS"


def test_the_frameworks_role_is_its_offers_and_its_record():
    w = World(role="analytics")
    offer = w.offer()
    # unreserved resources ("*", Resource.role is the reservation's) allocated to the role
    assert {(r.role, r.allocation_info.role) for r in offer.resources} == {("*", "analytics")}
    assert w.state.frameworks[w.fw.framework_id].role == "analytics"


def test_accept_launches_a_command_task_and_declines_the_rest_with_the_filter():
    w = World()
    offer = w.offer()
    effects = w.accept(offer, command_task("t1", cpus=1, command="echo hi > f"), refuse=30)
    (launch,) = w.to_agent(effects)
    assert isinstance(launch, m.LaunchExecutor)
    assert launch.launch.executor_id == "mt.t1"
    assert launch.launch.command.argv == ["/bin/sh", "-c", "echo hi > f"]
    assert launch.launch.command.env["MESOS_TASK_ID"] == "t1"
    assert launch.launch.command.user == "u"  # FrameworkInfo.user (agent/mesos_user.py)
    assert isinstance(launch.launch.mesos, m.MesosCommandTask)
    # the 3 cpus left are filtered for 30 s: nothing offered now, offered after
    assert w.events(w.state.allocate(w.now + 1)) == []
    later = w.events(w.state.allocate(w.now + 31))
    assert later[0].offers.offers[0].resources[0].scalar.value == 3.0


def test_a_commands_own_user_wins_over_the_frameworks():
    w = World()
    task = command_task("t1")
    task = ms.TaskInfo(
        name="t1",
        task_id=task.task_id,
        command=ms.CommandInfo(value="id -un", user="nobody"),
        resources=task.resources,
    )
    (launch,) = w.to_agent(w.accept(w.offer(), task))
    assert launch.launch.command.user == "nobody"


def test_suppress_stops_offers_and_revive_brings_them_back():
    w = World()
    w.call(mc.Suppress(framework_id=w.fid))
    assert w.events(w.state.allocate(w.now)) == []
    w.call(mc.Revive(framework_id=w.fid))
    assert isinstance(w.events(w.state.allocate(w.now))[0], mc.Offers)


def test_decline_filters_for_five_seconds_by_default():
    w = World()
    offer = w.offer()
    w.call(mc.Decline(framework_id=w.fid, decline=mc.DeclineBody(offer_ids=[offer.id])))
    assert w.events(w.state.allocate(w.now + 4.9)) == []
    assert w.events(w.state.allocate(w.now + 5.1))


def test_invalid_offers_lose_every_task_and_give_back_the_valid_ones():
    w = World()
    offer = w.offer()
    effects = w.accept(offer, command_task("t1"), offer_ids=[offer.id, ms.Id(value="bogus")])
    (event,) = w.events(effects)
    status = event.update.status
    assert (status.state, status.reason) == (ms.TaskState.TASK_LOST, "REASON_INVALID_OFFERS")
    assert status.uuid is None  # made by the master: nothing to acknowledge
    assert not w.to_agent(effects)
    assert w.events(w.state.allocate(w.now)), "the valid offer was given back unfiltered"
    # partition-aware frameworks get TASK_DROPPED
    w2 = World(capabilities=["PARTITION_AWARE"])
    effects = w2.accept(w2.offer(), command_task("t1"), offer_ids=[ms.Id(value="gone")])
    assert w2.events(effects)[0].update.status.state == ms.TaskState.TASK_DROPPED


@pytest.mark.parametrize(
    ("task", "why"),
    [
        (command_task("a/b"), "bad task id"),
        (command_task("big", cpus=5), "more than is left"),
        (
            ms.TaskInfo(name="x", task_id=ms.Id(value="x"), resources=res(1)),
            "exactly one of command and executor",
        ),
        (
            ms.TaskInfo(
                name="p",
                task_id=ms.Id(value="p"),
                command=ms.CommandInfo(value="true"),
                resources=[ms.Resource(name="ports", type="RANGES", ranges=ms.Ranges())],
            ),
            "only SCALAR",
        ),
        (
            ms.TaskInfo(
                name="u",
                task_id=ms.Id(value="u"),
                command=ms.CommandInfo(value="true", uris=[ms.URI(value="http://x/y")]),
                resources=res(1),
            ),
            "URIs",
        ),
        (
            ms.TaskInfo(name="n", task_id=ms.Id(value="n"), command=ms.CommandInfo(value="t")),
            "no resources",
        ),
    ],
)
def test_invalid_tasks_are_task_error_and_valid_ones_still_launch(task, why):
    w = World()
    effects = w.accept(w.offer(), task, command_task("ok"))
    (event,) = w.events(effects)
    status = event.update.status
    assert status.state == ms.TaskState.TASK_ERROR and status.reason == "REASON_TASK_INVALID"
    assert why in status.message
    assert [msg.launch.executor_id for msg in w.to_agent(effects)] == ["mt.ok"]


def test_duplicate_task_id_is_an_error():
    w = World()
    effects = w.accept(w.offer(), command_task("dup"), command_task("dup"))
    assert [e.update.status.state for e in w.events(effects)] == [ms.TaskState.TASK_ERROR]
    assert len(w.to_agent(effects)) == 1


def test_custom_executor_starts_first_with_a_container_for_its_tasks():
    w = World()
    effects = w.accept(w.offer(), executor_task("e1", cpus=1), executor_task("e2", cpus=1))
    launches = [msg.launch for msg in w.to_agent(effects)]
    lease = ms.executor_lease(w.agent_id, "ex")
    assert [la.executor_id for la in launches] == [lease, "mt.e1", "mt.e2"]
    assert launches[0].resources == Resources(cpus=0.5, mem=32)
    assert launches[0].mesos.container == Resources(cpus=2.5, mem=160)
    assert launches[0].command.env["MESOS_EXECUTOR_ID"] == "ex"
    assert launches[1].mesos.executor_lease == lease
    # a later task for the same executor does not start it again
    w.agent_status(lease, ExecutorState.RUNNING, "u-ex")
    offer = w.events(w.state.allocate(w.now + 10))[0].offers.offers[0]
    effects = w.accept(offer, executor_task("e3", cpus=1))
    assert [msg.launch.executor_id for msg in w.to_agent(effects)] == ["mt.e3"]


def test_updates_carry_a_stable_uuid_and_the_ack_reaches_the_agent():
    w = World()
    w.accept(w.offer(), command_task("t1"))
    events, _ = w.agent_status("mt.t1", ExecutorState.RUNNING, "agent-u1")
    status = events[0].update.status
    assert status.state == ms.TaskState.TASK_RUNNING and len(status.uuid) == 16
    again, _ = w.agent_status("mt.t1", ExecutorState.RUNNING, "agent-u1")  # a resend
    assert again[0].update.status.uuid == status.uuid
    ack = mc.Acknowledge(
        framework_id=w.fid,
        acknowledge=mc.AcknowledgeBody(
            agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid
        ),
    )
    assert w.to_agent(w.call(ack)) == [m.StatusAcked("agent-u1")]
    assert w.to_agent(w.call(ack)) == []  # a second ACK is a no-op
    events, _ = w.agent_status("mt.t1", ExecutorState.OOM, "agent-u2")
    status = events[0].update.status
    assert status.state == ms.TaskState.TASK_FAILED
    assert status.reason == "REASON_CONTAINER_LIMITATION_MEMORY"


def test_an_executors_status_carries_its_own_uuid_and_data():
    w = World()
    w.accept(w.offer(), executor_task("e1"))
    mesos = ms.TaskStatus(
        task_id=ms.Id(value="e1"),
        state=ms.TaskState.TASK_FINISHED,
        uuid=b"\x01" * 16,
        data=b"result",
        executor_id=ms.Id(value="ex"),
    )
    events, _ = w.agent_status("mt.e1", ExecutorState.FINISHED, "ag-x0101", mesos)
    status = events[0].update.status
    assert (status.uuid, status.data, status.state) == (
        b"\x01" * 16,
        b"result",
        ms.TaskState.TASK_FINISHED,
    )
    assert "mt.e1" not in {k[1] for k in w.state.executors}


def test_an_executor_ending_is_a_failure_event_acknowledged_by_the_master():
    w = World()
    w.accept(w.offer(), executor_task("e1"))
    lease = ms.executor_lease(w.agent_id, "ex")
    events, effects = w.agent_status(lease, ExecutorState.FAILED, "u-ex-end", exit_code=3)
    assert events == [
        mc.Failure(
            failure=mc.FailureBody(
                agent_id=ms.Id(value=w.agent_id), executor_id=ms.Id(value="ex"), status=3
            )
        )
    ]
    assert m.StatusAcked("u-ex-end") in w.to_agent(effects)


def test_kill_goes_to_the_tasks_agent_and_an_unknown_task_is_lost():
    w = World()
    w.accept(w.offer(), command_task("t1"))
    kill = mc.Kill(framework_id=w.fid, kill=mc.KillBody(task_id=ms.Id(value="t1")))
    assert w.to_agent(w.call(kill)) == [m.KillTask(w.fw.framework_id, "t1", 3.0)]
    unknown = mc.Kill(framework_id=w.fid, kill=mc.KillBody(task_id=ms.Id(value="nope")))
    (event,) = w.events(w.call(unknown))
    assert event.update.status.state == ms.TaskState.TASK_LOST


def test_task_counts_follow_the_tasks_and_ignore_resends():
    w = World()
    w.accept(w.offer(), command_task("t1"), command_task("t2"))
    tasks = w.state.frameworks[w.fw.framework_id].tasks
    assert tasks == {"queued": 2, "running": 0, "finished": 0, "failed": 0}
    w.agent_status("mt.t1", ExecutorState.RUNNING, "u1")
    w.agent_status("mt.t1", ExecutorState.FINISHED, "u2")
    w.agent_status("mt.t1", ExecutorState.FINISHED, "u2")  # resent
    w.agent_status("mt.t2", ExecutorState.OOM, "u3")
    tasks = w.state.frameworks[w.fw.framework_id].tasks
    assert tasks == {"queued": 0, "running": 0, "finished": 1, "failed": 1}


def test_reconcile_explicit_and_implicit():
    w = World()
    w.accept(w.offer(), command_task("t1"), command_task("t2"))
    w.agent_status("mt.t1", ExecutorState.RUNNING, "u1")
    w.agent_status("mt.t2", ExecutorState.FINISHED, "u2")
    w.now += 60  # agents had their time to re-register
    implicit = mc.Reconcile(framework_id=w.fid)
    states = {
        e.update.status.task_id.value: e.update.status.state for e in w.events(w.call(implicit))
    }
    assert states == {"t1": ms.TaskState.TASK_RUNNING}
    tasks = [mc.ReconcileTask(task_id=ms.Id(value=t)) for t in ("t1", "t2", "t3")]
    explicit = mc.Reconcile(framework_id=w.fid, reconcile=mc.ReconcileBody(tasks=tasks))
    events = w.events(w.call(explicit))
    assert [(e.update.status.task_id.value, e.update.status.state) for e in events] == [
        ("t1", ms.TaskState.TASK_RUNNING),
        ("t2", ms.TaskState.TASK_FINISHED),
        ("t3", ms.TaskState.TASK_LOST),
    ]
    assert all(
        e.update.status.reason == "REASON_RECONCILIATION" and e.update.status.uuid is None
        for e in events
    )


def test_heartbeats_on_the_interval():
    w = World()
    w.events(w.effects)  # SUBSCRIBED at w.now
    assert w.core.tick(w.now + 1) == []
    assert w.core.tick(w.now + 2) == [Send(STREAM, mc.Heartbeat())]
    assert w.core.tick(w.now + 3) == []


def test_teardown_removes_the_framework_and_stops_its_tasks():
    w = World()
    w.accept(w.offer(), command_task("t1"))
    effects = w.call(mc.Teardown(framework_id=w.fid))
    assert m.ShutdownFramework(w.fw.framework_id) in w.to_agent(effects)
    assert Close(STREAM, "teardown") in effects
    assert not w.core.frameworks and not w.state.frameworks


def test_framework_gone_after_failover_timeout_is_forgotten():
    w = World()
    w.core.disconnected(STREAM)
    w.state.on_disconnected(STREAM, w.now)  # failover_timeout 0: removed at once
    w.core.tick(w.now)
    w.check()
    assert not w.core.frameworks


def test_a_resubscribed_framework_keeps_its_unacknowledged_updates_and_counts():
    w = World()
    w.accept(w.offer(), command_task("t1"))
    events, _ = w.agent_status("mt.t1", ExecutorState.RUNNING, "agent-u1")
    status = events[0].update.status
    w.core.disconnected(STREAM)
    call = mc.Subscribe(
        framework_id=w.fid,
        subscribe=mc.SubscribeBody(framework_info=ms.FrameworkInfo(name="fw", id=w.fid)),
    )
    w.core.subscribe(STREAM, call, w.now)
    w.check()
    assert w.state.frameworks[w.fw.framework_id].tasks["running"] == 1
    ack = mc.Acknowledge(
        framework_id=w.fid,
        acknowledge=mc.AcknowledgeBody(
            agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid
        ),
    )
    assert w.to_agent(w.call(ack)) == [m.StatusAcked("agent-u1")]
