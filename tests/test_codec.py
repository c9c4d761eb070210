"""Codec: every message of every channel round-trips; bad frames raise ProtocolError."""

from __future__ import annotations

import typing

import msgspec
import pytest

from pymesos_rt.protocol import codec
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.codec import Codec, ProtocolError
from pymesos_rt.protocol.objects import ObjectLocation, StoreStats
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

R = Resources
CMD = m.CommandInfo(["python", "-m", "pymesos_rt.executor"], {"PYTHONPATH": "/x"})
LAUNCH = m.ExecutorLaunch("e1", R(cpus=1.5, mem=512, gpus=1), CMD)
UPDATE = m.StatusUpdate("u1", "ag1", "fw1", "e1", ExecutorState.OOM, "hit 512 MiB", -9)
BLOB = m.ObjectBlob("obj1", b"\x00\xffdata", error=True)
LOC = ObjectLocation("store-1", "agent-1", "127.0.0.1:4000", 123456)
TASK = ms.TaskInfo(
    name="t",
    task_id=ms.Id(value="t1"),
    data=b"\x00bytes",
    command=ms.CommandInfo(value="echo hi"),
    resources=ms.to_mesos_resources(R(cpus=1)),
)
EXECUTOR = ms.ExecutorInfo(executor_id=ms.Id(value="ex"), command=ms.CommandInfo(value="run"))
MESOS_LAUNCHES = [
    m.ExecutorLaunch("mt.t1", R(cpus=1), CMD, m.MesosCommandTask(task=TASK)),
    m.ExecutorLaunch(
        "mx.ag1.ex",
        R(cpus=0.1),
        CMD,
        m.MesosExecutor(
            executor=EXECUTOR, framework=ms.FrameworkInfo(name="f"), container=R(cpus=1.1)
        ),
    ),
    m.ExecutorLaunch("mt.t2", R(cpus=1), CMD, m.MesosExecutorTask("mx.ag1.ex", TASK)),
]
MESOS_STATUS = ms.TaskStatus(
    task_id=ms.Id(value="t1"), state=ms.TaskState.TASK_RUNNING, uuid=b"u" * 16, data=b"d"
)
MESOS_UPDATE = m.StatusUpdate(
    "u2", "ag1", "fw1", "mt.t1", ExecutorState.RUNNING, "", None, MESOS_STATUS
)

SCHEDULER_CALLS = [
    m.Subscribe("app", role="analytics", framework_id="fw1", failover_timeout=60.0),
    m.Subscribe("app"),
    m.Accept(["o1", "o2"], [LAUNCH], refuse_seconds=1.0),
    m.Decline(["o3"], refuse_seconds=0.0),
    m.Suppress(),
    m.Revive(),
    m.KillExecutor("ag1", "e1"),
    m.Acknowledge("ag1", "u1"),
    m.Teardown(),
    m.JobSummary(
        12.5,
        [m.FunctionCounts("f", 3, 2, 10, 1, 0, 11, 2.5)],
        [m.TaskBox("e1", "f", 10.0, 10.5, True)],
        [m.TaskFailure(11.0, "t1", "f", "e1", "ValueError: x", "Traceback ...")],
        [m.OutputLine(11.5, "t2", "f", "stdout", "hello")],
        3,
    ),
    m.JobSummary(1.0, []),
    m.Reconcile([m.ExecutorRef("ag1", "e1")]),
    m.Subscribe("gpu-app", capabilities=[m.GPU_RESOURCES]),
    m.UpdateFramework([m.GPU_RESOURCES]),
    m.ActorSummary([m.ActorBrief("a1", "Counter", "c", "ALIVE", "ag1", "e1", 0, 12)]),
]
SCHEDULER_EVENTS = [
    m.Subscribed("fw1", "master-1"),
    m.Offers([m.Offer("o1", "fw1", "ag1", "host-a", R(cpus=4, mem=4096))]),
    m.Rescind("o1"),
    m.ExecutorUpdate(UPDATE),
    m.ClusterChanged([m.AgentSummary("ag1", "host-a", R(cpus=4, mem=4096))]),
    m.Error("offer o1 is no longer valid"),
    m.Reclaim(1, "another framework is below its fair share"),
    m.ClusterDelta([m.AgentSummary("ag2", "host-b", R(cpus=2))], ["ag1"]),
]
AGENT_CALLS = [
    m.RegisterAgent(
        "host-a",
        R(cpus=4, mem=4096),
        "ag1",
        [m.ExecutorRecord("fw1", "e1", R(cpus=1, mem=512))],
        "cgroups-v2",
    ),
    m.RegisterAgent("host-b", R(cpus=1)),
    m.AgentStatus(UPDATE),
    m.Heartbeat(),
    m.Unregister("the agent is stopping"),
    m.StoreUsage(StoreStats(64 * 2**20, 2**20, 3, 1, 1, 4096, 32 * 2**20, 1, 2, 3)),
    m.RegisterAgent("host-c", R(cpus=1), object_address="127.0.0.1:40000"),
    m.ExecutorUsage(
        [m.UsageRecord("fw1", "e1", {"cpu_seconds": 1.5, "memory": 3e7, "memory_peak": 6e7})]
    ),
    m.AgentStatus(MESOS_UPDATE),
    m.FromExecutor("ag1", "fw1", "ex", b"\x00hello"),
]
AGENT_EVENTS = [
    m.AgentRegistered("ag1", "master-1"),
    m.LaunchExecutor("fw1", LAUNCH),
    m.StopExecutor("fw1", "e1"),
    m.StatusAcked("u1"),
    m.ShutdownFramework("fw1"),
    *[m.LaunchExecutor("fw1", launch) for launch in MESOS_LAUNCHES],
    m.KillTask("fw1", "t1", grace=1.5),
    m.ToExecutor("fw1", "ex", b"\x00data"),
]
ACTOR_SPEC = m.ActorSpec(
    "a1",
    "Counter",
    "cls1",
    b"\x80cls",
    b"args",
    ["t1"],
    R(cpus=1),
    R(cpus=0.01),
    -1,
    2,
    8,
    True,
    b"\x80meta",
    "counter",
    "ns",
    True,
    ["a0"],
)
WORKER_CALLS = [
    m.Hello("e1", 4242, "host-a"),
    m.TaskDone("t1", b"\x80value", duration=0.25),
    m.TaskDone("t1", b"", duration=3.0, location=LOC, contained=["obj1"]),
    m.TaskFailed("t1", b"\x80exc", "Traceback ...", duration=1.0),
    m.Output("t1", "stderr", "warning\n"),
    m.Submit(m.TaskSpec("t2", "f", "fn1", None, b"args", ["t1"], R(cpus=1), 3, True)),
    m.GetObjects(7, ["t1", "t2"], num_returns=1, fetch=False),
    m.PutObject(BLOB),
    m.PutObject(m.ObjectBlob("obj2", b"", location=LOC, contained=["obj1"])),
    m.CancelRequest("t2", force=True),
    m.Borrow(["obj1", "obj2"]),
    m.DepsLost("t5", ["obj1"], "object obj1 is not in this store"),
    m.Unborrow(["obj1"]),
    m.CancelRequest("t2", recursive=False),
    m.Submit(
        m.TaskSpec(
            "t3",
            "g",
            "fn2",
            None,
            b"",
            [],
            R(cpus=1, gpus=0.5),
            -1,
            False,
            m.TaskExtra(
                num_returns=m.STREAMING,
                parent_id="t1",
                max_calls=2,
                retry_on=b"\x80classes",
                node="ag1",
                soft=True,
                spread=False,
                runtime_env=m.RuntimeEnvSpec("k1", {"A": "1"}, "obj9", ["obj10"]),
            ),
        )
    ),
    m.TaskDone("t4", b"", returns=[BLOB, m.ObjectBlob("t4.r1", b"v")]),
    m.Yielded("t3", 0, m.ObjectBlob("t3.y0", b"item")),
    m.NextItem(8, "t3", 1),
    m.StateRequest(9),
    m.TaskDone("t3", b"", returns=[BLOB, m.ObjectBlob("t3~1", b"\x80two")]),
    m.SubmitActor(ACTOR_SPEC, request_id=3),
    m.SubmitActor(
        m.ActorSpec("a2", "C", "c1", None, b"", [], R(cpus=1), R(cpus=0.01), 0, 0, 1, False, b"")
    ),
    m.SubmitCall(m.ActorCallSpec("t4", "a1", "incr", b"args", ["t1"], 2, -1, ["a2"])),
    m.HandleHeld("a1", True),
    m.HandleHeld("a1", True, escaped=True),
    m.HandlePins("t2", ["a1", "a2"]),
    m.LookupActor(4, "counter", "ns"),
    m.KillActor("a1", no_restart=False),
    m.ActorExiting("a1", "rt.exit_actor() in Counter.stop"),
]
WORKER_EVENTS = [
    m.RunTask("t1", "f", "fn1", b"\x80fn", b"args", [BLOB]),
    m.RunTask("t1", "f", "fn1", None, b"", []),
    m.RunTask("t2", "g", "fn2", None, b"args", [BLOB], local_deps=["t1"]),
    m.ObjectValues(7, [BLOB]),
    m.CancelTask("t1"),
    m.StopWorker(),
    m.Preload(["numpy", "pandas"]),
    m.RunTask("t3", "g", "fn2", None, b"", [], num_returns=m.DYNAMIC),
    m.RunTask("t4", "g", "fn2", None, b"", [], resources=R(cpus=0.5, gpus=0.25)),
    m.StateReply(9, b'{"agents": []}'),
    m.StartActor("a1.c1", "a1", "Counter", "cls1", b"\x80cls", b"args", [BLOB], 1, False, 2, "n"),
    m.CallMethod("t4", "incr", b"args", [BLOB], num_returns=2),
    m.ActorLookup(4, meta=b"\x80meta"),
    m.ActorLookup(5, error="no actor named 'x'"),
]

CHANNELS = [
    (codec.master_framework_side, m.SchedulerCall, SCHEDULER_CALLS),
    (codec.scheduler_side, m.SchedulerEvent, SCHEDULER_EVENTS),
    (codec.master_agent_side, m.AgentCall, AGENT_CALLS),
    (codec.agent_side, m.AgentEvent, AGENT_EVENTS),
    (codec.driver_side, m.WorkerCall, WORKER_CALLS),
    (codec.worker_side, m.WorkerEvent, WORKER_EVENTS),
]


@pytest.mark.parametrize(("make", "union", "samples"), CHANNELS)
def test_samples_cover_every_message_of_the_union(make, union, samples):
    assert {type(s) for s in samples} == set(typing.get_args(union))


def test_every_message_is_in_exactly_one_union_and_named_by_messages():
    """A message defined in a seam module (protocol/*_messages.py) but left out of the unions
    would never decode; ``m.X`` names every one of them."""
    unions = [set(typing.get_args(union)) for _, union, _ in CHANNELS]
    defined = m.Message.__subclasses__()
    assert len(defined) == sum(len(u) for u in unions)
    for cls in defined:
        assert sum(cls in u for u in unions) == 1, cls.__name__
        assert getattr(m, cls.__name__) is cls
    modules = {cls.__module__ for cls in defined}
    assert modules == {
        f"pymesos_rt.protocol.{seam}_messages" for seam in ("framework", "agent", "worker", "actor")
    }


@pytest.mark.parametrize(
    ("make", "message"),
    [(make, msg) for make, _, samples in CHANNELS for msg in samples],
    ids=lambda v: type(v).__name__ if isinstance(v, msgspec.Struct) else v.__name__,
)
def test_roundtrip_one(make, message):
    c = make()
    assert c.decode(Codec.encode([message])) == [message]


@pytest.mark.parametrize(("make", "union", "samples"), CHANNELS)
def test_roundtrip_batch(make, union, samples):
    decoded = make().decode(Codec.encode(samples))
    assert decoded == samples
    assert [type(d) for d in decoded] == [type(s) for s in samples]


def test_decoded_resources_are_resources():
    (offers,) = codec.scheduler_side().decode(Codec.encode([SCHEDULER_EVENTS[1]]))
    res = offers.offers[0].resources
    assert isinstance(res, Resources)
    assert res.fits(R(cpus=4, mem=4096))
    (update,) = codec.scheduler_side().decode(Codec.encode([m.ExecutorUpdate(UPDATE)]))
    assert update.update.state is ExecutorState.OOM


def test_empty_frame_is_no_messages():
    assert codec.agent_side().decode(Codec.encode([])) == []


def test_a_message_of_another_channel_is_rejected():
    frame = Codec.encode([m.Heartbeat()])  # agent -> master, not framework -> master
    with pytest.raises(ProtocolError):
        codec.master_framework_side().decode(frame)


def test_encoding_an_unknown_object_fails():
    with pytest.raises(NotImplementedError, match="cannot encode object"):
        Codec.encode([object()])


def _raw(obj) -> bytes:
    return msgspec.msgpack.encode(obj)


LAUNCH_RAW = {"executor_id": "e", "resources": {"cpus": 1.0}, "command": {"argv": ["x"]}}

BAD_FRAMES = {
    "invalid opcode": b"\xc1",
    "truncated": Codec.encode(SCHEDULER_CALLS)[:-3],
    "empty bytes": b"",
    "not a list": _raw({"t": "subscribe"}),
    "message not an array": _raw([{"t": "subscribe", "name": "x"}]),
    "unknown tag": _raw([["launch_missiles", 1]]),
    "missing tag": _raw([[]]),
    "name is an int": _raw([["subscribe", 5]]),
    "missing required field": _raw([["kill", "ag1"]]),
    "extra field": _raw([["revive", "surprise"]]),
    "offer ids not a list": _raw([["decline", "o1", 1.0]]),
    "refuse_seconds a string": _raw([["decline", ["o1"], "soon"]]),
    "resources not a map": _raw([["accept", ["o"], [{**LAUNCH_RAW, "resources": [1]}], 1.0]]),
    "resource value a string": _raw(
        [["accept", ["o"], [{**LAUNCH_RAW, "resources": {"cpus": "1"}}], 1.0]]
    ),
    "resource value a bool": _raw(
        [["accept", ["o"], [{**LAUNCH_RAW, "resources": {"cpus": True}}], 1.0]]
    ),
    "resource value nan": _raw(
        [["accept", ["o"], [{**LAUNCH_RAW, "resources": {"cpus": float("nan")}}], 1.0]]
    ),
    "resource name an int": _raw([["accept", ["o"], [{**LAUNCH_RAW, "resources": {1: 1.0}}], 1.0]]),
    "negative resource": _raw(
        [["accept", ["o"], [{**LAUNCH_RAW, "resources": {"cpus": -8.0}}], 1.0]]
    ),
    "argv not strings": _raw(
        [["accept", ["o"], [{**LAUNCH_RAW, "command": {"argv": [1, 2]}}], 1.0]]
    ),
}


@pytest.mark.parametrize("frame", list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
def test_bad_frames_raise_protocol_error(frame):
    with pytest.raises(ProtocolError):
        codec.master_framework_side().decode(frame)


def test_unknown_executor_state_raises_protocol_error():
    good = msgspec.msgpack.decode(Codec.encode([m.AgentStatus(UPDATE)]))
    good[0][1]["state"] = "ZOMBIE"
    with pytest.raises(ProtocolError):
        codec.master_agent_side().decode(_raw(good))


def test_protocol_error_is_a_value_error_with_a_location():
    with pytest.raises(ProtocolError, match=r"\$\[0\]\[1\]") as info:
        codec.master_framework_side().decode(_raw([["subscribe", 5]]))
    assert isinstance(info.value, ValueError)
