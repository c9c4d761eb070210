"""Dispatch in the framework scheduler's core: which READY tasks go to which connected executors.

Rules kept here (with those of ``scheduler/state.py``, whose records it shares):
- Per shape, READY tasks go to the connected executors of that shape that have room
  (``Lease.can_take``: ``1 + blocked`` tasks plus a short pipeline of tasks of known duration),
  preferring an executor on the agent that holds most of a task's large arguments.
- When none has room, executors lent by tasks blocked in ``get`` take tasks of a smaller shape
  (lending.py).
- Chained dispatch: a WAITING task whose missing arguments one executor is computing goes
  straight to it, behind their producers, when it runs tasks of that shape and has room.
- A task with ``max_calls`` drains its executor once it has been sent there that many times.

No I/O, no clock. Owned by :class:`~pymesos_rt.scheduler.state.SchedulerState` (``core.dispatch``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import TaskState
from pymesos_rt.scheduler.effects import Dispatch, Effect
from pymesos_rt.scheduler.lending import lent_leases
from pymesos_rt.scheduler.records import Lease, Task

if TYPE_CHECKING:
    from pymesos_rt.scheduler.state import SchedulerState


class Dispatcher:
    def __init__(self, core: SchedulerState) -> None:
        self.core = core

    def pump(self, now: float) -> list[Effect]:
        core = self.core
        effects: list[Effect] = core._reclaimed
        core._reclaimed = []
        dispatched: list[str] = []
        waiting = [(shape, queue) for shape, queue in core.ready.items() if queue]
        if not waiting:
            return effects + core.answers.want_offers()
        by_shape: dict[Resources, list[Lease]] = {}
        for lease in core.leases.values():
            if lease.connected and not lease.killing and not lease.draining and not lease.actor_id:
                by_shape.setdefault(lease.shape, []).append(lease)
        for shape, queue in waiting:
            leases = by_shape.get(shape)
            if not leases:
                if core.lenders:
                    dispatched += self._borrow(shape, queue, effects)
                continue
            progress = True
            while queue and progress:
                progress = False
                for lease in leases:
                    if not queue:
                        break
                    if not lease.can_take():
                        continue
                    if lease.draining:  # reached a task's max_calls in this round
                        continue
                    task = core.tasks[queue.popleft()]
                    target = self._near_inputs(task, leases) or lease
                    effects.append(self.send(task, target, ()))
                    progress = True
                    dispatched.append(task.task_id)
            if queue and core.lenders:
                dispatched += self._borrow(shape, queue, effects)
        return effects + self.chain(dispatched) + core.answers.want_offers()

    def _borrow(self, shape: Resources, queue: deque[str], effects: list[Effect]) -> list[str]:
        """Send tasks of ``shape`` to executors lent by blocked tasks (lending.py)."""
        core = self.core
        sent: list[str] = []
        for lease in lent_leases(shape, core.lenders, core.leases):
            while queue and len(lease.inflight) < 1 + lease.blocked:
                sent.append(queue.popleft())
                effects.append(self.send(core.tasks[sent[-1]], lease, ()))
        return sent

    def _near_inputs(self, task: Task, leases: list[Lease]) -> Lease | None:
        """A lease with room on the agent holding most of the task's large arguments."""
        core = self.core
        if not task.dep_ids or not len(core.homes):
            return None
        agent = core.homes.best_agent(task.dep_ids)
        if agent is None:
            return None
        for lease in leases:
            if lease.agent_id == agent and lease.can_take() and not lease.draining:
                return lease
        return None

    def send(self, task: Task, lease: Lease, local: tuple[str, ...]) -> Dispatch:
        core = self.core
        task.move(TaskState.DISPATCHED)
        task.executor_id = lease.executor_id
        task.attempts += 1
        task.estimate = core.durations.get(task.fn_id)
        lease.add(task)
        lease.idle_since = None
        send_fn = task.fn_id not in lease.functions
        lease.functions.add(task.fn_id)
        if task.max_calls:
            calls = lease.calls[task.fn_id] = lease.calls.get(task.fn_id, 0) + 1
            if calls >= task.max_calls:
                lease.draining = True  # stopped once its queue is empty (_stop_if_drained)
        return Dispatch(lease.executor_id, task.task_id, send_fn, local)

    def chain(self, task_ids: list[str]) -> list[Effect]:
        """Chained dispatch: send WAITING tasks whose missing arguments are all being computed
        by one executor straight to it, behind their producers, when that executor runs tasks
        of their shape and has room in its pipeline (see ``Lease.can_take``). No driver round
        trip then separates a task from the next in a chain. Producers that retry on
        exceptions are not chained behind (a retry may run elsewhere)."""
        core = self.core
        effects: list[Effect] = []
        work = list(task_ids)
        while work:
            tid = work.pop()
            candidates = (
                [tid]
                if core.tasks.get(tid, None) and core.tasks[tid].state is TaskState.WAITING
                else []
            )
            producer = core.tasks.get(tid)
            for oid in producer.object_ids if producer is not None else (tid,):
                candidates += core.dependents.get(oid, [])
            for cid in candidates:
                task = core.tasks.get(cid)
                if task is None or task.state is not TaskState.WAITING or task.actor_id:
                    continue
                lease = self._producer_lease(task)
                if lease is None or not lease.can_take():
                    continue
                effects.append(self.send(task, lease, tuple(sorted(task.missing))))
                work.append(cid)
        return effects

    def _producer_lease(self, task: Task) -> Lease | None:
        core = self.core
        executor_id: str | None = None
        for dep in task.missing:
            producer = core.tasks.get(core.producers.get(dep, dep))
            if (
                producer is None
                or producer.state is not TaskState.DISPATCHED
                or producer.retry_exceptions
                or not producer.chainable
                or (executor_id is not None and producer.executor_id != executor_id)
            ):
                return None
            executor_id = producer.executor_id
        lease = core.leases.get(executor_id) if executor_id else None
        if (
            lease is None
            or lease.shape != task.shape
            or lease.killing
            or lease.draining
            or lease.actor_id
        ):
            return None
        return lease if lease.connected else None
