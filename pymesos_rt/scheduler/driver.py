"""The framework driver: the I/O shell around :class:`SchedulerState` and the object table.

It runs on the runtime's event-loop thread. It holds one connection to the master (control
plane: subscribe, offers, accept/decline, executor status updates, which it acknowledges) and
serves a websocket endpoint that executors connect to straight (data plane: tasks out, results,
output, nested submissions and ``get`` requests in). User threads hand it work through
:meth:`Driver.enqueue`, which wakes the loop once per batch. The executor side (data plane)
is the mixin :class:`~.data_plane.DataPlane`, what tasks return :class:`~.results.ResultHandling`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.errors import ExecutorLostError
from pymesos_rt.objects.stores import Stores
from pymesos_rt.preload import wanted as preload_wanted
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import return_ids
from pymesos_rt.protocol.objects import ObjectLocation
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler import effects as fx
from pymesos_rt.scheduler import placement, records
from pymesos_rt.scheduler import state as core
from pymesos_rt.scheduler.actor_shell import (
    ACTOR_INTAKE,
    ActorIntake,
    ActorShell,
)
from pymesos_rt.scheduler.actors import DRIVER
from pymesos_rt.scheduler.data_plane import STATUS_GRACE_S, DataPlane, blob, dep_blobs
from pymesos_rt.scheduler.driver_objects import DriverObjects, error_blob
from pymesos_rt.scheduler.intake import Cancel, Lost, Ready
from pymesos_rt.scheduler.loop_access import LoopAccess, LoopOnItsThread
from pymesos_rt.scheduler.objects import FAILED, ObjectTable
from pymesos_rt.scheduler.results import runtime_env_vars
from pymesos_rt.scheduler.streams import StreamTable
from pymesos_rt.transport import ws_server
from pymesos_rt.transport.auth import ProofChecker
from pymesos_rt.transport.base import Connection
from pymesos_rt.transport.limits import DATA_PLANE_MAX

__all__ = [
    "EXECUTOR_PATH",
    "STATUS_GRACE_S",
    "SUMMARY_INTERVAL_S",
    "Cancel",
    "Driver",
    "Lost",
    "Ready",
    "blob",
    "dep_blobs",
    "hostname",
]

log = logging.getLogger(__name__)

EXECUTOR_PATH = "/api/v1/executor"
SUMMARY_INTERVAL_S = 1.0  # how often the dashboard's summary goes to the master (if changed)


class Driver(DataPlane):
    def __init__(
        self,
        *,
        name: str,
        role: str,
        prefix: str,
        table: ObjectTable,
        secret: str,
        config: records.SchedulerConfig | None = None,
        host: str = "127.0.0.1",
        failover_timeout: float = 0.0,
        stores: Stores | None = None,
        dynamic_value: Callable[[list[str]], bytes] = serialization.dumps_value,
    ) -> None:
        self.name, self.role, self.prefix = name, role, prefix
        self.table = table
        self.secret = secret
        self.host = host
        self.failover_timeout = failover_timeout
        self.stores = stores or Stores()  # the object stores this program reads and frees in
        self.core = core.SchedulerState(prefix, config)
        self.framework_id: str | None = None
        # this framework's own credential: the master lets only its holder re-subscribe as
        # this framework (or tear it down), the cluster secret is not enough
        self.credential = secrets.token_urlsafe(32)
        self.functions: dict[str, bytes] = {}
        self.records: dict[str, m.TaskSpec] = {}
        # stored objects: homes, copies, frees, lineage (scheduler/driver_objects.py)
        self.objects = DriverObjects(self.table, self.core, self.stores, self.records)
        self.master: Connection | None = None
        self.executor_conns: dict[str, Connection] = {}
        self.executor_hosts: dict[str, str] = {}
        self._conn_executor: dict[str, str] = {}
        self.subscribed = asyncio.Event()
        self._intake: list[Any] = []
        self._intake_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # which thread runs loop code, and how work reaches the loop (set by the session; a
        # plain loop thread by default)
        self.access: LoopAccess | None = None
        self._server: asyncio.Server | None = None  # where executors connect
        self.executor_url = ""
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = False
        self._connect_master: Callable[[], Awaitable[Connection]] | None = None
        self._reconnecting: asyncio.Future[None] | None = None
        # control-plane calls decided while the master is away (no connection, or a new one
        # not yet subscribed): sent in order after the next Subscribed, never dropped
        self._held: list[m.SchedulerCall] = []
        self._master_ready = False  # subscribed on the current connection
        self._summary_at = 0.0
        # where what a task prints goes: the context of the code that submitted it (in Jupyter
        # that names the submitting cell), set from user threads, read on the loop
        self.output_contexts: dict[str, contextvars.Context] = {}
        self._pause: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.streams = StreamTable(table, dynamic_value)
        self.runtime_envs: dict[str, m.RuntimeEnvSpec] = {}
        self.command_env: dict[str, str] = {}  # more environment for every executor
        self.preload: list[str] = []  # modules every executor imports ahead of need
        # the cluster's state for rt.available_resources() inside tasks (set by the session)
        self.state_source: Callable[[str], Awaitable[dict[str, Any]]] | None = None
        self.actors = ActorShell(self)

    # --- start and stop ----------------------------------------------------------------------
    async def start(
        self,
        connect_master: Callable[[], Awaitable[Connection]],
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pause = pause
        self.preload = preload_wanted()
        self._loop = asyncio.get_running_loop()
        if self.access is None:
            self.access = LoopOnItsThread(self._loop, threading.get_ident())
        channel = ws_server.Channel(
            EXECUTOR_PATH,
            codec.driver_side,
            self._accept_executor,
            ProofChecker(self.secret),
            DATA_PLANE_MAX,
        )
        self._server, port = await ws_server.serve(channel, self.host)
        self.executor_url = f"ws://{self.host}:{port}{EXECUTOR_PATH}"
        self._connect_master = connect_master
        self.master = await connect_master()
        self.master.receiver = _MasterSide(self)
        self.master.send(self._subscribe_call())
        self._apply(self.core.tick(time.monotonic()))  # nothing to run yet: SUPPRESS at once
        self._ticker = asyncio.ensure_future(self._tick_forever())
        await self.subscribed.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._ticker is not None:
            self._ticker.cancel()
        for conn in list(self.executor_conns.values()):
            conn.send(m.StopWorker())
        if self.master is not None and not self.master.closed:
            summary = self.core.book.report(time.monotonic())  # the history shows the end
            if summary is not None:
                self.master.send(summary)
            self.master.send(m.Teardown())
        await asyncio.sleep(0)  # let the batches flush
        await asyncio.sleep(0)
        if self._server is not None:
            self._server.close()
        self.table.fail_all_pending(
            serialization.dumps_value(ExecutorLostError("the runtime was shut down"))
        )

    def executor_command(self, shape: Resources | None = None) -> m.CommandInfo:
        paths = [os.getcwd(), *[p for p in sys.path if p and os.path.isdir(p)]]
        env = {
            "PYMESOS_RT_DRIVER_URL": self.executor_url,
            "PYMESOS_RT_DRIVER_NODE": socket.gethostname(),
            # travels over the control plane (loopback, or guarded by the cluster secret)
            "PYMESOS_RT_DRIVER_SECRET": self.secret,
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
        }
        env.update(self.command_env)
        spec = self.runtime_envs.get(placement.env_of(shape)) if shape is not None else None
        if spec is not None:
            env.update(runtime_env_vars(spec))
        return m.CommandInfo([sys.executable, "-m", "pymesos_rt.executor"], env)

    def _capabilities(self) -> list[str]:
        return [m.GPU_RESOURCES] if self.core.uses_gpus else []

    # --- intake from user threads ------------------------------------------------------------
    def enqueue(self, item: m.TaskSpec | Cancel | Ready | Lost | ActorIntake) -> None:
        """Hand work to the loop from any thread; the loop is woken once per batch. A thread
        that owns the idle loop (it waited for a result a moment ago) handles its first item
        since that wait at once (``LoopAccess.run_here``)."""
        access = self.access
        if access is not None and access.holding():
            self._apply(self._handle_intake(item))
            return
        with self._intake_lock:
            self._intake.append(item)
            first = len(self._intake) == 1
        if access is None or access.run_here(self._drain_intake):
            return
        if first:
            access.call_soon_threadsafe(self._drain_intake, context=contextvars.Context())

    def _drain_intake(self) -> None:
        handle_events = self.actors.backlog()  # see ActorShell.backlog
        with self._intake_lock:
            items, self._intake = self._intake, []
        effects: list[fx.Effect] = []
        for item in items:
            effects += self._handle_intake(item)
        if handle_events:
            effects += self.actors.drain_presence(handle_events, time.monotonic())
        self._apply(effects)

    def _handle_intake(
        self, item: m.TaskSpec | Cancel | Ready | Lost | ActorIntake
    ) -> list[fx.Effect]:
        now = time.monotonic()
        if isinstance(item, ACTOR_INTAKE):
            return self.actors.intake(item, DRIVER, now)
        if isinstance(item, Lost):
            found = self.table.peek(item.object_id)
            effects: list[fx.Effect] = []
            if found is not None and found[1] == item.location:  # not handled yet
                effects, _ = self.objects.rebuild(item.object_id, item.location, item.reason, now)
            item.done.set()
            return effects
        if isinstance(item, Ready):
            if item.location is not None:  # a large value: a task may read it soon
                self._refresh_preload()
            self.objects.record_home(item.object_id, item.location)
            return self.core.object_ready(item.object_id, now)
        if isinstance(item, Cancel):
            effects = self.core.cancel(item.task_id, now, item.recursive)
            if item.force:
                for eff in effects:
                    if isinstance(eff, fx.CancelOnExecutor):
                        lease = self.core.leases.get(eff.executor_id)
                        if lease is not None:
                            effects.append(fx.KillExecutor(lease.agent_id, eff.executor_id))
            return effects
        if item.fn is not None:
            self.functions[item.fn_id] = item.fn
        self.records[item.task_id] = item
        task = records.Task(
            item.task_id,
            item.name,
            item.fn_id,
            placement.shape_of(item.resources, item.extra),
            item.dep_ids,
            item.max_retries,
            item.retry_exceptions,
        )
        extra = item.extra
        if extra is not None:
            if extra.num_returns > 1:
                task.outputs = tuple(return_ids(item.task_id, extra.num_returns))
            task.parent_id, task.max_calls = extra.parent_id, extra.max_calls
            task.chainable = extra.num_returns >= 0
            if extra.runtime_env is not None:
                self.runtime_envs.setdefault(extra.runtime_env.key, extra.runtime_env)
        return self.core.submit(task, now)

    # --- effects -----------------------------------------------------------------------------
    def _apply(self, effects: list[fx.Effect]) -> None:
        touched: set[Connection] = set()
        for eff in effects:
            if isinstance(eff, fx.Dispatch):
                touched.add(self._dispatch(eff))
            elif isinstance(eff, fx.Fail):
                data = eff.blob if eff.blob is not None else error_blob(eff.kind, eff.message)
                if self.streams.is_stream(eff.task_id):
                    self._end_stream(eff.task_id, data, eff.blob is None)
                else:
                    self.table.complete(eff.task_id, FAILED, data)
                effects += self.actors.failed(eff, data)
            elif isinstance(eff, fx.Finished):
                self.records.pop(eff.task_id, None)
                self.output_contexts.pop(eff.task_id, None)
                self.table.unpin(eff.dep_ids)
                effects += self.actors.finished(eff.task_id, time.monotonic())
            elif isinstance(eff, fx.StopExecutor):
                self.actors.stop(eff)
            elif isinstance(eff, fx.ActorEnded):
                effects += self.actors.ended(eff, time.monotonic())
            elif isinstance(eff, fx.LaunchExecutors):
                launches = [
                    m.ExecutorLaunch(eid, Resources(shape), self.executor_command(shape))
                    for eid, shape in eff.executors
                ]
                log.debug("launching %d executor(s) on %s", len(launches), eff.agent_id)
                self._to_master(m.Accept(eff.offer_ids, launches, eff.refuse_seconds))
            elif isinstance(eff, fx.DeclineOffers):
                self._to_master(m.Decline(eff.offer_ids, eff.refuse_seconds))
            elif isinstance(eff, fx.SetSuppressed):
                self._to_master(m.Suppress() if eff.suppressed else m.Revive())
            elif isinstance(eff, fx.UseGpus):
                self._to_master(m.UpdateFramework(self._capabilities()))
            elif isinstance(eff, fx.KillExecutor):
                self._to_master(m.KillExecutor(eff.agent_id, eff.executor_id))
            elif isinstance(eff, fx.CancelOnExecutor):
                conn = self.executor_conns.get(eff.executor_id)
                if conn is not None:
                    conn.send(m.CancelTask(eff.task_id))
        for conn in touched:  # tasks go out now, not a loop iteration later
            conn.flush()

    def _subscribe_call(self) -> m.Subscribe:
        return m.Subscribe(
            self.name,
            self.role,
            self.framework_id,
            self.failover_timeout,
            self.credential,
            self._capabilities(),
        )

    def _to_master(self, call: m.SchedulerCall) -> None:
        """Send a control-plane call, or hold it until the driver is subscribed again."""
        if self.master is not None and self._master_ready:
            self.master.send(call)
            return
        log.info("master away: holding %s until re-subscribed", type(call).__name__)
        self._held.append(call)

    def _dispatch(self, eff: fx.Dispatch) -> Connection:
        rec = self.records.get(eff.task_id)
        if rec is None:
            return self.actors.dispatch(eff)
        conn = self.executor_conns[eff.executor_id]
        deps = dep_blobs(self.table, rec.task_id, rec.dep_ids, eff.local_deps)
        fn = self.functions[rec.fn_id] if eff.send_function else None
        self.objects.copied_to(eff.executor_id, deps)
        local = list(eff.local_deps)
        returns = 1 if rec.extra is None else rec.extra.num_returns
        lease = self.core.leases.get(eff.executor_id)
        borrowed = rec.resources if lease is not None and lease.shape != rec.resources else None
        conn.send(
            m.RunTask(
                rec.task_id, rec.name, rec.fn_id, fn, rec.args, deps, local, returns, borrowed
            )
        )
        return conn

    def dep_blobs(self, task_id: str, dep_ids: list[str]) -> list[m.ObjectBlob]:
        return dep_blobs(self.table, task_id, dep_ids)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            self._drain_intake()  # and this process's actor handle events
            for oid in self.table.drain_freed():
                self.core.forget_object(oid)
                self.objects.lineage.forget(oid)
            self.objects.free_stored()
            self._refresh_preload()
            now = time.monotonic()
            self._apply(self.core.tick(now))
            master = self.master if self._master_ready else None
            if master is not None and now - self._summary_at >= SUMMARY_INTERVAL_S:
                summary = self.core.book.report(now)
                if summary is not None:
                    self._summary_at = now
                    master.send(summary)
            if self.core.actors.changed and master is not None:
                master.send(m.ActorSummary(self.actors.summaries()))

    def _refresh_preload(self) -> None:
        """Tell every executor the modules to import ahead of need when the list changed
        (``pymesos_rt/preload.py``); an executor connecting later is told as it connects."""
        wanted = preload_wanted()
        if wanted == self.preload:
            return
        self.preload = wanted
        for conn in self.executor_conns.values():
            conn.send(m.Preload(wanted))

    def lost(self, oid: str, location: ObjectLocation, reason: str) -> None:
        """A user thread could not read ``oid``: returns once it is being rebuilt or failed."""
        done = threading.Event()
        self.enqueue(Lost(oid, location, reason, done))
        done.wait(30.0)

    def free_stored(self) -> None:
        self.objects.free_stored()

    # --- master side -------------------------------------------------------------------------
    def on_master_event(self, event: m.SchedulerEvent) -> None:
        now = time.monotonic()
        match event:
            case m.Subscribed():
                self.framework_id = event.framework_id
                log.info("subscribed as framework %s", event.framework_id)
                self.core.book.resend()  # the master may be a new leader that knows nothing
                if self.master is not None:  # after every (re-)subscription: see Reconcile
                    leases = self.core.leases.values()
                    self.master.send(
                        m.Reconcile([m.ExecutorRef(x.agent_id, x.executor_id) for x in leases])
                    )
                    # then what was decided while the master was away (the master treats a
                    # kill of an executor whose agent has not re-registered yet as an orphan)
                    self.master.send_many(list(self._held))
                    self._held.clear()
                    self._master_ready = True
                    self.core.actors.changed.update(self.core.actors.actors)  # all, again
                self.subscribed.set()
            case m.Offers():
                self._apply(self.core.offers(event.offers, now))
            case m.Rescind():
                pass  # our offers are answered at once; a rescinded one needs nothing
            case m.ExecutorUpdate():
                update = event.update
                if self.master is not None and update.update_id:  # "" needs no acknowledgement
                    self.master.send(m.Acknowledge(update.agent_id, update.update_id))
                if update.state.terminal:
                    log.info("executor %s: %s %s", update.executor_id, update.state, update.message)
                    self._drop_executor(update.executor_id)
                self._apply(self.core.executor_update(update, now))
            case m.ClusterChanged():
                self.objects.addresses = {a.agent_id: a.object_address for a in event.agents}
                self.objects.cluster_known.set()
                self._apply(self.core.cluster(event.agents, now))
            case m.ClusterDelta():
                for agent in event.added:
                    self.objects.addresses[agent.agent_id] = agent.object_address
                for agent_id in event.removed:
                    self.objects.addresses.pop(agent_id, None)
                self._apply(self.core.cluster_delta(event.added, event.removed, now))
            case m.Error():
                log.error("master says: %s", event.message)
            case m.Reclaim():
                log.info("master reclaims %d executor(s): %s", event.count, event.reason)
                self._apply(self.core.reclaim(event.count, now))

    def on_master_closed(self, reason: str) -> None:
        """Executors keep running tasks without the master; reconnect and re-subscribe with
        the same framework id (the master keeps the framework for ``failover_timeout``)."""
        if self._stopping:
            return
        log.warning("lost the master connection (%s); reconnecting", reason)
        self.master = None
        self._master_ready = False
        self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        assert self._connect_master is not None
        delay = 0.1
        while not self._stopping:
            try:
                conn = await self._connect_master()
            except (TimeoutError, OSError) as exc:
                log.info("master unreachable (%s); retrying in %.1fs", exc, delay)
                await self._pause(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.master = conn
            conn.receiver = _MasterSide(self)
            conn.send(self._subscribe_call())
            conn.send(m.Suppress() if self.core.suppressed else m.Revive())
            return


class _MasterSide:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        for msg in messages:
            self.driver.on_master_event(msg)

    def on_closed(self, conn: Connection, reason: str) -> None:
        self.driver.on_master_closed(reason)


def hostname() -> str:
    return socket.gethostname()
