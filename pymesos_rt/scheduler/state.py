"""The framework scheduler's sans-IO core: tasks, their dependencies, and executor leases.

Rules kept here:
- Inputs are method calls (submissions, offers, executor and task events) that take ``now``;
  outputs are effects the driver carries out in order. No I/O, no clock, no pickling.
- Executors are leased per resource shape and run tasks of that shape one at a time, in the
  order dispatched. An executor may hold ``1 + blocked`` tasks (the running one, and one more
  for each of its tasks blocked in ``get``: a blocked task gives its slot back), plus a short
  pipeline while every task it holds has a known mean duration and their sum stays under
  ``PIPELINE_BUDGET_S`` (so short tasks never wait on a round trip, and nothing queues behind a
  long or unknown one).
- A task is READY once every object it references exists; a failed dependency fails it with
  the dependency's error. A task completes one object per return (``Task.object_ids``); a
  failure fails each of them.
- When an executor dies, its first ``1 + blocked`` tasks were running: each uses one retry or
  fails naming the executor; the rest had not started and go back to the front of the queue.
  ``max_retries < 0`` retries without limit.
  A death at the container's memory limit (kind ``"oom"``) is retried only for tasks with
  ``retry_exceptions=True``: run again with the same memory, a task most likely hits the limit
  again, so by default it fails at once with an error naming the limit and the task.
- The framework wants offers exactly when some shape has more READY tasks than executors: it
  REVIVEs then (also after long declines: REVIVE clears filters) and SUPPRESSes otherwise.
- Idle executors are killed after ``idle_timeout``; when work of another shape waits for
  resources, idle executors are killed after ``pressure_idle_timeout`` instead.
- A task with ``max_calls`` is sent to an executor at most that many times (counted per
  function); then the executor is drained and stopped, and a fresh one takes the next calls.
- Cancelling a task with ``recursive`` cancels the unfinished tasks it submitted, and theirs.
- A task blocked in ``get`` lends its executor to READY tasks of a smaller shape (lending.py).

The core holds helpers that share its records: ``dispatch`` (dispatch.py: which READY tasks go
to which executors), ``answers`` (offers.py: what to launch on offers, SUPPRESS and REVIVE),
``view`` (cluster_view.py: the agents, which shapes could ever run) and ``actors`` (actors.py).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Iterable, Mapping

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState, TaskState
from pymesos_rt.scheduler.actors import ActorBook
from pymesos_rt.scheduler.cluster_view import ClusterView
from pymesos_rt.scheduler.dispatch import Dispatcher
from pymesos_rt.scheduler.effects import (
    CancelOnExecutor,
    Dispatch,
    Effect,
    Fail,
    Finished,
    KillExecutor,
    UseGpus,
)
from pymesos_rt.scheduler.lending import under_pressure
from pymesos_rt.scheduler.locality import Homes
from pymesos_rt.scheduler.offers import OfferAnswers
from pymesos_rt.scheduler.placement import GPUS, Shape
from pymesos_rt.scheduler.records import Lease, SchedulerConfig, Task
from pymesos_rt.scheduler.summary import TaskBook


class SchedulerState:
    def __init__(self, prefix: str, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self.prefix = prefix
        self.tasks: dict[str, Task] = {}
        self.ready: dict[Resources, deque[str]] = {}
        self.leases: dict[str, Lease] = {}
        self.view = ClusterView()  # the agents, and which shapes some agent could run
        self.ready_objects: set[str] = set()
        self.failed_objects: dict[str, Fail] = {}
        self.dependents: dict[str, list[str]] = {}
        self.durations: dict[str, float] = {}  # fn_id -> mean duration (EWMA)
        self.finished = 0
        self.failed = 0  # failed or cancelled
        self._reclaimed: list[Effect] = []  # e.g. stops of drained leases, emitted by _pump
        self.cancelling: dict[str, Task] = {}  # cancelled, still held by their executor
        self.suppressed = False
        self.uses_gpus = False  # declared the GPU_RESOURCES capability (want_gpus)
        self.filtered = False  # declined offers for long (idle) since the last REVIVE
        self.lenders: set[str] = set()  # executors with a task blocked in get (see _borrow)
        self._exec_seq = itertools.count(1)
        self.book = TaskBook()  # the dashboard's summary of these tasks (see summary.py)
        self.producers: dict[str, str] = {}  # return object id -> task id (num_returns > 1)
        self.children: dict[str, list[str]] = {}  # task id -> tasks it submitted
        self.actors = ActorBook(self)
        self._starting: dict[str, Lease] = {}  # task leases launched, not yet connected
        self.homes = Homes()  # where stored objects live (placement prefers their agents)
        self.dispatch = Dispatcher(self)  # which READY tasks go to which executors
        self.answers = OfferAnswers(self)  # what to launch on offers; SUPPRESS and REVIVE

    # --- submissions and objects -------------------------------------------------------------
    def want_gpus(self) -> None:
        """Work that asks for GPUs arrived: declare the capability once (at the next pump),
        so that the master offers this framework agents with GPUs."""
        if not self.uses_gpus:
            self.uses_gpus = True
            self._reclaimed.append(UseGpus())

    def submit(self, task: Task, now: float) -> list[Effect]:
        self.tasks[task.task_id] = task
        task.book = self.book
        self.book.submitted(task.name)
        if task.shape.get(GPUS) > 0:
            self.want_gpus()
        for oid in task.outputs:
            self.producers[oid] = task.task_id
        if task.parent_id and task.parent_id in self.tasks:
            self.children.setdefault(task.parent_id, []).append(task.task_id)
        if isinstance(task.shape, Shape) and task.shape.soft:
            task.shape = self.view.placed(task.shape)
        if self.agents and not self._fits(task.shape):
            why = self.unschedulable_message(task.shape)
            return self._fail(task, Fail(task.task_id, "unschedulable", why), now)
        for dep in task.dep_ids:
            failure = self.failed_objects.get(dep)
            if failure is not None:
                inherited = Fail(task.task_id, failure.kind, failure.message, failure.blob)
                return self._fail(task, inherited, now, record=False)
            if dep not in self.ready_objects:
                task.missing.add(dep)
                self.dependents.setdefault(dep, []).append(task.task_id)
        if task.actor_id:
            return self.actors.submitted(task, now)
        if not task.missing:
            task.move(TaskState.READY)
            self.ready.setdefault(task.shape, deque()).append(task.task_id)
            return self._pump(now)
        return self.dispatch.chain([task.task_id]) + self._pump(now)

    def object_ready(self, object_id: str, now: float) -> list[Effect]:
        self.ready_objects.add(object_id)
        return self._release_dependents(object_id, now) + self._pump(now)

    def _release_dependents(self, object_id: str, now: float) -> list[Effect]:
        """Tasks waiting on ``object_id`` (which exists now) lose it from their missing set."""
        effects: list[Effect] = []
        for tid in self.dependents.pop(object_id, []):
            task = self.tasks.get(tid)
            if task is None or task.state is not TaskState.WAITING:
                continue
            task.missing.discard(object_id)
            if task.missing:
                continue
            if not task.actor_id and self.agents and not self._fits(task.shape):
                if not (isinstance(task.shape, Shape) and task.shape.soft):  # its node left
                    why = self.unschedulable_message(task.shape)
                    effects += self._fail(task, Fail(tid, "unschedulable", why), now)
                    continue
                task.shape = task.shape.relaxed()
            task.move(TaskState.READY)
            if task.actor_id:
                effects += self.actors.ready(task, now)
                continue
            self.ready.setdefault(task.shape, deque()).append(tid)
        return effects

    def object_failed(self, failure: Fail, now: float) -> list[Effect]:
        """Fail every task waiting on the object, and theirs in turn (iteratively: a chain of
        dependents may be far longer than Python's recursion limit)."""
        effects: list[Effect] = []
        work = [failure]
        while work:
            failed = work.pop()
            self.failed_objects[failed.task_id] = failed
            for tid in self.dependents.pop(failed.task_id, []):
                task = self.tasks.get(tid)
                if task is None or task.state is not TaskState.WAITING:
                    continue
                task.move(TaskState.FAILED)
                self.failed += 1
                self._forget(task)
                inherited = [
                    Fail(o, failed.kind, failed.message, failed.blob) for o in task.object_ids
                ]
                effects += [*inherited, Finished(tid, task.dep_ids)]
                work += inherited
                if task.actor_id:
                    effects += self.actors.touch(task, inherited[0], 0.0)
        return effects

    def _forget(self, task: Task) -> None:
        """Drop a terminal task's records."""
        self.tasks.pop(task.task_id, None)
        for oid in task.outputs:
            self.producers.pop(oid, None)
        self.children.pop(task.task_id, None)

    def forget_object(self, object_id: str) -> None:
        self.ready_objects.discard(object_id)
        self.failed_objects.pop(object_id, None)
        self.homes.forget(object_id)

    def cancel(self, task_id: str, now: float, recursive: bool = False) -> list[Effect]:
        """Cancel the task that completes object ``task_id`` (and with ``recursive``, the
        unfinished tasks it submitted, and theirs)."""
        task = self.tasks.get(self.producers.get(task_id, task_id))
        if task is None or task.state.terminal:
            return []
        task_id = task.task_id
        effects: list[Effect] = []
        if recursive:
            for child in list(self.children.get(task_id, ())):
                effects += self.cancel(child, now, recursive=True)
        if task.state is TaskState.READY and not task.actor_id:
            self.ready[task.shape].remove(task_id)
        elif task.state is TaskState.DISPATCHED and task.executor_id is not None:
            # its executor slot stays taken until the executor reports the task ended: an
            # interrupt cannot stop a task inside a C call, and nothing may queue behind it
            effects.append(CancelOnExecutor(task.executor_id, task_id))
            self.cancelling[task_id] = task
        message = f"task {task.name} ({task_id}) was cancelled"
        task.move(TaskState.CANCELLED)
        self.failed += 1
        self._forget(task)
        cancelled = [Fail(oid, "cancelled", message) for oid in task.object_ids]
        effects += [*cancelled, Finished(task_id, task.dep_ids)]
        for each in cancelled:
            effects += self.object_failed(each, now)
        if task.actor_id:
            effects += self.actors.touch(task, cancelled[0], now)
        return effects + self._pump(now)

    # --- results -----------------------------------------------------------------------------
    def task_done(
        self,
        executor_id: str,
        task_id: str,
        duration: float,
        now: float,
        errors: Mapping[str, bytes] | None = None,
    ) -> list[Effect]:
        """The task ended; its objects are ready, except those in ``errors`` (a generator
        that raised before yielding every one of its ``num_returns``), which fail."""
        task = self._complete_on(executor_id, task_id, duration, now, ok=True)
        if task is None:
            return self._pump(now)
        if task.actor_id:
            return self.actors.task_done(task, now)
        task.move(TaskState.FINISHED)
        self.finished += 1
        self._forget(task)
        effects: list[Effect] = [Finished(task_id, task.dep_ids)]
        for oid in task.object_ids:
            error = errors.get(oid) if errors else None
            if error is None:
                self.ready_objects.add(oid)
            else:
                failure = Fail(oid, "blob", blob=error)
                effects += [failure, *self.object_failed(failure, now)]
        for oid in task.object_ids:
            if errors is None or oid not in errors:
                effects += self._release_dependents(oid, now)
        return effects + self._pump(now)

    def task_failed(
        self,
        executor_id: str,
        task_id: str,
        blob: bytes,
        duration: float,
        now: float,
        retryable: bool | None = None,
    ) -> list[Effect]:
        """The task raised: retried while attempts are left if ``retryable`` (the driver's
        verdict for ``retry_exceptions=[...]``; None: the task's ``retry_exceptions``)."""
        task = self._complete_on(executor_id, task_id, duration, now, ok=False)
        if task is None:
            return self._pump(now)
        if task.actor_id:
            return self.actors.task_failed(task, blob, now)
        retry = task.retry_exceptions if retryable is None else retryable
        if retry and task.may_retry():
            task.move(TaskState.READY)
            task.executor_id = None
            self.ready.setdefault(task.shape, deque()).append(task_id)
            return self._pump(now)
        return self._fail(task, Fail(task_id, "blob", blob=blob), now) + self._pump(now)

    def deps_lost(
        self, executor_id: str, task_id: str, failure: Fail | None, now: float
    ) -> list[Effect]:
        """The executor could not have some of the task's arguments (call after forgetting
        the lost ones): the task waits for them again (not counted as a run), or fails with
        ``failure`` when one cannot be rebuilt."""
        task = self._complete_on(executor_id, task_id, None, now, ok=False)
        if task is None:
            return self._pump(now)
        if failure is not None:
            return self._fail(task, failure) + self._pump(now)
        task.attempts -= 1
        task.executor_id = None
        task.missing = {d for d in task.dep_ids if d not in self.ready_objects}
        if task.missing:
            task.move(TaskState.WAITING)
            for dep in task.missing:
                self.dependents.setdefault(dep, []).append(task_id)
        else:
            task.move(TaskState.READY)
            self.ready.setdefault(task.shape, deque()).append(task_id)
        return self._pump(now)

    def will_retry(self, task_id: str, retryable: bool | None = None) -> bool:
        """Whether ``task_failed`` with this verdict would run the task again."""
        task = self.tasks.get(task_id)
        if task is None or task.state is not TaskState.DISPATCHED:
            return False
        retry = task.retry_exceptions if retryable is None else retryable
        return retry and task.may_retry()

    def _complete_on(
        self, executor_id: str, task_id: str, duration: float | None, now: float, ok: bool
    ) -> Task | None:
        lease = self.leases.get(executor_id)
        task = self.tasks.get(task_id)
        if lease is not None:
            held = task if task is not None else self.cancelling.pop(task_id, None)
            if held is not None:
                lease.remove(held)
                if lease.blocked and not lease.actor_id:  # room again: lendable (lending.py)
                    self.lenders.add(executor_id)
            if not lease.inflight:
                lease.idle_since = now
                self._reclaimed.extend(self._stop_if_drained(lease))
        if (
            task is None
            or task.state is not TaskState.DISPATCHED
            or task.executor_id != executor_id
        ):
            return None  # cancelled, or a late duplicate
        if duration is None:  # it did not run (its arguments were lost)
            return task
        self.book.ended(executor_id, task.name, duration, ok, now)
        if task.actor_id:
            return task
        old = self.durations.get(task.fn_id)
        self.durations[task.fn_id] = duration if old is None else 0.8 * old + 0.2 * duration
        return task

    def _fail(
        self, task: Task, failure: Fail, now: float | None = None, record: bool = True
    ) -> list[Effect]:
        """Fail each of the task's objects with ``failure`` (given for its first object).

        ``record`` (with ``now``): the dashboard lists the failure, with its message. Not for
        tasks failing because an argument failed (their cause is listed already), nor for
        exceptions a task raised (the driver lists those with the traceback it received)."""
        if record and now is not None and failure.kind != "blob":
            where = task.executor_id or ""
            self.book.failed(task.task_id, task.name, where, failure.message, "", now)
        task.move(TaskState.FAILED)
        self.failed += 1
        self._forget(task)
        fails = [
            failure if oid == failure.task_id else dataclasses.replace(failure, task_id=oid)
            for oid in task.object_ids
        ]
        effects: list[Effect] = [*fails, Finished(task.task_id, task.dep_ids)]
        for each in fails:
            effects += self.object_failed(each, 0.0)
        return effects

    # --- executors ---------------------------------------------------------------------------
    def blocked(self, executor_id: str, delta: int, now: float) -> list[Effect]:
        lease = self.leases.get(executor_id)
        if lease is None:
            return []
        lease.blocked = max(0, lease.blocked + delta)
        if lease.blocked and not lease.actor_id:
            self.lenders.add(executor_id)
        else:
            self.lenders.discard(executor_id)
        self.actors.lending.update(lease)
        return self._pump(now)

    def executor_connected(self, executor_id: str, now: float) -> list[Effect]:
        lease = self.leases.get(executor_id)
        if lease is None:
            return []
        lease.connected = True
        lease.idle_since = now
        self._starting.pop(executor_id, None)
        if lease.actor_id:
            return self.actors.connected(lease, now)
        return self._pump(now)

    def executor_closed(self, executor_id: str) -> None:
        """Its connection closed: it takes no more tasks while the driver waits a moment for
        the agent's word on why (then ``executor_gone``). A task sent to it meanwhile would go
        nowhere and be retried as if it had run (and failed, with no retries left)."""
        lease = self.leases.get(executor_id)
        if lease is not None and not lease.actor_id:  # an actor's calls wait for its restart
            lease.killing = True  # it is going away: every dispatch path skips it
            self.lenders.discard(executor_id)

    def executor_update(self, update: m.StatusUpdate, now: float) -> list[Effect]:
        if not update.state.terminal:
            return []
        kind = {ExecutorState.LOST: "node_lost", ExecutorState.OOM: "oom"}.get(
            update.state, "executor_lost"
        )
        detail = update.message or f"state {update.state}"
        if update.exit_code is not None:
            detail += f", exit code {update.exit_code}"
        return self.executor_gone(update.executor_id, kind, detail, now)

    def executor_gone(self, executor_id: str, kind: str, detail: str, now: float) -> list[Effect]:
        lease = self.leases.pop(executor_id, None)
        self._starting.pop(executor_id, None)
        if lease is None:
            return []
        effects: list[Effect] = self.actors.holder_gone(executor_id, now)
        if lease.actor_id:
            effects += self.actors.executor_gone(lease, kind, detail, now)
            for tid in lease.inflight:
                self.cancelling.pop(tid, None)
            return effects + self._pump(now)
        for tid in lease.inflight:
            self.cancelling.pop(tid, None)
        running = list(lease.inflight)[: 1 + lease.blocked]
        queued = list(lease.inflight)[1 + lease.blocked :]
        self.lenders.discard(executor_id)
        again: list[Task] = []
        for tid in running:
            task = self.tasks.get(tid)
            if task is None or task.state is not TaskState.DISPATCHED:
                continue
            retry = kind != "oom" or task.retry_exceptions
            if retry and task.may_retry():
                again.append(task)
            else:
                where = f"executor {executor_id} on agent {lease.agent_id}"
                message = f"task {task.name} ({tid}) lost: {where} died ({detail})"
                if kind == "oom":
                    message = (
                        f"task {task.name} ({tid}) ran out of memory: {where} was stopped "
                        f"({detail}); raise the task's memory= or pass retry_exceptions=True "
                        "to retry it"
                    )
                effects += self._fail(task, Fail(tid, kind, message), now)
        for tid in queued:
            task = self.tasks.get(tid)
            if task is not None and task.state is TaskState.DISPATCHED:
                task.attempts -= 1  # it never started
                again.append(task)
        ready: list[Task] = []
        for task in again:  # in dispatch order, back to the front of the queue
            task.executor_id = None
            task.missing = {d for d in task.dep_ids if d not in self.ready_objects}
            if task.missing:  # chained behind a task that was lost too
                task.move(TaskState.WAITING)
                for dep in task.missing:
                    self.dependents.setdefault(dep, []).append(task.task_id)
            else:
                task.move(TaskState.READY)
                ready.append(task)
        for task in reversed(ready):  # a borrowed task goes back to its own shape's queue
            self.ready.setdefault(task.shape, deque()).appendleft(task.task_id)
        return effects + self._pump(now)

    # --- the cluster (cluster_view.py) --------------------------------------------------------
    @property
    def agents(self) -> dict[str, Resources]:
        return self.view.agents

    @property
    def agent_totals(self) -> frozenset[Resources]:
        """The distinct totals of the agents, replaced (never mutated) when they change."""
        return self.view.agent_totals

    def _fits(self, shape: Resources) -> bool:
        return self.view.fits(shape)

    def unschedulable_message(self, shape: Resources) -> str:
        return self.view.unschedulable_message(shape)

    def cluster(self, agents: list[m.AgentSummary], now: float) -> list[Effect]:
        """The whole list of agents (when subscribing)."""
        self.view.reset()
        return self.cluster_delta(agents, [], now, shrunk=True)

    def cluster_delta(
        self,
        added: list[m.AgentSummary],
        removed: list[str],
        now: float,
        shrunk: bool = False,
    ) -> list[Effect]:
        """Agents joined or changed, and left: O(changes + distinct agent shapes)."""
        shrunk = self.view.apply(added, removed) or shrunk
        effects: list[Effect] = []
        if self.agents and shrunk:  # only a smaller cluster can make a shape unschedulable
            for shape, queue in list(self.ready.items()):
                if self._fits(shape):
                    continue
                for tid in list(queue):
                    queue.remove(tid)
                    task = self.tasks[tid]
                    if isinstance(shape, Shape) and shape.soft:  # its agent left: run anywhere
                        task.shape = shape.relaxed()
                        self.ready.setdefault(task.shape, deque()).append(tid)
                        continue
                    why = self.unschedulable_message(shape)
                    effects += self._fail(task, Fail(tid, "unschedulable", why), now)
            effects += self.actors.cluster_changed(now)
        return effects + self._pump(now)

    # --- offers (offers.py) ------------------------------------------------------------------
    def offers(self, offers: Iterable[m.Offer], now: float) -> list[Effect]:
        return self.answers.offers(offers, now)

    def new_lease(self, agent_id: str, shape: Resources, now: float, actor_id: str = "") -> Lease:
        eid = f"{self.prefix}-e{next(self._exec_seq)}"
        lease = self.leases[eid] = Lease(eid, agent_id, shape, launched_at=now, actor_id=actor_id)
        if not actor_id:
            self._starting[eid] = lease
        return lease

    def _want_offers(self) -> list[Effect]:
        return self.answers.want_offers()

    # --- dispatch (dispatch.py) ----------------------------------------------------------------
    def _pump(self, now: float) -> list[Effect]:
        return self.dispatch.pump(now)

    def _send(self, task: Task, lease: Lease, local: tuple[str, ...]) -> Dispatch:
        return self.dispatch.send(task, lease, local)

    # --- idle executors and reclaims -----------------------------------------------------------
    def tick(self, now: float) -> list[Effect]:
        pressure = under_pressure(self.ready, self.leases.values(), bool(self.actors.waiting))
        timeout = self.config.pressure_idle_timeout if pressure else self.config.idle_timeout
        effects: list[Effect] = []
        for lease in list(self.leases.values()):
            if not lease.connected and now - lease.launched_at >= self.config.launch_timeout:
                detail = f"it did not connect within {self.config.launch_timeout:g}s"
                effects.append(KillExecutor(lease.agent_id, lease.executor_id))
                effects += self.executor_gone(lease.executor_id, "executor_lost", detail, now)
        for lease in self.leases.values():
            if lease.killing or lease.inflight or lease.idle_since is None or lease.actor_id:
                continue
            if self.ready.get(lease.shape):
                continue
            if now - lease.idle_since >= timeout:
                lease.killing = True
                effects.append(KillExecutor(lease.agent_id, lease.executor_id))
        return effects + self.actors.tick(now) + self._want_offers()

    def reclaim(self, count: int, now: float) -> list[Effect]:
        """Give ``count`` executors back to the master: idle or starting ones first, else the
        least loaded; each is drained (no new tasks) and stopped once its queue is empty."""
        effects: list[Effect] = []
        candidates = sorted(
            (
                lease
                for lease in self.leases.values()
                if not lease.killing and not lease.draining and not lease.actor_id
            ),
            key=lambda lease: (lease.connected, len(lease.inflight)),
        )
        for lease in candidates[:count]:
            lease.draining = True
            effects += self._stop_if_drained(lease)
        return effects + self._pump(now)

    def _stop_if_drained(self, lease: Lease) -> list[Effect]:
        if lease.draining and not lease.inflight and not lease.killing:
            lease.killing = True
            return [KillExecutor(lease.agent_id, lease.executor_id)]
        return []

    def idle(self) -> bool:
        return not self.tasks
