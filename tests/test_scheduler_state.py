"""The framework scheduler's sans-IO core: feed submissions, offers and executor events,
compare the effects.

Executors get ids ``p-e1``, ``p-e2``, ... in launch order. Task names are their function ids.
"""

from __future__ import annotations

import pytest

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState, TaskState
from pymesos_rt.scheduler.effects import (
    CancelOnExecutor,
    DeclineOffers,
    Dispatch,
    Fail,
    Finished,
    KillExecutor,
    LaunchExecutors,
    SetSuppressed,
    UseGpus,
)
from pymesos_rt.scheduler.placement import Shape, extras_of
from pymesos_rt.scheduler.records import SchedulerConfig, Task
from pymesos_rt.scheduler.state import SchedulerState

R = Resources
SHAPE = R(cpus=1, mem=1024)
BIG = R(cpus=4, mem=4096)


def task(tid, fn="f", shape=SHAPE, deps=(), max_retries=3, retry_exceptions=False) -> Task:
    return Task(tid, fn, f"{fn}-id", shape, list(deps), max_retries, retry_exceptions)


def offer(oid: str, res: Resources, agent: str = "ag1") -> m.Offer:
    return m.Offer(oid, "fw1", agent, f"host-{agent}", res)


def agents(*totals: tuple[str, Resources]) -> list[m.AgentSummary]:
    return [m.AgentSummary(aid, f"host-{aid}", total) for aid, total in totals]


def make(**config) -> SchedulerState:
    return SchedulerState("p", SchedulerConfig(**config))


def one_executor(s: SchedulerState, *tasks: Task, now: float = 0.0) -> list:
    """Submit ``tasks`` and get one connected executor of their shape; the connect's effects."""
    for t in tasks:
        s.submit(t, now)
    launched = s.offers([offer("O1", tasks[0].shape)], now)
    assert launched[0] == LaunchExecutors(
        "ag1", ["O1"], [("p-e1", tasks[0].shape)], 1.0 if len(tasks) > 1 else 5.0
    )
    return s.executor_connected("p-e1", now)


# --- offers and suppression -------------------------------------------------------------------


def test_submit_offer_launch_connect_dispatch():
    s = make()
    assert s.tick(0.0) == [SetSuppressed(True)]  # nothing to run: stop offers
    assert s.submit(task("t1"), 1.0) == [SetSuppressed(False)]  # REVIVE
    assert s.submit(task("t2"), 1.0) == []
    small = R(cpus=2, mem=512)
    assert s.submit(task("t3", fn="g", shape=small), 1.0) == []
    # oldest shape first: two (1 cpu, 1024) executors, then one (2 cpus, 512)
    assert s.offers([offer("O1", BIG)], 2.0) == [
        LaunchExecutors("ag1", ["O1"], [("p-e1", SHAPE), ("p-e2", SHAPE), ("p-e3", small)], 5.0),
        SetSuppressed(True),
    ]
    assert s.executor_connected("p-e1", 3.0) == [Dispatch("p-e1", "t1", True)]
    assert s.executor_connected("p-e2", 3.0) == [Dispatch("p-e2", "t2", True)]
    assert s.executor_connected("p-e3", 3.0) == [Dispatch("p-e3", "t3", True)]
    assert [s.tasks[t].state for t in ("t1", "t2", "t3")] == [TaskState.DISPATCHED] * 3
    assert s.executor_connected("nobody", 3.0) == []


def test_offer_too_small_is_declined_briefly_while_work_waits():
    s = make()
    s.submit(task("t1", shape=BIG), 0.0)
    assert s.offers([offer("O1", R(cpus=2, mem=8192))], 1.0) == [DeclineOffers(["O1"], 1.0)]


def test_offers_are_declined_for_longer_when_idle():
    s = make()
    assert s.offers([offer("O1", BIG)], 1.0) == [DeclineOffers(["O1"], 5.0), SetSuppressed(True)]


def test_offers_of_one_agent_are_combined_and_agents_are_planned_in_turn():
    s = make()
    for i in range(3):
        s.submit(task(f"t{i}", shape=R(cpus=2)), 0.0)
    assert s.offers(
        [offer("O1", R(cpus=1)), offer("O2", R(cpus=2), "ag2"), offer("O3", R(cpus=3))], 1.0
    ) == [
        # ag1: 1 + 3 cpus -> two executors; ag2: one more, which covers the third task
        LaunchExecutors("ag1", ["O1", "O3"], [("p-e1", R(cpus=2)), ("p-e2", R(cpus=2))], 1.0),
        LaunchExecutors("ag2", ["O2"], [("p-e3", R(cpus=2))], 5.0),
        SetSuppressed(True),
    ]


def test_executors_still_starting_count_against_the_need():
    s = make()
    s.submit(task("t1"), 0.0)
    s.offers([offer("O1", SHAPE)], 0.0)
    assert s.offers([offer("O2", BIG)], 1.0) == [DeclineOffers(["O2"], 5.0)]
    assert s.submit(task("t2"), 1.0) == [SetSuppressed(False)]
    assert s.offers([offer("O3", BIG)], 1.0) == [
        LaunchExecutors("ag1", ["O3"], [("p-e2", SHAPE)], 5.0),
        SetSuppressed(True),
    ]


def test_an_executor_that_never_started_is_asked_for_again():
    s = make()
    s.submit(task("t1"), 0.0)
    s.offers([offer("O1", SHAPE)], 0.0)
    failed = m.StatusUpdate("u1", "ag1", "fw1", "p-e1", ExecutorState.FAILED, "no python")
    assert s.executor_update(failed, 1.0) == [SetSuppressed(False)]
    assert s.offers([offer("O2", SHAPE)], 2.0)[0] == LaunchExecutors(
        "ag1", ["O2"], [("p-e2", SHAPE)], 5.0
    )


# --- dispatch and pipelining ------------------------------------------------------------------


def test_functions_are_sent_once_per_executor():
    s = make()
    assert one_executor(s, task("t1"), task("t2")) == [Dispatch("p-e1", "t1", True)]
    assert s.task_done("p-e1", "t1", 0.5, 1.0) == [
        Finished("t1", []),
        Dispatch("p-e1", "t2", False),
        SetSuppressed(True),  # nothing waits any more
    ]


def test_pipeline_grows_once_fast_durations_are_known():
    s = make()
    tasks = [task(f"t{i}") for i in range(1, 11)]
    # unknown duration: one task at a time
    assert one_executor(s, *tasks) == [Dispatch("p-e1", "t1", True)]
    # 0.3 ms each: queue behind the running one until 2 ms of work is held (7 tasks)
    assert s.task_done("p-e1", "t1", 0.0003, 1.0) == [
        Finished("t1", []),
        *[Dispatch("p-e1", f"t{i}", False) for i in range(2, 9)],
    ]
    assert s.task_done("p-e1", "t2", 0.0003, 1.0) == [
        Finished("t2", []),
        Dispatch("p-e1", "t9", False),
    ]


def test_no_pipeline_for_slow_tasks():
    s = make()
    one_executor(s, task("t1"), task("t2"), task("t3"))
    assert s.task_done("p-e1", "t1", 1.0, 1.0) == [
        Finished("t1", []),
        Dispatch("p-e1", "t2", False),
    ]
    assert s.task_done("p-e1", "t2", 1.0, 2.0) == [
        Finished("t2", []),
        Dispatch("p-e1", "t3", False),
        SetSuppressed(True),
    ]


def test_nothing_queues_behind_a_task_of_unknown_duration():
    s = make()
    one_executor(s, task("t1"), task("t2"))
    s.task_done("p-e1", "t1", 0.0001, 1.0)  # t2 dispatched; f is fast
    assert s.submit(task("g1", fn="g"), 1.0) == [Dispatch("p-e1", "g1", True)]
    # g's duration is unknown: f's next task does not queue behind it
    assert s.submit(task("t3"), 1.0) == [SetSuppressed(False)]


def test_blocked_task_gives_its_slot_back():
    s = make()
    one_executor(s, task("t1"), task("t2"), task("t3"))
    assert s.blocked("p-e1", +1, 1.0) == [Dispatch("p-e1", "t2", False)]
    assert s.blocked("p-e1", -1, 2.0) == []
    assert s.task_done("p-e1", "t2", 1.0, 3.0) == [Finished("t2", [])]
    assert s.task_done("p-e1", "t1", 1.0, 4.0) == [
        Finished("t1", []),
        Dispatch("p-e1", "t3", False),
        SetSuppressed(True),
    ]
    assert s.blocked("nobody", +1, 4.0) == []


def test_idle_suppresses_and_idle_executors_are_killed_after_idle_timeout():
    s = make(idle_timeout=10.0)
    one_executor(s, task("t1"), now=0.0)
    assert s.task_done("p-e1", "t1", 1.0, 5.0) == [Finished("t1", [])]
    assert s.idle()
    assert s.tick(14.9) == []
    assert s.tick(15.0) == [KillExecutor("ag1", "p-e1")]
    assert s.tick(16.0) == []  # asked once
    killed = m.StatusUpdate("u9", "ag1", "fw1", "p-e1", ExecutorState.KILLED, "stopped on request")
    assert s.executor_update(killed, 17.0) == []
    assert s.leases == {}


def test_idle_executors_go_fast_when_work_of_another_shape_waits():
    s = make(idle_timeout=10.0, pressure_idle_timeout=0.5)
    one_executor(s, task("t1"))
    s.task_done("p-e1", "t1", 1.0, 1.0)
    assert s.submit(task("b1", shape=BIG), 1.2) == [SetSuppressed(False)]
    assert s.tick(1.4) == []
    assert s.tick(1.5) == [KillExecutor("ag1", "p-e1")]


def test_an_idle_executor_is_kept_while_its_shape_has_work():
    s = make(idle_timeout=1.0)
    one_executor(s, task("t1"))
    assert s.tick(5.0) == []  # busy with t1
    s.task_done("p-e1", "t1", 1.0, 5.0)
    assert s.tick(6.0) == [KillExecutor("ag1", "p-e1")]
    # a killed executor takes no more work: a new one is asked for
    assert s.submit(task("t2"), 6.0) == [SetSuppressed(False)]


# --- dependencies -----------------------------------------------------------------------------


def test_task_waits_for_its_arguments():
    s = make()
    one_executor(s, task("t1"))
    assert s.submit(task("t2", deps=["t1", "obj"]), 1.0) == []
    assert s.tasks["t2"].state is TaskState.WAITING
    assert s.object_ready("obj", 1.5) == []  # put by the user
    assert s.task_done("p-e1", "t1", 1.0, 2.0) == [
        Finished("t1", []),
        Dispatch("p-e1", "t2", False),
    ]


def test_task_of_a_ready_object_is_ready_at_once():
    s = make()
    s.object_ready("obj", 0.0)
    s.submit(task("t1", deps=["obj"]), 0.0)
    assert s.tasks["t1"].state is TaskState.READY
    s.forget_object("obj")
    s.submit(task("t2", deps=["obj"]), 0.0)
    assert s.tasks["t2"].state is TaskState.WAITING


def test_failed_dependency_fails_its_dependents_with_the_same_blob():
    s = make()
    one_executor(s, task("t1"))
    s.submit(task("t2", deps=["t1"]), 1.0)
    s.submit(task("t3", deps=["t2"]), 1.0)
    assert s.task_failed("p-e1", "t1", b"ZeroDivisionError", 0.1, 2.0) == [
        Fail("t1", "blob", blob=b"ZeroDivisionError"),
        Finished("t1", []),
        Fail("t2", "blob", blob=b"ZeroDivisionError"),
        Finished("t2", ["t1"]),
        Fail("t3", "blob", blob=b"ZeroDivisionError"),
        Finished("t3", ["t2"]),
    ]
    assert s.tasks == {}
    # submitted later, it fails at once
    assert s.submit(task("t4", deps=["t1"]), 3.0) == [
        Fail("t4", "blob", blob=b"ZeroDivisionError"),
        Finished("t4", ["t1"]),
    ]


def test_long_dependency_chains_fail_without_recursion():
    s = make()
    s.submit(task("c0", deps=["root"]), 0.0)
    for i in range(1, 3000):
        s.submit(task(f"c{i}", deps=[f"c{i - 1}"]), 0.0)
    effects = s.object_failed(Fail("root", "node_lost", "gone"), 1.0)
    assert len(effects) == 6000
    assert effects[-2] == Fail("c2999", "node_lost", "gone")
    assert s.tasks == {}


# --- retries and executor loss ----------------------------------------------------------------


def test_task_exception_retried_when_asked():
    s = make()
    one_executor(s, task("t1", max_retries=1, retry_exceptions=True))
    assert s.task_failed("p-e1", "t1", b"err", 0.1, 1.0) == [Dispatch("p-e1", "t1", False)]
    assert s.task_failed("p-e1", "t1", b"err2", 0.1, 2.0) == [
        Fail("t1", "blob", blob=b"err2"),
        Finished("t1", []),
    ]


def test_late_duplicate_results_are_ignored():
    s = make()
    one_executor(s, task("t1"))
    s.task_done("p-e1", "t1", 0.5, 1.0)
    assert s.task_done("p-e1", "t1", 0.5, 1.1) == []
    assert s.task_failed("p-e1", "t1", b"x", 0.5, 1.1) == []


def _pipelined_three(s: SchedulerState, max_retries: int = 3) -> None:
    """p-e1 holds t1 (running), t2 and t3 (queued behind it)."""
    one_executor(s, task("warm"))
    s.task_done("p-e1", "warm", 0.0001, 1.0)
    for i in (1, 2, 3):
        s.submit(task(f"t{i}", max_retries=max_retries), 1.0)
    assert list(s.leases["p-e1"].inflight) == ["t1", "t2", "t3"]


def test_executor_lost_running_task_uses_a_retry_queued_ones_do_not():
    s = make()
    _pipelined_three(s)
    s.submit(task("t4"), 1.0)
    assert [s.tasks[t].attempts for t in ("t1", "t2", "t3")] == [1, 1, 1]
    assert s.executor_gone("p-e1", "executor_lost", "connection closed", 2.0) == [
        SetSuppressed(False)
    ]
    assert [(s.tasks[t].state, s.tasks[t].attempts) for t in ("t1", "t2", "t3")] == [
        (TaskState.READY, 1),  # it ran: one attempt used
        (TaskState.READY, 0),
        (TaskState.READY, 0),
    ]
    # back at the front of the queue, in their order, ahead of t4
    s.offers([offer("O2", SHAPE)], 3.0)
    assert s.executor_connected("p-e2", 3.0) == [
        Dispatch("p-e2", "t1", True),
        Dispatch("p-e2", "t2", False),
        Dispatch("p-e2", "t3", False),
        Dispatch("p-e2", "t4", False),
        SetSuppressed(True),
    ]
    assert s.executor_gone("p-e1", "executor_lost", "again", 4.0) == []  # already gone


def test_executor_lost_without_retries_fails_the_running_task_naming_the_executor():
    s = make()
    _pipelined_three(s, max_retries=0)
    effects = s.executor_gone("p-e1", "executor_lost", "connection closed", 2.0)
    assert effects == [
        Fail(
            "t1",
            "executor_lost",
            "task f (t1) lost: executor p-e1 on agent ag1 died (connection closed)",
        ),
        Finished("t1", []),
        SetSuppressed(False),
    ]
    assert [s.tasks[t].state for t in ("t2", "t3")] == [TaskState.READY] * 2


def test_an_executor_whose_connection_closed_takes_no_task_while_its_status_is_awaited():
    s = make()
    one_executor(s, task("t1"))
    s.task_done("p-e1", "t1", 0.5, 1.0)  # idle now
    s.executor_closed("p-e1")
    # a task submitted in the grace before executor_gone waits: it is not sent to p-e1
    effects = s.submit(task("t2", max_retries=0), 2.0)
    assert not [e for e in effects if isinstance(e, Dispatch)]
    assert s.tasks["t2"].state is TaskState.READY and s.tasks["t2"].attempts == 0
    s.executor_gone("p-e1", "executor_lost", "connection closed", 3.0)
    s.offers([offer("O2", SHAPE)], 3.0)
    assert s.executor_connected("p-e2", 3.0)[0] == Dispatch("p-e2", "t2", True)
    assert s.executor_closed("nobody") is None


def test_blocked_tasks_were_running_too_and_keep_their_order():
    s = make()
    one_executor(s, task("t1"), task("t2"), task("t3"))
    s.blocked("p-e1", +1, 1.0)  # t1 blocked in get, t2 runs
    assert list(s.leases["p-e1"].inflight) == ["t1", "t2"]
    s.executor_gone("p-e1", "executor_lost", "crash", 2.0)
    assert [s.tasks[t].attempts for t in ("t1", "t2", "t3")] == [1, 1, 0]
    s.offers([offer("O2", SHAPE)], 3.0)
    assert s.executor_connected("p-e2", 3.0) == [Dispatch("p-e2", "t1", True)]
    assert s.task_done("p-e2", "t1", 1.0, 4.0) == [
        Finished("t1", []),
        Dispatch("p-e2", "t2", False),
    ]


@pytest.mark.parametrize(
    ("state", "message", "exit_code", "kind", "detail"),
    [
        (ExecutorState.LOST, "agent ag1 was lost", None, "node_lost", "agent ag1 was lost"),
        # OOM reads differently: tests/test_containers_oom.py
        (
            ExecutorState.FAILED,
            "exited with status 3",
            3,
            "executor_lost",
            "exited with status 3, exit code 3",
        ),
        (ExecutorState.KILLED, "", None, "executor_lost", "state KILLED"),
    ],
)
def test_executor_update_kinds(state, message, exit_code, kind, detail):
    s = make()
    one_executor(s, task("t1", max_retries=0))
    update = m.StatusUpdate("u1", "ag1", "fw1", "p-e1", state, message, exit_code)
    assert s.executor_update(update, 1.0) == [
        Fail("t1", kind, f"task f (t1) lost: executor p-e1 on agent ag1 died ({detail})"),
        Finished("t1", []),
    ]


def test_non_terminal_executor_update_changes_nothing():
    s = make()
    one_executor(s, task("t1"))
    running = m.StatusUpdate("u1", "ag1", "fw1", "p-e1", ExecutorState.RUNNING)
    assert s.executor_update(running, 1.0) == []
    assert "p-e1" in s.leases


# --- unschedulable shapes ---------------------------------------------------------------------


def test_shape_bigger_than_every_agent_fails_at_once():
    s = make()
    assert s.cluster(agents(("ag1", BIG), ("ag2", R(cpus=8, mem=1024))), 0.0) == [
        SetSuppressed(True)
    ]
    effects = s.submit(task("t1", shape=R(cpus=8, mem=2048)), 1.0)
    assert effects == [
        Fail(
            "t1",
            "unschedulable",
            "no agent can ever run a task that needs cpus:8;mem:2048; "
            "agents have ag1: cpus:4;mem:4096, ag2: cpus:8;mem:1024",
        ),
        Finished("t1", []),
    ]
    assert s.tasks == {}


def test_queued_tasks_fail_when_the_cluster_shrinks_below_them():
    s = make()
    s.submit(task("t1", shape=BIG), 0.0)
    effects = s.cluster(agents(("ag2", SHAPE)), 1.0)
    assert [type(e) for e in effects] == [Fail, Finished, SetSuppressed]
    assert (effects[0].task_id, effects[0].kind) == ("t1", "unschedulable")
    # with no agent known, nothing is judged
    s.cluster([], 2.0)
    assert s.submit(task("t2", shape=BIG), 2.0) == [SetSuppressed(False)]


# --- cancellation -----------------------------------------------------------------------------


def test_cancel_ready_task():
    s = make()
    s.submit(task("t1"), 0.0)
    s.submit(task("t2", deps=["t1"]), 0.0)
    assert s.cancel("t1", 1.0) == [
        Fail("t1", "cancelled", "task f (t1) was cancelled"),
        Finished("t1", []),
        Fail("t2", "cancelled", "task f (t1) was cancelled"),
        Finished("t2", ["t1"]),
        SetSuppressed(True),
    ]
    assert s.tasks == {}
    assert s.cancel("t1", 1.0) == []
    assert s.cancel("never", 1.0) == []


def test_cancel_dispatched_task_keeps_its_slot_until_it_ends():
    s = make()
    one_executor(s, task("t1"), task("t2"))
    assert s.cancel("t1", 1.0) == [
        CancelOnExecutor("p-e1", "t1"),
        Fail("t1", "cancelled", "task f (t1) was cancelled"),
        Finished("t1", []),
    ]
    # the executor reports the interrupted task: now the slot is free
    assert s.task_failed("p-e1", "t1", b"TaskCancelledError", 0.2, 2.0) == [
        Dispatch("p-e1", "t2", False),
        SetSuppressed(True),
    ]


def test_cancel_waiting_task():
    s = make()
    s.submit(task("t1", deps=["obj"]), 0.0)
    effects = s.cancel("t1", 1.0)
    assert effects[:2] == [
        Fail("t1", "cancelled", "task f (t1) was cancelled"),
        Finished("t1", ["obj"]),
    ]
    assert s.object_ready("obj", 2.0) == []


def test_reclaim_drains_the_least_loaded_executor_then_stops_it():
    from pymesos_rt.scheduler.effects import KillExecutor as Kill
    from pymesos_rt.scheduler.records import Task as T
    from pymesos_rt.scheduler.state import SchedulerState as S

    s = S("p")
    shape = Resources(cpus=1)
    s.cluster([m.AgentSummary("ag1", "h", Resources(cpus=4))], 0.0)
    for i in range(3):
        s.submit(T(f"t{i}", "f", "fn", shape, [], 3, False), 0.0)
    s.offers([m.Offer("o1", "fw", "ag1", "h", Resources(cpus=2))], 0.0)
    for eid in list(s.leases):
        s.executor_connected(eid, 0.0)
    busy = [lease for lease in s.leases.values() if lease.inflight]
    assert len(busy) == 2  # t0 and t1 running, t2 waits
    effects = s.reclaim(1, 1.0)
    assert not [e for e in effects if isinstance(e, Kill)]  # both busy: drain first
    drained = next(lease for lease in s.leases.values() if lease.draining)
    done = s.task_done(drained.executor_id, drained.inflight[0], 0.5, 2.0)
    assert Kill("ag1", drained.executor_id) in done
    assert all(not (isinstance(e, Dispatch) and e.executor_id == drained.executor_id) for e in done)


def test_cluster_deltas_update_the_agents_and_fail_what_fits_nowhere_any_more():
    s = make()
    s.cluster(agents(("ag1", BIG)), 0.0)
    s.cluster_delta([m.AgentSummary("ag2", "h", SHAPE)], [], 0.0)
    assert s.agents == {"ag1": BIG, "ag2": SHAPE}
    assert s.agent_totals == {BIG, SHAPE}
    s.submit(task("t1", shape=BIG), 1.0)
    assert s.cluster_delta([m.AgentSummary("ag3", "h", SHAPE)], [], 1.0) == []  # grew: no check
    effects = s.cluster_delta([], ["ag1"], 2.0)
    assert [type(e) for e in effects] == [Fail, Finished, SetSuppressed]
    assert s.agent_totals == {SHAPE}
    assert s.cluster_delta([], ["never-known"], 2.0) == []


def test_unschedulable_message_of_a_big_cluster_names_the_shapes():
    s = make()
    s.cluster([m.AgentSummary(f"ag{i}", "h", SHAPE if i % 4 else BIG) for i in range(100)], 0.0)
    (fail, *_) = s.submit(task("t1", shape=R(cpus=64)), 1.0)
    assert fail.message == (
        "no agent can ever run a task that needs cpus:64; agents have 100 agents: "
        "75 x cpus:1;mem:1024, 25 x cpus:4;mem:4096"
    )


# --- Ray's API: returns, max_calls, retries, recursive cancel, placement ---------------------


def test_task_of_several_returns_completes_each_and_dependents_wait_on_them():
    s = make()
    t1 = task("t1")
    t1.outputs = ("t1.r0", "t1.r1")
    one_executor(s, t1)
    s.submit(task("t2", deps=["t1.r1"]), 1.0)
    assert s.tasks["t2"].state is TaskState.WAITING
    effects = s.task_done("p-e1", "t1", 0.5, 2.0)
    assert effects[0] == Finished("t1", [])
    assert {"t1.r0", "t1.r1"} <= s.ready_objects
    assert Dispatch("p-e1", "t2", False) in effects


def test_partial_failure_of_returns_fails_only_those_and_their_dependents():
    s = make()
    t1 = task("t1")
    t1.outputs = ("t1.r0", "t1.r1")
    one_executor(s, t1)
    s.submit(task("t2", deps=["t1.r0"]), 1.0)
    s.submit(task("t3", deps=["t1.r1"]), 1.0)
    effects = s.task_done("p-e1", "t1", 0.5, 2.0, errors={"t1.r1": b"ValueError"})
    assert Fail("t1.r1", "blob", blob=b"ValueError") in effects
    assert Fail("t3", "blob", blob=b"ValueError") in effects
    assert "t2" in s.tasks and "t3" not in s.tasks and "t1.r0" in s.ready_objects


def test_failure_fails_every_return_and_cancel_by_any_return():
    s = make()
    t1 = task("t1", max_retries=0)
    t1.outputs = ("t1.r0", "t1.r1")
    one_executor(s, t1)
    effects = s.task_failed("p-e1", "t1", b"E", 0.1, 1.0)
    assert effects[:3] == [
        Fail("t1.r0", "blob", blob=b"E"),
        Fail("t1.r1", "blob", blob=b"E"),
        Finished("t1", []),
    ]
    t2 = task("t2")
    t2.outputs = ("t2.r0", "t2.r1")
    s.submit(t2, 2.0)
    effects = s.cancel("t2.r1", 2.0)
    assert [e.task_id for e in effects if isinstance(e, Fail)] == ["t2.r0", "t2.r1"]
    assert not s.producers


def test_max_calls_drains_the_executor_after_that_many_calls():
    s = make()
    a, b, c = task("t1"), task("t2"), task("t3")
    for t in (a, b, c):
        t.max_calls = 2
    assert one_executor(s, a, b, c) == [Dispatch("p-e1", "t1", True)]
    effects = s.task_done("p-e1", "t1", 0.0001, 1.0)
    assert Dispatch("p-e1", "t2", False) in effects
    assert s.leases["p-e1"].draining  # two calls sent: no third
    effects = s.task_done("p-e1", "t2", 0.0001, 2.0)
    assert KillExecutor("ag1", "p-e1") in effects
    assert not s.suppressed  # t3 needs a fresh executor
    assert s.tasks["t3"].state is TaskState.READY


def test_max_retries_minus_one_retries_without_limit():
    s = make()
    one_executor(s, task("t1", max_retries=-1, retry_exceptions=True))
    for attempt in range(20):
        assert s.will_retry("t1")
        s.task_failed("p-e1", "t1", b"E", 0.1, float(attempt))
        assert s.tasks["t1"].state is TaskState.DISPATCHED


def test_retryable_verdict_overrides_retry_exceptions():
    s = make()
    one_executor(s, task("t1", retry_exceptions=True))
    assert not s.will_retry("t1", retryable=False)
    effects = s.task_failed("p-e1", "t1", b"KeyError", 0.1, 1.0, retryable=False)
    assert effects[0] == Fail("t1", "blob", blob=b"KeyError")


def test_recursive_cancel_cancels_the_tasks_a_task_submitted():
    s = make()
    one_executor(s, task("parent"))
    child, grandchild, other = task("child"), task("grandchild"), task("other")
    child.parent_id, grandchild.parent_id = "parent", "child"
    for t in (child, grandchild, other):
        s.submit(t, 1.0)
    effects = s.cancel("parent", 2.0, recursive=True)
    cancelled = {e.task_id for e in effects if isinstance(e, Fail)}
    assert cancelled == {"parent", "child", "grandchild"}
    assert "other" in s.tasks and not s.children
    s.submit(task("c2"), 3.0)
    assert s.cancel("c2", 3.0) != []  # not recursive: no children to walk


def test_hard_node_affinity_runs_only_on_its_agent():
    s = make()
    s.cluster(agents(("ag1", BIG), ("ag2", BIG)), 0.0)
    pinned = Shape(SHAPE, node="ag2")
    s.submit(task("t1", shape=pinned), 0.0)
    assert s.offers([offer("O1", BIG, "ag1")], 1.0)[0] == DeclineOffers(["O1"], 1.0)
    assert s.offers([offer("O2", BIG, "ag2")], 1.0)[0] == LaunchExecutors(
        "ag2", ["O2"], [("p-e1", pinned)], 5.0
    )


def test_hard_node_affinity_to_an_unknown_agent_is_unschedulable():
    s = make()
    s.cluster(agents(("ag1", BIG)), 0.0)
    effects = s.submit(task("t1", shape=Shape(SHAPE, node="gone")), 0.0)
    assert effects[0].kind == "unschedulable" and "on gone" in effects[0].message


def test_soft_node_affinity_falls_back_when_its_agent_is_gone():
    s = make()
    s.cluster(agents(("ag1", BIG)), 0.0)
    s.submit(task("t1", shape=Shape(SHAPE, node="gone", soft=True)), 0.0)
    assert s.tasks["t1"].shape == SHAPE  # relaxed at once
    s.cluster(agents(("ag1", BIG), ("ag2", BIG)), 1.0)
    s.submit(task("t2", shape=Shape(SHAPE, node="ag2", soft=True)), 1.0)
    s.cluster(agents(("ag1", BIG)), 2.0)  # ag2 leaves: t2 may run anywhere now
    assert s.tasks["t2"].shape == SHAPE and s.tasks["t2"].state is TaskState.READY


def test_spread_launches_on_every_agent_of_the_round():
    s = make()
    spread = Shape(SHAPE, spread=True)
    for i in range(4):
        s.submit(task(f"t{i}", shape=spread), 0.0)
    effects = s.offers([offer("O1", BIG, "ag1"), offer("O2", BIG, "ag2")], 1.0)
    launches = [e for e in effects if isinstance(e, LaunchExecutors)]
    assert [(e.agent_id, len(e.executors)) for e in launches] == [("ag1", 2), ("ag2", 2)]
    # the same tasks packed (DEFAULT) fill the first agent
    s = make()
    for i in range(4):
        s.submit(task(f"t{i}"), 0.0)
    effects = s.offers([offer("O1", BIG, "ag1"), offer("O2", BIG, "ag2")], 1.0)
    launches = [e for e in effects if isinstance(e, LaunchExecutors)]
    assert [(e.agent_id, len(e.executors)) for e in launches] == [("ag1", 4)]


def test_executors_of_different_runtime_envs_are_different_kinds():
    s = make()
    s.submit(task("t1", shape=Shape(SHAPE, env="k1")), 0.0)
    s.submit(task("t2", shape=Shape(SHAPE, env="k2")), 0.0)
    s.submit(task("t3", shape=SHAPE), 0.0)
    (launch, *_) = s.offers([offer("O1", BIG)], 1.0)
    shapes = [shape for _, shape in launch.executors]
    assert len(set(shapes)) == 3 and {extras_of(x)[0] for x in shapes} == {"k1", "k2", ""}


def test_spread_fills_the_agents_holding_fewest_first_across_rounds():
    s = make()
    spread = Shape(SHAPE, spread=True)
    s.submit(task("t0", shape=spread), 0.0)
    first = s.offers([offer("O1", BIG, "ag1"), offer("O2", BIG, "ag2")], 1.0)
    assert first[0] == LaunchExecutors("ag1", ["O1"], [("p-e1", spread)], 5.0)
    s.submit(task("t1", shape=spread), 2.0)
    second = s.offers([offer("O3", BIG, "ag1"), offer("O4", BIG, "ag2")], 3.0)
    assert second[0] == DeclineOffers(["O3"], 1.0)
    assert second[1] == LaunchExecutors("ag2", ["O4"], [("p-e2", spread)], 5.0)


def test_a_drained_executor_is_stopped_even_when_nothing_else_waits():
    s = make()
    t1 = task("t1")
    t1.max_calls = 1
    one_executor(s, t1)
    assert KillExecutor("ag1", "p-e1") in s.task_done("p-e1", "t1", 0.1, 1.0)


def test_the_first_gpu_task_declares_the_gpu_capability_once():
    s = make()
    assert UseGpus() not in s.submit(task("t1"), 0.0)
    assert UseGpus() in s.submit(task("t2", shape=R(cpus=1, gpus=0.5)), 0.0)
    assert UseGpus() not in s.submit(task("t3", shape=R(cpus=1, gpus=1)), 0.0)
    assert s.uses_gpus


def test_a_blocked_task_lends_its_executor_to_smaller_shapes():
    s = make()
    one_executor(s, task("parent", shape=BIG))
    small = task("child", fn="g", shape=SHAPE)
    s.submit(small, 1.0)  # no executor of its shape, and none can start: BIG holds the agent
    assert s.tasks["child"].state is TaskState.READY
    effects = s.blocked("p-e1", +1, 2.0)  # the parent waits in get: its executor is lent
    assert Dispatch("p-e1", "child", True) in effects
    # the lender dies: the borrowed task goes back to its own shape's queue
    s.executor_gone("p-e1", "executor_lost", "killed", 3.0)
    assert list(s.ready[SHAPE]) == ["child"] and "p-e1" not in s.lenders


def test_nothing_bigger_or_of_another_env_is_lent_to():
    s = make()
    one_executor(s, task("parent", shape=SHAPE))
    s.submit(task("big", fn="g", shape=BIG), 1.0)
    s.submit(task("other-env", fn="h", shape=Shape(SHAPE, env="k1")), 1.0)
    effects = s.blocked("p-e1", +1, 2.0)
    assert not [e for e in effects if isinstance(e, Dispatch)]


# --- locality ---------------------------------------------------------------------------------


def test_task_goes_to_the_agent_holding_its_large_input():
    s = make()
    s.submit(task("warm1"), 0.0)
    s.submit(task("warm2"), 0.0)
    s.offers([offer("O1", SHAPE, "ag1"), offer("O2", SHAPE, "ag2")], 0.0)
    s.executor_connected("p-e1", 0.0)  # on ag1
    s.executor_connected("p-e2", 0.0)  # on ag2
    s.task_done("p-e1", "warm1", 1.0, 1.0)
    s.task_done("p-e2", "warm2", 1.0, 1.0)
    s.homes.record("big", "ag2", 100 * 2**20)
    s.object_ready("big", 1.0)
    # both executors are idle; the first in order is on ag1, but the input lives on ag2
    assert s.submit(task("t", deps=["big"]), 2.0) == [Dispatch("p-e2", "t", False)]
    s.homes.record("small", "ag2", 1000)  # too small to matter: first free executor
    s.object_ready("small", 2.0)
    assert s.submit(task("u", deps=["small"]), 2.0) == [Dispatch("p-e1", "u", False)]
    s.forget_object("big")
    assert len(s.homes) == 1


def test_a_lender_without_room_is_not_looked_at_until_a_borrowed_task_ends():
    s = make()
    one_executor(s, task("parent", shape=BIG))
    for name in ("c1", "c2"):
        s.submit(task(name, fn="g", shape=SHAPE), 1.0)
    effects = s.blocked("p-e1", +1, 2.0)  # one slot lent: c1 runs there, c2 waits
    assert [e.task_id for e in effects if isinstance(e, Dispatch)] == ["c1"]
    s.submit(task("c3", fn="g", shape=SHAPE), 2.5)  # a pump: the full lender is dropped
    assert "p-e1" not in s.lenders
    effects = s.task_done("p-e1", "c1", 0.1, 3.0)  # its slot is free again: lent to c2
    assert [e.task_id for e in effects if isinstance(e, Dispatch)] == ["c2"]
