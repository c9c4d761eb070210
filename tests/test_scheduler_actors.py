"""The actor decisions of the scheduler core (``scheduler/actors.py``): feed creations, offers,
calls and executor events; compare the effects; check the invariants after every step.

Executors get ids ``p-e1``, ``p-e2``, ... in launch order; actor ``A`` has creation ``A.c0``
(restarts make ``A.c1``, ...).
"""

from __future__ import annotations

import pytest

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import (
    ACTOR_TRANSITIONS,
    ActorState,
    ExecutorState,
    IllegalTransition,
    TaskState,
)
from pymesos_rt.scheduler.actors import DRIVER, STOP_GRACE_S, Actor
from pymesos_rt.scheduler.effects import (
    ActorEnded,
    DeclineOffers,
    Dispatch,
    Fail,
    Finished,
    KillExecutor,
    LaunchExecutors,
    SetSuppressed,
    StopExecutor,
)
from pymesos_rt.scheduler.records import SchedulerConfig, Task
from pymesos_rt.scheduler.state import SchedulerState

R = Resources
PLACE = R(cpus=1)  # a default actor needs 1 CPU free to be placed...
HOLD = R()  # ...and its executor holds nothing


class Checked(SchedulerState):
    """A scheduler core that checks the actor invariants after every entry call returns
    (not after the calls the core makes to itself meanwhile)."""

    depth = 0

    def __getattribute__(self, name: str):
        attr = super().__getattribute__(name)
        if name in _ENTRIES and callable(attr):

            def checked(*args, **kwargs):
                Checked.depth += 1
                try:
                    out = attr(*args, **kwargs)
                finally:
                    Checked.depth -= 1
                if Checked.depth == 0:
                    super(Checked, self).__getattribute__("actors").validate()
                return out

            return checked
        return attr


_ENTRIES = {
    "submit",
    "object_ready",
    "object_failed",
    "cancel",
    "task_done",
    "task_failed",
    "executor_connected",
    "executor_update",
    "executor_gone",
    "offers",
    "tick",
    "cluster",
    "blocked",
}


def make() -> SchedulerState:
    return Checked("p", SchedulerConfig())


def new_actor(
    s: SchedulerState,
    aid: str = "A",
    *,
    deps: tuple[str, ...] = (),
    max_restarts: int = 0,
    concurrency: int = 1,
    name: str = "",
    holder: str = DRIVER,
    placement: Resources = PLACE,
    shape: Resources = HOLD,
    now: float = 0.0,
) -> list:
    actor = Actor(aid, "Counter", placement, shape, max_restarts, concurrency, "cls", list(deps))
    actor.name = name
    creation = Task(f"{aid}.c0", "Counter.__init__", "cls", placement, list(deps), 0, False)
    out = s.actors.create(actor, creation, holder, now)
    s.actors.validate()
    return out


def call(
    s: SchedulerState,
    tid: str,
    aid: str = "A",
    *,
    caller: str = DRIVER,
    deps: tuple[str, ...] = (),
    retries: int = 0,
    now: float = 0.0,
) -> list:
    task = Task(
        tid, f"Counter.m{tid}", "", R(), list(deps), retries, False, actor_id=aid, caller=caller
    )
    return s.submit(task, now)


def offer(oid: str, res: Resources, agent: str = "ag1") -> m.Offer:
    return m.Offer(oid, "fw1", agent, f"host-{agent}", res)


def update(eid: str, state: ExecutorState, message: str = "", agent: str = "ag1") -> m.StatusUpdate:
    return m.StatusUpdate("u", agent, "fw1", eid, state, message, -9)


def alive(s: SchedulerState, aid: str = "A", eid: str = "p-e1") -> None:
    """Place actor ``aid`` on a new executor ``eid``, connect it and finish the constructor."""
    s.offers([offer("O", R(cpus=2))], 0.0)
    effects = s.executor_connected(eid, 0.0)
    assert effects[0] == Dispatch(eid, s.actors.actors[aid].creation_id, True)
    s.task_done(eid, s.actors.actors[aid].creation_id, 0.01, 0.0)
    assert s.actors.actors[aid].state is ActorState.ALIVE


# --- states -----------------------------------------------------------------------------------


def test_actor_transitions_are_a_table():
    assert ACTOR_TRANSITIONS[ActorState.DEAD] == frozenset()
    actor = Actor("A", "C", PLACE, HOLD, 0, 1, "cls", [])
    actor.move(ActorState.ALIVE)
    actor.move(ActorState.RESTARTING)
    actor.move(ActorState.RESTARTING)  # the new executor died too
    actor.move(ActorState.DEAD)
    with pytest.raises(IllegalTransition):
        actor.move(ActorState.ALIVE)
    assert actor.state is ActorState.DEAD


# --- placement and sending --------------------------------------------------------------------


def test_default_actor_needs_one_cpu_free_and_holds_nothing():
    s = make()
    s.tick(0.0)  # nothing to run: SUPPRESS
    assert new_actor(s) == [SetSuppressed(False)]  # REVIVE: the actor wants an executor
    # half a CPU free cannot place it
    assert s.offers([offer("O1", R(cpus=0.5))], 1.0) == [DeclineOffers(["O1"], 1.0)]
    # one CPU can, and it holds none of it: the offer stays free for others
    assert s.offers([offer("O2", R(cpus=1, mem=100))], 2.0) == [
        LaunchExecutors("ag1", ["O2"], [("p-e1", HOLD)], 5.0),
        SetSuppressed(True),
    ]
    lease = s.leases["p-e1"]
    assert lease.actor_id == "A" and s.actors.actors["A"].executor_id == "p-e1"


def test_many_small_actors_share_one_cpu_offer():
    s = make()
    for i in range(5):
        new_actor(s, f"A{i}")
    launched = s.offers([offer("O1", R(cpus=1.05))], 1.0)
    assert launched[0] == LaunchExecutors(
        "ag1", ["O1"], [(f"p-e{i + 1}", HOLD) for i in range(5)], 5.0
    )


def test_constructor_first_then_calls_in_order_without_waiting():
    s = make()
    new_actor(s)
    assert call(s, "t1") == []  # no executor yet: queued
    assert call(s, "t2") == []
    s.offers([offer("O1", R(cpus=2))], 1.0)
    # the constructor and both calls go at once, constructor first
    assert s.executor_connected("p-e1", 2.0) == [
        Dispatch("p-e1", "A.c0", True),
        Dispatch("p-e1", "t1", True),
        Dispatch("p-e1", "t2", False),
    ]
    assert s.actors.actors["A"].state is ActorState.PENDING
    assert call(s, "t3") == [Dispatch("p-e1", "t3", False)]  # no pipeline limit
    assert s.task_done("p-e1", "A.c0", 0.1, 3.0) == [Finished("A.c0", [])]
    assert s.actors.actors["A"].state is ActorState.ALIVE
    assert s.task_done("p-e1", "t1", 0.1, 3.0) == [Finished("t1", [])]
    assert s.tasks["t2"].state is TaskState.DISPATCHED


def test_a_callers_call_waiting_for_an_argument_holds_back_only_its_own_later_calls():
    s = make()
    new_actor(s)
    alive(s)
    assert call(s, "t1", deps=("x",)) == []  # x is not ready
    assert call(s, "t2") == []  # same caller: behind t1
    assert call(s, "t3", caller="p-e9") == [Dispatch("p-e1", "t3", True)]  # another caller
    assert s.object_ready("x", 4.0) == [
        Dispatch("p-e1", "t1", False),
        Dispatch("p-e1", "t2", False),
    ]


def test_failed_argument_fails_the_call_and_releases_the_callers_queue():
    s = make()
    new_actor(s)
    alive(s)
    call(s, "t1", deps=("x",))
    call(s, "t2")
    effects = s.object_failed(Fail("x", "blob", blob=b"E"), 5.0)
    assert Fail("t1", "blob", "", b"E") in effects
    assert Dispatch("p-e1", "t2", True) in effects


def test_actor_executors_never_run_tasks_and_never_idle_out():
    s = make()
    new_actor(s, placement=R(cpus=1), shape=R(cpus=1))
    alive(s)
    # a plain task of the same shape as the actor's executor needs an executor of its own
    s.submit(Task("f1", "f", "f-id", R(cpus=1), [], 3, False), 1.0)
    assert s.tasks["f1"].state is TaskState.READY
    assert not [e for e in s.tick(1000.0) if isinstance(e, KillExecutor)]
    assert "p-e1" in s.leases


# --- failures and restarts --------------------------------------------------------------------


def test_executor_death_without_restarts_fails_every_unanswered_call():
    s = make()
    new_actor(s)
    alive(s)
    call(s, "t1")
    call(s, "t2")
    effects = s.executor_update(update("p-e1", ExecutorState.FAILED, "killed by signal 9"), 5.0)
    fails = [e for e in effects if isinstance(e, Fail)]
    assert [f.task_id for f in fails] == ["t1", "t2"]
    assert all(f.kind == "actor_died" for f in fails)
    assert "Counter (A)" in fails[0].message and "killed by signal 9" in fails[0].message
    assert ActorEnded("A", []) in effects
    assert s.actors.actors["A"].state is ActorState.DEAD
    # later calls fail at once with the same cause
    late = call(s, "t3")
    assert late[0] == Fail(
        "t3", "actor_died", "call Counter.mt3 failed: " + s.actors.actors["A"].cause
    )


def test_oom_names_the_memory_limit():
    s = make()
    new_actor(s)
    alive(s)
    call(s, "t1")
    effects = s.executor_update(
        update("p-e1", ExecutorState.OOM, "memory limit of 64 MiB reached"), 5.0
    )
    fail = next(e for e in effects if isinstance(e, Fail))
    assert "ran out of memory" in fail.message and "64 MiB" in fail.message


def test_restart_reruns_the_constructor_and_fails_unanswered_calls_at_most_once():
    s = make()
    new_actor(s, max_restarts=1)
    alive(s)
    call(s, "t1")  # sent: running, or done with its result still on its way
    call(s, "t2", retries=1)  # sent, may have run too: it has a retry
    call(s, "t3", deps=("x",))  # still waiting for its argument in the driver
    effects = s.executor_update(update("p-e1", ExecutorState.FAILED, "signal 9"), 5.0)
    assert [e.task_id for e in effects if isinstance(e, Fail)] == ["t1"]  # no task retries
    actor = s.actors.actors["A"]
    assert actor.state is ActorState.RESTARTING and actor.restarts == 1
    assert actor.creation_id == "A.c1" and s.tasks["A.c1"].state is TaskState.READY
    assert s.tasks["t2"].state is TaskState.READY and s.tasks["t2"].attempts == 1
    assert s.offers([offer("O2", R(cpus=1))], 6.0)[0] == LaunchExecutors(
        "ag1", ["O2"], [("p-e2", HOLD)], 5.0
    )
    assert s.executor_connected("p-e2", 7.0) == [
        Dispatch("p-e2", "A.c1", True),
        Dispatch("p-e2", "t2", True),
    ]
    assert s.object_ready("x", 7.5) == [Dispatch("p-e2", "t3", False)]
    s.task_done("p-e2", "A.c1", 0.1, 8.0)
    assert actor.state is ActorState.ALIVE
    # the second death has no restart left
    s.executor_update(update("p-e2", ExecutorState.FAILED, "signal 9"), 9.0)
    assert actor.state is ActorState.DEAD and "after 1 restart(s)" in actor.cause


def test_max_task_retries_rerun_the_running_call():
    s = make()
    new_actor(s, max_restarts=-1)
    alive(s)
    call(s, "t1", retries=1)
    s.executor_update(update("p-e1", ExecutorState.FAILED), 5.0)
    assert s.tasks["t1"].state is TaskState.READY and s.tasks["t1"].attempts == 1
    s.offers([offer("O2", R(cpus=1))], 6.0)
    assert Dispatch("p-e2", "t1", True) in s.executor_connected("p-e2", 7.0)
    s.task_done("p-e2", "A.c1", 0.1, 8.0)
    # it ran twice: no retry is left for a third death, but restarts are without limit
    effects = s.executor_update(update("p-e2", ExecutorState.FAILED), 9.0)
    assert [e.task_id for e in effects if isinstance(e, Fail)] == ["t1"]
    assert s.actors.actors["A"].state is ActorState.RESTARTING


def test_death_while_constructing_restarts_without_failing_queued_calls():
    s = make()
    new_actor(s, max_restarts=2)
    call(s, "t1")
    s.offers([offer("O1", R(cpus=1))], 1.0)
    s.executor_connected("p-e1", 1.0)  # constructor and t1 sent
    effects = s.executor_update(update("p-e1", ExecutorState.FAILED), 2.0)
    assert not [e for e in effects if isinstance(e, Fail)]
    assert s.tasks["t1"].state is TaskState.READY


def test_constructor_error_kills_the_actor_and_every_call_raises_it():
    s = make()
    new_actor(s, max_restarts=5)
    call(s, "t1")
    s.offers([offer("O1", R(cpus=1))], 1.0)
    s.executor_connected("p-e1", 1.0)
    effects = s.task_failed("p-e1", "A.c0", b"CTOR", 0.1, 2.0)
    assert Fail("t1", "blob", blob=b"CTOR") in effects
    assert StopExecutor("p-e1") in effects  # graceful: it ends by itself
    assert s.actors.actors["A"].state is ActorState.DEAD
    assert call(s, "t2")[0] == Fail("t2", "blob", blob=b"CTOR")
    # not gone after the grace period: killed
    assert s.tick(1.0 + STOP_GRACE_S + 2.0)[0] == KillExecutor("ag1", "p-e1")


def test_a_failing_call_leaves_the_actor_alive():
    s = make()
    new_actor(s)
    alive(s)
    call(s, "t1")
    call(s, "t2")
    assert s.task_failed("p-e1", "t1", b"E", 0.1, 2.0)[0] == Fail("t1", "blob", blob=b"E")
    assert s.actors.actors["A"].state is ActorState.ALIVE
    assert s.tasks["t2"].state is TaskState.DISPATCHED


def test_kill_without_restart_and_with():
    s = make()
    new_actor(s, "A", max_restarts=3)
    new_actor(s, "B", max_restarts=3)
    s.offers([offer("O1", R(cpus=2))], 0.0)
    for eid, aid in (("p-e1", "A"), ("p-e2", "B")):
        s.executor_connected(eid, 0.0)
        s.task_done(eid, f"{aid}.c0", 0.1, 0.0)
    call(s, "t1", "A")
    effects = s.actors.kill("A", True, 1.0)
    assert KillExecutor("ag1", "p-e1") in effects
    assert (
        Fail(
            "t1", "actor_died", "call Counter.mt1 failed: actor Counter (A) was killed by rt.kill()"
        )
        in effects
    )
    assert s.actors.actors["A"].state is ActorState.DEAD
    # no_restart=False: the kill counts as a death, and B restarts
    assert s.actors.kill("B", False, 1.0) == [KillExecutor("ag1", "p-e2")]
    s.executor_update(update("p-e2", ExecutorState.KILLED), 2.0)
    assert s.actors.actors["B"].state is ActorState.RESTARTING


def test_exit_fails_what_is_unanswered_and_kills_a_process_that_lingers():
    s = make()
    new_actor(s)
    alive(s)
    call(s, "t1")
    effects = s.actors.exited("p-e1", "rt.exit_actor() was called", 3.0)
    assert [e.task_id for e in effects if isinstance(e, Fail)] == ["t1"]
    assert not [e for e in effects if isinstance(e, StopExecutor | KillExecutor)]
    assert KillExecutor("ag1", "p-e1") not in s.tick(3.0 + STOP_GRACE_S - 0.1)
    assert KillExecutor("ag1", "p-e1") in s.tick(3.0 + STOP_GRACE_S)
    # the executor ends: nothing more happens to the dead actor
    effects = s.executor_update(update("p-e1", ExecutorState.FINISHED), 9.0)
    assert not [e for e in effects if isinstance(e, Fail | KillExecutor)]
    assert s.actors.actors["A"].state is ActorState.DEAD and "p-e1" not in s.leases


def test_unschedulable_actor_fails_when_the_cluster_is_known():
    s = make()
    new_actor(s, placement=R(cpus=8), shape=R(cpus=8))
    call(s, "t1")
    effects = s.cluster([m.AgentSummary("ag1", "h", R(cpus=2))], 1.0)
    fail = next(e for e in effects if isinstance(e, Fail))
    assert fail.task_id == "t1" and fail.kind == "unschedulable"
    assert s.actors.actors["A"].state is ActorState.DEAD


# --- names ------------------------------------------------------------------------------------


def test_names_are_unique_while_the_actor_lives():
    s = make()
    new_actor(s, "A", name="counter")
    assert s.actors.lookup("counter", "").actor_id == "A"
    with pytest.raises(ValueError, match="already taken"):
        new_actor(s, "B", name="counter")
    assert s.actors.lookup("counter", "other") is None
    s.actors.kill("A", True, 1.0)
    assert s.actors.lookup("counter", "") is None
    new_actor(s, "C", name="counter")  # the name is free again
    assert s.actors.lookup("counter", "").actor_id == "C"


# --- handles ----------------------------------------------------------------------------------


def test_out_of_scope_actor_stops_after_its_queued_calls():
    s = make()
    new_actor(s)
    alive(s)
    call(s, "t1")
    assert s.actors.handle_local("A", False, 1.0) == []  # t1 still runs
    effects = s.task_done("p-e1", "t1", 0.1, 2.0)
    assert StopExecutor("p-e1") in effects
    assert s.actors.actors["A"].state is ActorState.DEAD
    assert "no handle" in s.actors.actors["A"].cause


def test_pins_and_other_holders_keep_an_actor_alive():
    s = make()
    new_actor(s)
    alive(s)
    s.actors.pin(["A"])  # a task carries a handle
    assert s.actors.handle_local("A", False, 1.0) == []
    assert s.actors.handle_held("p-e7", "A", True, 1.0) == []  # ...which its executor holds
    assert s.actors.unpin(["A"], 2.0) == []
    assert s.actors.actors["A"].state is ActorState.ALIVE
    # the holding executor ends: no handle is left
    effects = s.actors.holder_gone("p-e7", 3.0)
    assert StopExecutor("p-e1") in effects


def test_escaped_handle_keeps_the_actor_for_the_session():
    s = make()
    new_actor(s)
    alive(s)
    s.actors.escape("A")
    assert s.actors.handle_local("A", False, 1.0) == []
    assert s.actors.actors["A"].state is ActorState.ALIVE


def test_actor_created_in_an_executor_is_held_by_it():
    s = make()
    new_actor(s, holder="p-e9")
    assert s.actors.actors["A"].holders == {"p-e9"}
    effects = s.actors.holder_gone("p-e9", 1.0)  # before it was placed
    assert ActorEnded("A", []) in effects
    assert s.actors.actors["A"].state is ActorState.DEAD
    assert "A" not in s.actors.waiting


def test_only_the_last_dead_actors_are_remembered(monkeypatch):
    monkeypatch.setattr("pymesos_rt.scheduler.actors.MAX_DEAD_KEPT", 2)
    s = make()
    for aid in ("A", "B", "C"):
        new_actor(s, aid, holder="p-e9")
        s.actors.kill(aid, True, 1.0)
    assert set(s.actors.actors) == {"B", "C"}
    late = call(s, "t1", "A")
    assert late[0].kind == "actor_died" and "dead, or unknown" in late[0].message


def test_cpus_of_tasks_blocked_in_get_can_place_a_default_actor():
    """Ray releases a CPU while its task waits in get (test_fork_consistency: tasks that call an
    actor not placed yet hold every CPU). Here such an executor lends its CPUs on its agent to
    actors that hold fewer CPUs than they need free to be placed."""
    s = make()
    for tid in ("t1", "t2"):
        s.submit(Task(tid, "fork", "fork-id", R(cpus=1), [], 0, False), 0.0)
    launched = s.offers([offer("O1", R(cpus=2, mem=100))], 0.0)
    assert launched[0] == LaunchExecutors(
        "ag1", ["O1"], [("p-e1", R(cpus=1)), ("p-e2", R(cpus=1))], 5.0
    )
    s.executor_connected("p-e1", 0.0)
    s.executor_connected("p-e2", 0.0)
    new_actor(s, "A", now=1.0)
    new_actor(s, "B", placement=R(cpus=1), shape=R(cpus=1), now=1.0)  # holds its CPU
    # what is left of the agent has no CPU: nothing is placed
    assert s.offers([offer("O2", R(mem=100))], 1.0)[0] == DeclineOffers(["O2"], 1.0)
    s.blocked("p-e1", +1, 2.0)  # t1 waits in get: its CPU is lent
    assert s.actors.lending.on("ag1") == 1.0
    assert s.offers([offer("O3", R(mem=100), agent="ag2")], 2.0)[0] == DeclineOffers(["O3"], 1.0)
    # on its own agent, A is placed on it (holding nothing); B, which would hold it, is not
    assert s.offers([offer("O4", R(mem=100))], 3.0)[0] == LaunchExecutors(
        "ag1", ["O4"], [("p-e3", HOLD)], 1.0
    )
    assert s.actors.actors["A"].executor_id == "p-e3"
    assert s.actors.actors["B"].executor_id is None
    s.blocked("p-e1", -1, 4.0)  # t1 runs again: nothing lent
    assert s.actors.lending.on("ag1") == 0.0
    s.blocked("p-e2", +1, 5.0)
    s.executor_gone("p-e2", "executor_lost", "connection closed", 6.0)
    assert s.actors.lending.on("ag1") == 0.0


def test_a_lost_agent_without_restarts_fails_the_calls_naming_the_agent():
    """Ray: test_exception_raised_when_actor_node_dies (calls made before and after the loss
    is known all fail with ActorDiedError)."""
    s = make()
    new_actor(s)
    alive(s)
    call(s, "t1")
    effects = s.executor_update(update("p-e1", ExecutorState.LOST, "agent ag1 lost"), 5.0)
    fail = next(e for e in effects if isinstance(e, Fail))
    assert fail.kind == "actor_died" and "its agent ag1 was lost" in fail.message
    assert s.actors.actors["A"].state is ActorState.DEAD
    assert call(s, "t2")[0].kind == "actor_died"
