"""The driver's I/O for actors: turns submissions into core records, the core's actor effects
into data-plane messages, and executors' actor messages into core events.

It keeps what the core does not: each actor's :class:`~pymesos_rt.protocol.messages.ActorSpec`
(class bytes, constructor arguments and the handle state ``rt.get_actor`` returns) for the
actor's life, each call's spec until it ends, and the handles pinned by unfinished tasks.
Runs on the driver's loop thread, like :class:`~pymesos_rt.scheduler.driver.Driver`, which owns
it and calls it at a few points (intake, dispatch, effects, executor messages, tick).

Calls from the driver go straight to the actor's executor; calls from inside tasks and other
actors come to the driver as ``SubmitCall`` and go on from here (one data-plane hop more, no
master round trip), like nested task submissions.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import return_id
from pymesos_rt.protocol.objects import Payload
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler import effects as fx
from pymesos_rt.scheduler.actors import Actor, ActorBook
from pymesos_rt.scheduler.objects import FAILED, READY
from pymesos_rt.scheduler.records import Task
from pymesos_rt.transport.base import Connection

if TYPE_CHECKING:
    from pymesos_rt.scheduler.driver import Driver

log = logging.getLogger(__name__)
T = TypeVar("T")
NO_RESOURCES = Resources()
PresenceEvent = tuple[str, int, bool]


@dataclass(frozen=True)
class Escape:
    """A handle of ``actor_id`` was pickled outside task arguments (see client/handles.py)."""

    actor_id: str


ActorIntake = m.SubmitActor | m.ActorCallSpec | m.KillActor | m.HandlePins | Escape
ACTOR_INTAKE = (m.SubmitActor, m.ActorCallSpec, m.KillActor, m.HandlePins, Escape)


class ActorShell:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.specs: dict[str, m.ActorSpec] = {}  # live actors
        self.calls: dict[str, m.ActorCallSpec] = {}  # unfinished calls by task id
        self.pins: dict[str, list[str]] = {}  # task id -> actors whose handles it carries
        # presence events of this process's handles and their filter (client/handles.py),
        # set by the driver's backend
        self.events: queue.SimpleQueue[PresenceEvent] | None = None
        self.presence: Callable[[PresenceEvent], bool | None] = lambda event: None

    @property
    def core(self) -> ActorBook:
        return self.driver.core.actors

    # --- intake ----------------------------------------------------------------------------
    def intake(self, item: ActorIntake, caller: str, now: float) -> list[fx.Effect]:
        match item:
            case m.ActorCallSpec():
                return self._call(item, caller, now)
            case m.SubmitActor():
                return self._create(item.spec, caller, now)
            case m.KillActor():
                return self.core.kill(item.actor_id, item.no_restart, now)
            case m.HandlePins():
                if item.task_id in self.driver.core.tasks:  # else it has ended already
                    self.core.pin(item.actor_ids)
                    self.pins[item.task_id] = item.actor_ids
                return []
            case Escape():
                self.core.escape(item.actor_id)
                return []

    def _create(self, spec: m.ActorSpec, holder: str, now: float) -> list[fx.Effect]:
        driver = self.driver
        if spec.cls is not None:
            driver.functions[spec.cls_id] = spec.cls
        self.specs[spec.actor_id] = spec
        actor = Actor(
            spec.actor_id,
            spec.class_name,
            spec.placement,
            spec.resources,
            spec.max_restarts,
            spec.max_concurrency,
            spec.cls_id,
            list(spec.dep_ids),
            spec.name,
            spec.namespace,
        )
        creation = Task(
            f"{spec.actor_id}.c0",
            f"{spec.class_name}.__init__",
            spec.cls_id,
            spec.placement,
            list(spec.dep_ids),
            0,
            False,
        )
        self.core.pin(spec.handle_ids)
        log.debug("actor %s (%s) created by %s", spec.actor_id, spec.class_name, holder)
        return self.core.create(actor, creation, holder, now)

    def create_named(
        self, spec: m.ActorSpec, holder: str, now: float
    ) -> tuple[bytes | None, list[fx.Effect]]:
        """Create a named actor, or (``get_if_exists``) answer the existing one's handle
        state; raises ``ValueError`` if the name is taken. The arguments were pinned by the
        submitter: they are unpinned again when no actor is created."""
        existing = self.core.lookup(spec.name, spec.namespace)
        if existing is None:
            return None, self._create(spec, holder, now)
        self.driver.table.unpin(spec.dep_ids)
        if spec.get_if_exists:
            return self.specs[existing.actor_id].meta, []
        raise ValueError(
            f"the actor name {spec.name!r} (namespace {spec.namespace!r}) is already taken"
        )

    def lookup(self, name: str, namespace: str) -> bytes:
        actor = self.core.lookup(name, namespace)
        if actor is None:
            where = f" in namespace {namespace!r}" if namespace else ""
            raise ValueError(f"Failed to look up actor with name {name!r}{where}")
        return self.specs[actor.actor_id].meta

    def _call(self, spec: m.ActorCallSpec, caller: str, now: float) -> list[fx.Effect]:
        self.calls[spec.task_id] = spec
        if spec.handle_ids:
            self.core.pin(spec.handle_ids)
            self.pins[spec.task_id] = spec.handle_ids
        owner = self.core.actors.get(spec.actor_id)
        name = f"{owner.class_name}.{spec.method}" if owner is not None else spec.method
        task = Task(
            spec.task_id,
            name,
            "",
            NO_RESOURCES,
            spec.dep_ids,
            spec.max_task_retries,
            False,
            actor_id=spec.actor_id,
            caller=caller,
        )
        return self.driver.core.submit(task, now)

    def run_sync(self, fn: Callable[[float], T], timeout: float = 30.0) -> T:
        """Run ``fn(now)`` as loop code (after the intake queued so far) and return its result
        to this (user) thread."""
        driver = self.driver
        access = driver.access
        if access is None:
            raise RuntimeError("the driver is not running")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            driver._drain_intake()
            try:
                fut.set_result(fn(time.monotonic()))
            except Exception as exc:
                fut.set_exception(exc)

        if access.holding():  # e.g. a ref's done callback
            run()
        elif not access.run_here(run):
            access.call_soon_threadsafe(run)
        return fut.result(timeout)

    # --- handles of this process -----------------------------------------------------------
    def backlog(self) -> int:
        """How many presence events are queued now: drain this many *after* the intake list
        (a handle dropped after its task was submitted must not count before the task)."""
        return self.events.qsize() if self.events is not None else 0

    def drain_presence(self, count: int, now: float) -> list[fx.Effect]:
        effects: list[fx.Effect] = []
        events = self.events
        if events is None:
            return effects
        for _ in range(count):
            try:
                event = events.get_nowait()
            except queue.Empty:
                break
            present = self.presence(event)
            if present is not None:
                effects += self.core.handle_local(event[0], present, now)
        return effects

    # --- effects ---------------------------------------------------------------------------
    def dispatch(self, eff: fx.Dispatch) -> Connection:
        driver = self.driver
        conn = driver.executor_conns[eff.executor_id]
        call = self.calls.get(eff.task_id)
        if call is not None:
            deps = driver.dep_blobs(eff.task_id, call.dep_ids)
            driver.objects.copied_to(eff.executor_id, deps)  # pulled there: free with it
            conn.send(m.CallMethod(eff.task_id, call.method, call.args, deps, call.num_returns))
            return conn
        task = driver.core.tasks[eff.task_id]
        actor = driver.core.actors.actors[task.actor_id]
        spec = self.specs[task.actor_id]
        cls = driver.functions[spec.cls_id] if eff.send_function else None
        deps = driver.dep_blobs(eff.task_id, spec.dep_ids)
        driver.objects.copied_to(eff.executor_id, deps)
        conn.send(
            m.StartActor(
                eff.task_id,
                spec.actor_id,
                spec.class_name,
                spec.cls_id,
                cls,
                spec.args,
                deps,
                spec.max_concurrency,
                spec.is_async,
                actor.restarts,
                spec.name,
                spec.namespace,
            )
        )
        return conn

    def failed(self, eff: fx.Fail, data: Payload) -> list[fx.Effect]:
        """A call failed: so do its return objects when it has several."""
        call = self.calls.get(eff.task_id)
        if call is None or call.num_returns == 1:
            return []
        effects: list[fx.Effect] = []
        for i in range(call.num_returns):
            rid = return_id(eff.task_id, i)
            self.driver.table.complete(rid, FAILED, data)
            effects += self.driver.core.object_failed(
                fx.Fail(rid, eff.kind, eff.message, eff.blob), 0.0
            )
        return effects

    def finished(self, task_id: str, now: float) -> list[fx.Effect]:
        self.calls.pop(task_id, None)
        pinned = self.pins.pop(task_id, None)
        return self.core.unpin(pinned, now) if pinned else []

    def ended(self, eff: fx.ActorEnded, now: float) -> list[fx.Effect]:
        spec = self.specs.pop(eff.actor_id, None)
        if spec is None:
            return []
        self.driver.table.unpin(spec.dep_ids)
        return self.core.unpin(spec.handle_ids, now)

    def summaries(self, limit: int = 1000) -> list[m.ActorBrief]:
        """Briefs of (at most ``limit``) actors that changed since the last ones sent."""
        book = self.core
        out: list[m.ActorBrief] = []
        while book.changed and len(out) < limit:
            actor = book.actors.get(book.changed.pop())
            if actor is not None:
                out.append(m.ActorBrief(*book.summary(actor)))
        return out

    def stop(self, eff: fx.StopExecutor) -> None:
        conn = self.driver.executor_conns.get(eff.executor_id)
        if conn is not None:
            conn.send(m.StopWorker())

    def label(self, task_id: str) -> str | None:
        task = self.driver.core.tasks.get(task_id)
        return task.name if task is not None else None

    # --- executors' actor messages ---------------------------------------------------------
    def returns(self, msg: m.TaskDone, now: float) -> list[fx.Effect]:
        """The return objects of a call that has several (``TaskDone.returns``)."""
        effects: list[fx.Effect] = []
        for b in msg.returns:
            value: Payload = b.data if b.location is None else b.location
            state = FAILED if b.error else READY
            self.driver.table.complete(b.object_id, state, value, b.contained)
            self.driver.objects.record_home(b.object_id, b.location)
            effects += self.driver.core.object_ready(b.object_id, now)
        return effects

    def on_worker(
        self, conn: Connection, eid: str, msg: WorkerActorCall, now: float
    ) -> list[fx.Effect]:
        driver = self.driver
        match msg:
            case m.SubmitCall():
                spec = msg.spec
                n = spec.num_returns
                outs = [spec.task_id] if n == 1 else [return_id(spec.task_id, i) for i in range(n)]
                for oid in outs:
                    driver.table.create(oid, refs=0, escaped=True)
                driver.table.pin(spec.dep_ids)
                return self._call(spec, eid, now)
            case m.SubmitActor():
                driver.table.pin(msg.spec.dep_ids)
                if msg.request_id <= 0:
                    return self._create(msg.spec, eid, now)
                try:
                    meta, effects = self.create_named(msg.spec, eid, now)
                except ValueError as exc:
                    conn.send(m.ActorLookup(msg.request_id, error=str(exc)))
                    return []
                conn.send(m.ActorLookup(msg.request_id, meta=meta or b""))
                return effects
            case m.HandleHeld():
                if msg.escaped:
                    self.core.escape(msg.actor_id)
                    return []
                return self.core.handle_held(eid, msg.actor_id, msg.held, now)
            case m.HandlePins():
                return self.intake(msg, eid, now)
            case m.LookupActor():
                try:
                    conn.send(
                        m.ActorLookup(msg.request_id, meta=self.lookup(msg.name, msg.namespace))
                    )
                except ValueError as exc:
                    conn.send(m.ActorLookup(msg.request_id, error=str(exc)))
                return []
            case m.KillActor():
                return self.core.kill(msg.actor_id, msg.no_restart, now)
            case m.ActorExiting():
                log.info("actor %s exits: %s", msg.actor_id, msg.reason)
                return self.core.exited(eid, msg.reason, now)


WorkerActorCall = (
    m.SubmitCall
    | m.SubmitActor
    | m.HandleHeld
    | m.HandlePins
    | m.LookupActor
    | m.KillActor
    | m.ActorExiting
)
WORKER_ACTOR_CALLS = (
    m.SubmitCall,
    m.SubmitActor,
    m.HandleHeld,
    m.HandlePins,
    m.LookupActor,
    m.KillActor,
    m.ActorExiting,
)
