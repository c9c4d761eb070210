"""The framework's actor decisions (sans-IO): lifecycle, restarts, call order, names, handles.

Rules kept here:
- An actor is an executor (a ``Lease`` with ``actor_id``) launched from an offer for it alone
  and held for its life. An offer must have the actor's *placement* free (Ray's default
  actor: 1 CPU), and the executor holds the actor's *shape* (default: 0.01 CPU, so many
  small actors fit on a small node). Nothing else runs on that executor.
- Its creation is a task (the constructor) sent first; its calls are tasks sent to that
  executor as soon as they are ready, right behind the constructor, with no pipeline limit:
  the executor queues them and runs them in order (sync actors) or concurrently.
- Calls of one caller (the driver, or one executor) are sent in submission order: a call
  still waiting for its arguments holds back the same caller's later calls, not others'.
- States (``protocol/states.py``): PENDING -> ALIVE when the constructor returns; ALIVE or
  PENDING -> RESTARTING when the executor dies with restarts left (``max_restarts``, -1: no
  limit; the constructor runs again with its original arguments on a new executor);
  DEAD when the constructor raised, ``rt.kill``, ``rt.exit_actor()``/the graceful stop
  method, every handle gone (after the calls already queued), or the executor died with no
  restarts left. DEAD is final; later calls fail at once with the cause.
- When the executor dies, every call sent to it after its constructor returned and not yet
  answered may have run (results of finished calls can still be on their way): each uses one
  of ``max_task_retries`` (-1: no limit), going back to the front of its caller's queue, or
  fails with ``actor_died`` (at most once, as in Ray). Calls sent while the constructor still
  ran had not started: they go back without using a retry.
- Handles: an actor lives while the driver holds a handle, an executor holds one, an
  unfinished task carries one in its arguments, or one was pickled into a value or a
  function (*escaped*: it then lives until the program ends or ``rt.kill``).
- Names are unique per namespace within the framework, and freed when the actor is DEAD.

No I/O, no clock: every entry takes ``now`` and returns effects. Owned by
:class:`~pymesos_rt.scheduler.state.SchedulerState`, whose task and lease records it shares.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pymesos_rt.protocol.resources import CPUS, Resources
from pymesos_rt.protocol.states import ActorState, TaskState, check_actor_transition
from pymesos_rt.scheduler.actor_handles import HandleCounts
from pymesos_rt.scheduler.actor_lending import Lending
from pymesos_rt.scheduler.effects import (
    ActorEnded,
    Effect,
    Fail,
    Finished,
    KillExecutor,
    StopExecutor,
)
from pymesos_rt.scheduler.records import Lease, Task

if TYPE_CHECKING:
    from pymesos_rt.scheduler.state import SchedulerState

STOP_GRACE_S = 5.0  # a gracefully stopped actor's executor is killed if still there after this
MAX_DEAD_KEPT = 10_000  # dead actors remembered (their later calls fail with the cause)
DRIVER = "driver"  # the caller name of calls the driver itself submits


@dataclass
class Actor:
    actor_id: str
    class_name: str
    placement: Resources  # what an offer must have free to place it
    shape: Resources  # what its executor holds
    max_restarts: int
    max_concurrency: int
    cls_id: str  # the creation task's function id (the class)
    dep_ids: list[str]  # the constructor's argument objects (kept for restarts)
    name: str = ""
    namespace: str = ""
    state: ActorState = ActorState.PENDING
    creation_id: str = ""  # the current creation task (a new one per restart)
    executor_id: str | None = None
    agent_id: str = ""
    restarts: int = 0
    queues: dict[str, deque[str]] = field(default_factory=dict)  # caller -> calls not sent
    # handles (see the module's rules)
    local: bool = False
    holders: set[str] = field(default_factory=set)
    pins: int = 0
    escaped: bool = False
    out_of_scope: bool = False
    kill_requested: bool = False  # rt.kill(no_restart=False): the next death may restart
    # why it is DEAD
    cause_kind: str = ""
    cause: str = ""
    cause_blob: bytes | None = None

    def move(self, new: ActorState) -> None:
        check_actor_transition(self.state, new)
        self.state = new

    def describe(self) -> str:
        named = f" {self.name!r}" if self.name else ""
        return f"{self.class_name}{named} ({self.actor_id})"

    def pending_calls(self) -> int:
        return sum(len(q) for q in self.queues.values())


class ActorBook(HandleCounts):
    def __init__(self, sched: SchedulerState) -> None:
        self.sched = sched
        self.actors: dict[str, Actor] = {}
        self.names: dict[tuple[str, str], str] = {}  # (namespace, name) -> actor id
        self.waiting: dict[str, None] = {}  # actors that want an executor, oldest first
        self.held_by: dict[str, set[str]] = {}  # executor id -> actors it holds handles of
        self.stopping: dict[str, float] = {}  # executor id -> when to kill it if still there
        self.changed: set[str] = set()  # actors whose summary changed (for /state)
        self.dead: deque[str] = deque()  # dead actors, oldest first (at most MAX_DEAD_KEPT)
        self.lending = Lending()  # CPUs of executors whose tasks are blocked in get
        self._seq = 0

    # --- creation ------------------------------------------------------------------------------
    def lookup(self, name: str, namespace: str) -> Actor | None:
        aid = self.names.get((namespace, name))
        return self.actors.get(aid) if aid is not None else None

    def create(self, actor: Actor, creation: Task, holder: str, now: float) -> list[Effect]:
        """A new actor; ``creation`` is its constructor task. ``holder`` is who holds its first
        handle: :data:`DRIVER` or the executor that created it."""
        if actor.name:
            if self.lookup(actor.name, actor.namespace) is not None:
                raise ValueError(f"the actor name {actor.name!r} is already taken")
            self.names[(actor.namespace, actor.name)] = actor.actor_id
        self.actors[actor.actor_id] = actor
        if holder == DRIVER:
            actor.local = True
        else:
            actor.holders.add(holder)
            self.held_by.setdefault(holder, set()).add(actor.actor_id)
        self.changed.add(actor.actor_id)
        for dep in actor.dep_ids:
            failure = self.sched.failed_objects.get(dep)
            if failure is not None:
                return self._die(actor, failure.kind, failure.message, now, failure.blob)
        return self._new_creation(actor, creation, now)

    def _new_creation(self, actor: Actor, creation: Task, now: float) -> list[Effect]:
        creation.actor_id = actor.actor_id
        actor.creation_id = creation.task_id
        return self.sched.submit(creation, now)

    def submitted(self, task: Task, now: float) -> list[Effect]:
        """A call (or creation) whose dependencies the scheduler has recorded."""
        actor = self.actors.get(task.actor_id)
        if actor is not None and task.task_id == actor.creation_id:
            if not task.missing:
                task.move(TaskState.READY)
                self._want_executor(actor)
            return self._pump(actor, None) + self.sched._want_offers()
        if actor is None or actor.state is ActorState.DEAD:
            death = self._death_of(actor, task)
            return self.sched._fail(task, death, now) + self._after(actor, now)
        self.changed.add(actor.actor_id)
        if not task.missing:
            task.move(TaskState.READY)
            if task.caller not in actor.queues:  # none of this caller's calls waits before it
                lease = self._sendable(actor)
                if lease is not None:
                    return [self.sched._send(task, lease, ())]
        queue = actor.queues.get(task.caller)
        if queue is None:
            queue = actor.queues[task.caller] = deque()
        queue.append(task.task_id)
        return self._pump(actor, task.caller)

    def ready(self, task: Task, now: float) -> list[Effect]:
        """An actor task's last missing argument exists (it is READY now)."""
        actor = self.actors.get(task.actor_id)
        if actor is None:
            return []
        if task.task_id == actor.creation_id:
            self._want_executor(actor)
            return self._pump(actor, None)
        return self._pump(actor, task.caller)

    def touch(self, task: Task, failure: Fail, now: float) -> list[Effect]:
        """An actor task that was not sent failed (an argument failed) or was cancelled."""
        actor = self.actors.get(task.actor_id)
        if actor is None or actor.state is ActorState.DEAD:
            return []
        if task.task_id == actor.creation_id:
            message = failure.message or f"an argument of actor {actor.describe()} failed"
            return self._die(actor, failure.kind, message, now, failure.blob)
        return self._pump(actor, task.caller) + self._maybe_stop(actor, now)

    def _want_executor(self, actor: Actor) -> None:
        if actor.executor_id is None and actor.state is not ActorState.DEAD:
            self.waiting[actor.actor_id] = None
            if actor.placement.get("gpus") > 0:
                self.sched.want_gpus()

    # --- sending -------------------------------------------------------------------------------
    def _sendable(self, actor: Actor) -> Lease | None:
        """The actor's executor, if calls can go to it now (its constructor was sent)."""
        lease = self.sched.leases.get(actor.executor_id) if actor.executor_id else None
        if lease is None or not lease.connected or lease.killing:
            return None
        creation = self.sched.tasks.get(actor.creation_id)
        if creation is not None and creation.state is not TaskState.DISPATCHED:
            return None
        return lease

    def _pump(self, actor: Actor, caller: str | None) -> list[Effect]:
        """Send what can go to the actor's executor: the constructor first, then, per caller in
        order, every call up to the first one still waiting for arguments."""
        lease = self.sched.leases.get(actor.executor_id) if actor.executor_id else None
        if lease is None or not lease.connected or lease.killing:
            return []
        tasks = self.sched.tasks
        effects: list[Effect] = []
        creation = tasks.get(actor.creation_id)
        if creation is not None and creation.state is not TaskState.DISPATCHED:
            if creation.state is not TaskState.READY:
                return []
            effects.append(self.sched._send(creation, lease, ()))
            self.changed.add(actor.actor_id)
        callers = list(actor.queues) if caller is None else [caller]
        for name in callers:
            queue = actor.queues.get(name)
            while queue:
                task = tasks.get(queue[0])
                if task is None or task.state.terminal or task.actor_id != actor.actor_id:
                    queue.popleft()  # failed or cancelled while queued
                    continue
                if task.state is not TaskState.READY:
                    break
                queue.popleft()
                effects.append(self.sched._send(task, lease, ()))
            if not queue:
                actor.queues.pop(name, None)
        return effects

    def place(self, agent_id: str, offered: Resources, now: float) -> list[Lease]:
        """Leases for waiting actors that fit ``offered``, oldest first (each needs its placement
        free and holds its shape)."""
        out: list[Lease] = []
        left = offered
        lent = self.lending.on(agent_id)  # see scheduler/actor_lending.py
        for aid in list(self.waiting):
            actor = self.actors[aid]
            if not actor.placement.fits(left):
                extra = actor.placement.get(CPUS) - actor.shape.get(CPUS)
                with_lent = left + Resources({CPUS: lent})
                if extra <= 0 or extra > lent or not actor.placement.fits(with_lent):
                    continue
                lent -= extra
            del self.waiting[aid]
            lease = self.sched.new_lease(agent_id, actor.shape, now, aid)
            actor.executor_id, actor.agent_id = lease.executor_id, agent_id
            left = left - actor.shape
            self.changed.add(aid)
            out.append(lease)
        return out

    def connected(self, lease: Lease, now: float) -> list[Effect]:
        actor = self.actors.get(lease.actor_id)
        if actor is None or actor.executor_id != lease.executor_id:
            return []
        return self._pump(actor, None)

    # --- results -------------------------------------------------------------------------------
    def task_done(self, task: Task, now: float) -> list[Effect]:
        """An actor task (already taken off its lease) returned."""
        sched = self.sched
        task.move(TaskState.FINISHED)
        sched.finished += 1
        del sched.tasks[task.task_id]
        actor = self.actors.get(task.actor_id)
        if actor is not None and task.task_id == actor.creation_id:
            actor.move(ActorState.ALIVE)
            self.changed.add(actor.actor_id)
            # the constructor's arguments stay pinned for restarts (ActorEnded unpins them)
            return [Finished(task.task_id, []), *self._maybe_stop(actor, now)]
        effects: list[Effect] = [Finished(task.task_id, task.dep_ids)]
        sched.ready_objects.add(task.task_id)
        if task.task_id in sched.dependents:  # else nothing waits on it: no task queue to pump
            effects += sched.object_ready(task.task_id, now)
        return effects + self._after(actor, now)

    def task_failed(self, task: Task, blob: bytes, now: float) -> list[Effect]:
        """An actor task raised: a call fails alone; a constructor kills the actor, and every
        call raises its error."""
        actor = self.actors.get(task.actor_id)
        if actor is not None and task.task_id == actor.creation_id:
            task.move(TaskState.FAILED)
            self.sched.failed += 1
            del self.sched.tasks[task.task_id]
            effects: list[Effect] = [Finished(task.task_id, [])]
            message = f"the constructor of actor {actor.describe()} raised"
            return effects + self._die(actor, "blob", message, now, blob)
        return self.sched._fail(task, Fail(task.task_id, "blob", blob=blob)) + self._after(
            actor, now
        )

    def _after(self, actor: Actor | None, now: float) -> list[Effect]:
        if actor is None:
            return []
        self.changed.add(actor.actor_id)
        return self._maybe_stop(actor, now) if actor.out_of_scope else []

    # --- deaths and restarts -------------------------------------------------------------------
    def executor_gone(self, lease: Lease, kind: str, detail: str, now: float) -> list[Effect]:
        """The actor's executor ended (the scheduler has dropped the lease)."""
        self.stopping.pop(lease.executor_id, None)
        actor = self.actors.get(lease.actor_id)
        if actor is None or actor.executor_id != lease.executor_id:
            return []
        actor.executor_id, actor.agent_id = None, ""
        self.changed.add(actor.actor_id)
        if actor.state is ActorState.DEAD:
            return []
        where = f"its executor {lease.executor_id} on agent {lease.agent_id} died ({detail})"
        if kind == "oom":
            where = f"its executor {lease.executor_id} ran out of memory ({detail})"
        elif kind == "node_lost":
            where = f"its agent {lease.agent_id} was lost ({detail})"
        if actor.kill_requested:
            where = f"it was killed by rt.kill() ({detail})"
        can_restart = actor.max_restarts < 0 or actor.restarts < actor.max_restarts
        if actor.out_of_scope or not can_restart:
            left = "" if actor.max_restarts == 0 else f" after {actor.restarts} restart(s)"
            message = f"actor {actor.describe()}: {where}{left}"
            return self._die(actor, "actor_died", message, now, gone=lease)
        return self._restart(actor, lease, f"actor {actor.describe()} restarted: {where}", now)

    def _restart(self, actor: Actor, lease: Lease, message: str, now: float) -> list[Effect]:
        sched = self.sched
        actor.move(ActorState.RESTARTING)
        actor.restarts += 1
        actor.kill_requested = False
        effects: list[Effect] = []
        sent = [
            t
            for t in (sched.tasks.get(tid) for tid in lease.inflight)
            if t is not None and t.state is TaskState.DISPATCHED
        ]
        creation_running = any(t.task_id == actor.creation_id for t in sent)
        calls = [t for t in sent if t.task_id != actor.creation_id]
        again: dict[str, list[str]] = {}
        for task in calls:
            retry = task.max_retries < 0 or task.attempts <= task.max_retries
            if not creation_running and not retry:
                effects += sched._fail(
                    task, Fail(task.task_id, "actor_died", f"{message}; call {task.name} lost"), now
                )
                continue
            if creation_running:
                task.attempts -= 1  # it never started
            task.move(TaskState.READY)
            task.executor_id = None
            again.setdefault(task.caller, []).append(task.task_id)
        for caller, ids in again.items():
            queue = actor.queues.setdefault(caller, deque())
            queue.extendleft(reversed(ids))
        old = sched.tasks.pop(actor.creation_id, None)
        if old is not None:
            old.move(TaskState.FAILED)
            effects.append(Finished(old.task_id, []))
        self._seq += 1
        creation = Task(
            f"{actor.actor_id}.c{self._seq}",
            f"{actor.class_name}.__init__",
            actor.cls_id,
            actor.placement,
            list(actor.dep_ids),
            0,
            False,
        )
        return effects + self._new_creation(actor, creation, now)

    def _die(
        self,
        actor: Actor,
        kind: str,
        message: str,
        now: float,
        blob: bytes | None = None,
        gone: Lease | None = None,
    ) -> list[Effect]:
        """Make ``actor`` DEAD: fail every call it has not answered (also those that were on
        ``gone``, its executor that just ended), stop its executor."""
        sched = self.sched
        actor.move(ActorState.DEAD)
        actor.cause_kind, actor.cause, actor.cause_blob = kind, message, blob
        self.changed.add(actor.actor_id)
        self.waiting.pop(actor.actor_id, None)
        if actor.name and self.names.get((actor.namespace, actor.name)) == actor.actor_id:
            del self.names[(actor.namespace, actor.name)]
        effects: list[Effect] = []
        lease = sched.leases.get(actor.executor_id) if actor.executor_id else None
        unanswered = list(lease.inflight) if lease is not None else []
        if gone is not None:
            unanswered.extend(gone.inflight)
        for queue in actor.queues.values():
            unanswered.extend(queue)
        actor.queues.clear()
        for tid in unanswered:
            task = sched.tasks.get(tid)
            if task is None or task.state.terminal:
                continue
            if lease is not None and task.executor_id == lease.executor_id:
                lease.remove(task)
            if tid == actor.creation_id:
                task.move(TaskState.FAILED)
                del sched.tasks[tid]
                effects.append(Finished(tid, []))
                continue
            effects += sched._fail(task, self._death_of(actor, task), now)
        creation = sched.tasks.pop(actor.creation_id, None)
        if creation is not None:  # waiting for its arguments or for an executor
            creation.move(TaskState.FAILED)
            effects.append(Finished(creation.task_id, []))
        if lease is not None and not lease.killing:
            lease.killing = True
            if lease.connected and kind != "actor_killed":
                # graceful: the executor runs its exit handlers and ends by itself
                effects.append(StopExecutor(lease.executor_id))
                self.stopping[lease.executor_id] = now + STOP_GRACE_S
            else:
                effects.append(KillExecutor(lease.agent_id, lease.executor_id))
        effects.append(ActorEnded(actor.actor_id, list(actor.dep_ids)))
        self.dead.append(actor.actor_id)
        while len(self.dead) > MAX_DEAD_KEPT:
            self._forget(self.dead.popleft())
        return effects

    def _forget(self, actor_id: str) -> None:
        """Drop a long-dead actor's record (its handles' calls then fail as unknown)."""
        actor = self.actors.pop(actor_id, None)
        self.changed.discard(actor_id)
        if actor is not None:
            for holder in actor.holders:
                held = self.held_by.get(holder)
                if held is not None:
                    held.discard(actor_id)
                    if not held:
                        del self.held_by[holder]

    def _death_of(self, actor: Actor | None, task: Task) -> Fail:
        if actor is None:
            message = f"call {task.name}: its actor is dead, or unknown to this program"
            return Fail(task.task_id, "actor_died", message)
        if actor.cause_kind == "blob" and actor.cause_blob is not None:
            return Fail(task.task_id, "blob", blob=actor.cause_blob)
        kind = actor.cause_kind if actor.cause_kind in ("unschedulable",) else "actor_died"
        return Fail(task.task_id, kind, f"call {task.name} failed: {actor.cause}")

    def kill(self, actor_id: str, no_restart: bool, now: float) -> list[Effect]:
        """``rt.kill``: stop the executor now (no exit handlers run); with ``no_restart=False``
        the actor restarts if it has restarts left."""
        actor = self.actors.get(actor_id)
        if actor is None or actor.state is ActorState.DEAD:
            return []
        lease = self.sched.leases.get(actor.executor_id) if actor.executor_id else None
        if not no_restart and lease is not None and not lease.killing:
            actor.kill_requested = True
            lease.killing = True
            return [KillExecutor(lease.agent_id, lease.executor_id)]
        message = f"actor {actor.describe()} was killed by rt.kill()"
        return self._die(actor, "actor_killed", message, now)

    def exited(self, executor_id: str, reason: str, now: float) -> list[Effect]:
        """The hosted actor ends on its own (``exit_actor``, graceful stop); the process exits."""
        lease = self.sched.leases.get(executor_id)
        actor = self.actors.get(lease.actor_id) if lease is not None else None
        if lease is None or actor is None or actor.executor_id != executor_id:
            return []
        if actor.state is ActorState.DEAD:
            return []
        lease.killing = True  # it exits by itself
        self.stopping[executor_id] = now + STOP_GRACE_S
        message = f"actor {actor.describe()} exited: {reason}"
        return self._die(actor, "actor_died", message, now)

    def tick(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        for eid, deadline in list(self.stopping.items()):
            if now < deadline:
                continue
            del self.stopping[eid]
            lease = self.sched.leases.get(eid)
            if lease is not None:
                effects.append(KillExecutor(lease.agent_id, eid))
        return effects

    def cluster_changed(self, now: float) -> list[Effect]:
        """Fail waiting actors that no agent of the cluster can ever place."""
        effects: list[Effect] = []
        for aid in list(self.waiting):
            actor = self.actors[aid]
            if not self.sched._fits(actor.placement):
                why = self.sched.unschedulable_message(actor.placement)
                effects += self._die(
                    actor, "unschedulable", f"actor {actor.describe()}: {why}", now
                )
        return effects

    def _maybe_stop(self, actor: Actor, now: float) -> list[Effect]:
        """Stop an actor out of scope once it has answered every call it was sent."""
        if not actor.out_of_scope or actor.state is ActorState.DEAD or actor.pending_calls():
            return []
        lease = self.sched.leases.get(actor.executor_id) if actor.executor_id else None
        if lease is not None and lease.inflight:
            return []  # the constructor or calls still run: stop when they are answered
        message = f"actor {actor.describe()} was stopped: no handle to it is left"
        return self._die(actor, "actor_died", message, now)

    # --- views ---------------------------------------------------------------------------------
    def summary(self, actor: Actor) -> tuple[str, str, str, str, str, str, int, int]:
        """(id, class, name, state, agent, executor, restarts, pending calls) for ``/state``."""
        lease = self.sched.leases.get(actor.executor_id) if actor.executor_id else None
        pending = actor.pending_calls() + (len(lease.inflight) if lease is not None else 0)
        return (
            actor.actor_id,
            actor.class_name,
            actor.name,
            str(actor.state),
            actor.agent_id,
            actor.executor_id or "",
            actor.restarts,
            pending,
        )

    def holder_gone(self, executor_id: str, now: float) -> list[Effect]:
        self.lending.forget(executor_id)  # every executor that ends passes here
        return super().holder_gone(executor_id, now)

    def validate(self) -> None:
        """Check the invariants (tests call this after every step)."""
        sched = self.sched
        self.lending.validate(sched.leases)
        for aid, actor in self.actors.items():
            if actor.executor_id is not None:
                lease = sched.leases.get(actor.executor_id)
                assert lease is not None, f"{aid}: no lease {actor.executor_id}"
                assert lease.actor_id == aid, f"{aid}: lease of {lease.actor_id}"
            if actor.state is ActorState.DEAD:
                assert not actor.queues, f"{aid}: dead with queued calls"
                assert aid not in self.waiting, f"{aid}: dead and waiting"
                assert actor.creation_id not in sched.tasks, f"{aid}: dead with a creation"
            for queue in actor.queues.values():
                for tid in queue:
                    task = sched.tasks.get(tid)
                    if task is not None and not task.state.terminal:
                        assert task.actor_id == aid, f"{tid} queued on {aid}"
                        assert task.state in (TaskState.WAITING, TaskState.READY), (
                            f"{tid} queued while {task.state}"
                        )
            for holder in actor.holders:
                assert aid in self.held_by.get(holder, set()), f"{aid}: holder {holder} unindexed"
            assert actor.pins >= 0, f"{aid}: pins {actor.pins}"
        for aid in self.waiting:
            actor = self.actors[aid]
            assert actor.executor_id is None, f"{aid}: waiting with an executor"
            assert actor.state in (ActorState.PENDING, ActorState.RESTARTING), aid
            creation = sched.tasks.get(actor.creation_id)
            assert creation is not None and creation.state is TaskState.READY, aid
        for key, aid in self.names.items():
            actor = self.actors[aid]
            assert (actor.namespace, actor.name) == key, f"name {key} -> {aid}"
            assert actor.state is not ActorState.DEAD, f"name {key} of dead {aid}"
        for eid, held in self.held_by.items():
            for aid in held:
                assert eid in self.actors[aid].holders, f"{eid} holds {aid} unindexed"
        for lease in sched.leases.values():
            if lease.actor_id:
                for tid in lease.inflight:
                    task = sched.tasks.get(tid)
                    if task is not None:
                        assert task.actor_id == lease.actor_id, f"{tid} on {lease.executor_id}"
