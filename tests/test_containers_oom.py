"""What the rest of the system does with a container's word: a memory-limit kill fails the
task with an error naming the limit and the task (retried only with ``retry_exceptions``), and
executor usage travels agent -> master ``/state`` -> ``pymesos-rt status``."""

from __future__ import annotations

from pymesos_rt.cli import render_status
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState
from pymesos_rt.scheduler.effects import Dispatch, Fail, Finished, LaunchExecutors, SetSuppressed
from pymesos_rt.scheduler.records import SchedulerConfig, Task
from pymesos_rt.scheduler.state import SchedulerState

R = Resources
SHAPE = R(cpus=1, mem=100)
OOM_WHY = "memory limit of 100 MiB reached (oom_kill)"


def started(*tasks: Task) -> SchedulerState:
    s = SchedulerState("p", SchedulerConfig())
    for t in tasks:
        s.submit(t, 0.0)
    s.offers([m.Offer("O1", "fw1", "ag1", "host", SHAPE)], 0.0)
    assert s.executor_connected("p-e1", 0.0)[0] == Dispatch("p-e1", tasks[0].task_id, True)
    return s


def oom(eid: str = "p-e1") -> m.StatusUpdate:
    return m.StatusUpdate("u1", "ag1", "fw1", eid, ExecutorState.OOM, OOM_WHY, -9)


def test_oom_fails_the_task_at_once_naming_limit_and_task():
    s = started(Task("t1", "hog", "fn", SHAPE, [], 3, False))
    assert s.executor_update(oom(), 1.0) == [
        Fail(
            "t1",
            "oom",
            "task hog (t1) ran out of memory: executor p-e1 on agent ag1 was stopped "
            f"({OOM_WHY}, exit code -9); raise the task's memory= or pass "
            "retry_exceptions=True to retry it",
        ),
        Finished("t1", []),
    ]


def test_oom_is_retried_when_the_task_asks_for_it():
    s = started(Task("t1", "hog", "fn", SHAPE, [], 1, True))
    assert s.executor_update(oom(), 1.0) == [SetSuppressed(False)]  # READY again
    launched = s.offers([m.Offer("O2", "fw1", "ag1", "host", SHAPE)], 2.0)
    assert launched[0] == LaunchExecutors("ag1", ["O2"], [("p-e2", SHAPE)], 5.0)
    assert s.executor_connected("p-e2", 2.0) == [Dispatch("p-e2", "t1", True)]
    effects = s.executor_update(oom("p-e2"), 3.0)  # out of retries
    assert isinstance(effects[0], Fail) and effects[0].kind == "oom"
    assert "ran out of memory" in effects[0].message


def test_other_deaths_still_retry_without_retry_exceptions():
    s = started(Task("t1", "f", "fn", SHAPE, [], 3, False))
    killed = m.StatusUpdate("u1", "ag1", "fw1", "p-e1", ExecutorState.FAILED, "signal 9", -9)
    assert s.executor_update(killed, 1.0) == [SetSuppressed(False)]
    assert s.tasks["t1"].state.name == "READY"


def test_usage_reaches_state_and_status():
    ms = MasterState()
    ms.on_agent_call("a1", m.RegisterAgent("host-a", R(cpus=2, mem=1024), "ag1"), 0.0)
    ms.on_framework_call("f1", m.Subscribe("app", framework_id="fw1"), 0.0)
    offer = ms.allocate(1.0)[0].message.offers[0]  # type: ignore[union-attr]
    launch = m.ExecutorLaunch("e1", SHAPE, m.CommandInfo(["x"], {}))
    ms.on_framework_call("f1", m.Accept([offer.offer_id], [launch]), 1.0)
    usage = {"cpu_seconds": 1.5, "memory": 30.0 * 2**20, "memory_peak": 64.0 * 2**20}
    records = [m.UsageRecord("fw1", "e1", usage), m.UsageRecord("fw1", "nobody", usage)]
    assert ms.on_agent_call("a1", m.ExecutorUsage(records), 2.0) == []
    snap = ms.snapshot()
    assert [e["usage"] for e in snap["executors"]] == [usage]
    text = render_status(snap)
    header = next(line for line in text.splitlines() if line.startswith("EXECUTOR"))
    assert header.split()[-3:] == ["CPU-S", "MEM-MIB", "PEAK-MIB"]
    row = next(line for line in text.splitlines() if line.startswith("e1 "))
    assert row.split()[-3:] == ["1.5", "30.0", "64.0"]
    # usage from an agent that does not run the executor is ignored
    ms.on_agent_call("a2", m.RegisterAgent("host-b", R(cpus=1), "ag2"), 3.0)
    other = {"cpu_seconds": 99.0}
    ms.on_agent_call("a2", m.ExecutorUsage([m.UsageRecord("fw1", "e1", other)]), 3.0)
    assert ms.snapshot()["executors"][0]["usage"] == usage
