"""The driver's side of stored objects: where they live, their copies, freeing them everywhere,
and rebuilding lost ones from their lineage.

Runs on the driver's loop thread except :meth:`DriverObjects.free_stored`, which a user thread
also calls (``rt.put`` frees what was dropped before, so put/free loops reuse the arena).
- *Homes*: each stored object's primary location is told to the scheduler core, whose
  placement prefers executors on the agent holding a task's large inputs.
- *Copies*: a stored object sent to an executor on another agent is pulled into that agent's
  store; the copy is remembered and deleted together with the object.
- *Lineage*: a lost object (every copy gone with its agent) is made again by running its task
  (``scheduler/lineage.py``), or fails for good with ``ObjectLostError``.
"""

from __future__ import annotations

import logging
import threading

from pymesos_rt import serialization
from pymesos_rt.errors import (
    ActorDiedError,
    ExecutorLostError,
    NodeLostError,
    ObjectLostError,
    OutOfMemoryError,
    TaskCancelledError,
    UnschedulableError,
)
from pymesos_rt.objects.stores import Stores
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.objects import ObjectLocation, Payload
from pymesos_rt.scheduler import effects as fx
from pymesos_rt.scheduler import records
from pymesos_rt.scheduler.lineage import Lineage
from pymesos_rt.scheduler.objects import READY, ObjectTable
from pymesos_rt.scheduler.state import SchedulerState

log = logging.getLogger(__name__)

CLUSTER_VIEW_S = 10.0  # how long a put waits for the master's list of agents after subscribing

_ERRORS: dict[str, type[Exception]] = {
    "actor_died": ActorDiedError,
    "executor_lost": ExecutorLostError,
    "node_lost": NodeLostError,
    "oom": OutOfMemoryError,
    "unschedulable": UnschedulableError,
    "cancelled": TaskCancelledError,
    "object_lost": ObjectLostError,
}


def error_blob(kind: str, message: str) -> bytes:
    """The pickled exception of a failure ``kind`` (see ``effects.Fail``)."""
    return serialization.dumps_value(_ERRORS[kind](message))


ObjectCall = m.PutObject | m.DepsLost | m.Borrow | m.Unborrow
OBJECT_CALLS = (m.PutObject, m.DepsLost, m.Borrow, m.Unborrow)


class DriverObjects:
    def __init__(
        self,
        table: ObjectTable,
        core: SchedulerState,
        stores: Stores,
        specs: dict[str, m.TaskSpec],
    ) -> None:
        self.table = table
        self.core = core
        self.stores = stores
        self.specs = specs  # the driver's task records (specs of unfinished tasks)
        self.addresses: dict[str, str] = {}  # agent id -> its object endpoint
        self.lineage = Lineage()
        self._copies: dict[str, set[str]] = {}  # object id -> endpoints holding copies
        self._lock = threading.Lock()
        self.cluster_known = threading.Event()  # the master's list of agents arrived
        self._push_turn = 0

    def on_worker(self, eid: str, msg: ObjectCall, now: float) -> list[fx.Effect]:
        """An executor's message about objects."""
        match msg:
            case m.PutObject():
                blob = msg.blob
                value: Payload = blob.data if blob.location is None else blob.location
                # the putting executor holds the ref (it is a borrower from the start)
                self.table.put(
                    blob.object_id, value, refs=0, borrower=eid, contained=blob.contained
                )
                self.record_home(blob.object_id, blob.location)
                return self.core.object_ready(blob.object_id, now)
            case m.DepsLost():
                return self.deps_lost(eid, msg, now)
            case m.Borrow():
                self.table.borrow(eid, msg.object_ids)
            case m.Unborrow():
                self.table.unborrow(eid, msg.object_ids)
        return []

    # --- where objects are -------------------------------------------------------------------
    def record_home(self, oid: str, location: ObjectLocation | None) -> None:
        if location is not None:
            self.core.homes.record(oid, location.agent_id, location.size)

    def push_target(self) -> tuple[str, str] | None:
        """The agent (id, object endpoint) whose store takes the next value a program with no
        store of its own puts (round robin). Right after subscribing the master's list of
        agents may still be on its way: wait for it (briefly) rather than keep the value
        inline; None only when the cluster has no agent with a store."""
        if not any(self.addresses.values()):
            self.cluster_known.wait(CLUSTER_VIEW_S)
        agents = sorted((aid, addr) for aid, addr in self.addresses.items() if addr)
        if not agents:
            return None
        self._push_turn = (self._push_turn + 1) % len(agents)
        return agents[self._push_turn]

    def copied_to(self, executor_id: str, blobs: list[m.ObjectBlob]) -> None:
        """Stored objects sent to an executor are pulled into its agent's store: remember
        the copies, to free them with the object."""
        lease = self.core.leases.get(executor_id)
        if lease is None:
            return
        address = self.addresses.get(lease.agent_id)
        if not address:
            return
        with self._lock:
            for b in blobs:
                if b.location is not None and b.location.agent_id != lease.agent_id:
                    self._copies.setdefault(b.object_id, set()).add(address)

    def free_stored(self) -> None:
        """Delete freed objects from the stores holding them or copies of them."""
        dropped = self.table.drain_dropped()
        if not dropped:
            return
        by_address: dict[str, list[str]] = {}
        with self._lock:
            for oid, loc in dropped:
                by_address.setdefault(loc.address, []).append(oid)
                for address in self._copies.pop(oid, ()):
                    by_address.setdefault(address, []).append(oid)
        self.stores.delete(by_address)

    # --- lost objects ------------------------------------------------------------------------
    def remember(self, task_id: str) -> None:
        """A task's result was stored: keep how it was made while it lives."""
        spec, task = self.specs.get(task_id), self.core.tasks.get(task_id)
        if spec is not None and task is not None:
            self.lineage.record(spec, task.attempts)

    def deps_lost(self, eid: str, msg: m.DepsLost, now: float) -> list[fx.Effect]:
        """An executor could not have some arguments of a task: rebuild them (the task waits)
        or fail the task with ``ObjectLostError``."""
        effects: list[fx.Effect] = []
        failure: fx.Fail | None = None
        for oid in msg.object_ids:
            found = self.table.peek(oid)
            if found is None or found[0] != READY or not isinstance(found[1], ObjectLocation):
                continue  # not produced yet (chained), or being rebuilt already: wait for it
            more, why = self.rebuild(oid, found[1], msg.reason, now)
            effects += more
            if why is not None:
                failure = fx.Fail(msg.task_id, "object_lost", why)
                break
        return effects + self.core.deps_lost(eid, msg.task_id, failure, now)

    def reported_lost(self, msg: m.GetObjects, now: float) -> list[fx.Effect]:
        """A task's ``get`` could not read an object (``msg.lost``): rebuild it, unless that
        was done already (the entry moved on), before the get waits for it."""
        if msg.lost is None or len(msg.object_ids) != 1:
            return []
        oid = msg.object_ids[0]
        found = self.table.peek(oid)
        if found is None or found[0] != READY or found[1] != msg.lost:
            return []
        return self.rebuild(oid, msg.lost, msg.reason, now)[0]

    def rebuild(
        self, oid: str, location: ObjectLocation, reason: str, now: float
    ) -> tuple[list[fx.Effect], str | None]:
        """Run again the task that made a lost object, or fail the object for good (then
        the message is returned too)."""
        node = location.agent_id or location.address
        plan = self.lineage.plan(oid, f"agent {node} ({reason})")
        if isinstance(plan, m.TaskSpec):
            gone = [d for d in plan.dep_ids if self.table.peek(d) is None]
            if gone:
                plan = f"object {oid} was lost with agent {node}; its argument {gone[0]} is freed"
        if isinstance(plan, str):
            log.warning("%s", plan)
            data = error_blob("object_lost", plan)
            self.table.fail_done(oid, data)
            self.core.forget_object(oid)
            return self.core.object_failed(fx.Fail(oid, "object_lost", plan, data), now), plan
        log.warning(
            "object %s lost with agent %s (%s): running %s again", oid, node, reason, plan.name
        )
        self.table.reset(oid)
        self.table.pin(plan.dep_ids)
        self.core.forget_object(oid)
        self.specs[oid] = plan
        task = records.Task(
            oid,
            plan.name,
            plan.fn_id,
            plan.resources,
            plan.dep_ids,
            plan.max_retries,
            plan.retry_exceptions,
        )
        task.attempts = self.lineage.runs(oid) - 1
        return self.core.submit(task, now), None
