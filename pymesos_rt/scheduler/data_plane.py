"""The driver's data plane: the websocket endpoint executors connect to straight. It checks
each connection's ``Hello``, hands results to the result handling (``results.py``), object
calls to ``driver_objects.py`` and actor calls to ``actor_shell.py``, and answers nested
submissions and ``get`` requests; it prints what tasks print, prefixed with their name and
host. A mixin of :class:`~.driver.Driver` (kept apart so the driver's file stays about the
master connection, intake and effects).

An executor's connection that closes waits ``STATUS_GRACE_S`` for the agent's status update
(it says best why the executor ended) before its tasks fail over; it takes no new tasks
meanwhile (``SchedulerState.executor_closed``).
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import return_ids
from pymesos_rt.protocol.objects import ObjectLocation, Payload
from pymesos_rt.scheduler import effects as fx
from pymesos_rt.scheduler.actor_shell import WORKER_ACTOR_CALLS, ActorIntake
from pymesos_rt.scheduler.driver_objects import OBJECT_CALLS
from pymesos_rt.scheduler.intake import Cancel, Lost, Ready
from pymesos_rt.scheduler.loop_access import LoopAccess
from pymesos_rt.scheduler.objects import FAILED, ObjectTable
from pymesos_rt.scheduler.results import ResultHandling
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)

STATUS_GRACE_S = 2.0  # how long a closed executor connection waits for the agent's word


def blob(oid: str, state: int, payload: Payload) -> m.ObjectBlob:
    """An object as sent to an executor: inline, or where it is stored."""
    if isinstance(payload, ObjectLocation):
        return m.ObjectBlob(oid, b"", state == FAILED, payload)
    return m.ObjectBlob(oid, bytes(payload), state == FAILED)


def dep_blobs(
    table: ObjectTable, task_id: str, dep_ids: list[str], skip: tuple[str, ...] = ()
) -> list[m.ObjectBlob]:
    """The argument objects of a task, as sent to its executor (``skip``: produced there)."""
    deps: list[m.ObjectBlob] = []
    for oid in dep_ids:
        if oid in skip:
            continue
        found = table.peek(oid)
        if found is None:  # pinned since submission: cannot happen unless a bug
            raise RuntimeError(f"argument {oid} of task {task_id} was freed too early")
        deps.append(blob(oid, *found))
    return deps


class DataPlane(ResultHandling):
    executor_conns: dict[str, Connection]
    executor_hosts: dict[str, str]
    _conn_executor: dict[str, str]
    access: LoopAccess | None
    preload: list[str]
    output_contexts: dict[str, contextvars.Context]
    _stopping: bool

    def _handle_intake(
        self, item: m.TaskSpec | Cancel | Ready | Lost | ActorIntake
    ) -> list[fx.Effect]:
        raise NotImplementedError

    def _accept_executor(self, conn: Connection) -> _ExecutorSide:
        return _ExecutorSide(self)

    def on_executor_messages(self, conn: Connection, messages: list[m.WorkerCall]) -> None:
        now = time.monotonic()
        eid = self._conn_executor.get(conn.id)
        effects: list[fx.Effect] = []
        for msg in messages:
            if eid is None:
                if not isinstance(msg, m.Hello) or msg.executor_id not in self.core.leases:
                    conn.close("first message must be Hello from an executor of this framework")
                    return
                eid = msg.executor_id
                self._conn_executor[conn.id] = eid
                self.executor_conns[eid] = conn
                self.executor_hosts[eid] = msg.hostname
                log.debug("executor %s connected (pid %d)", eid, msg.pid)
                if self.preload:
                    conn.send(m.Preload(self.preload))
                effects += self.core.executor_connected(eid, now)
                continue
            match msg:
                case m.TaskDone():
                    effects += self._task_done(eid, msg, now)
                case m.TaskFailed():
                    failed = self._task_failed(eid, msg, now)
                    if any(isinstance(e, fx.Fail) and e.task_id == msg.task_id for e in failed):
                        self._failed_for_good(eid, msg, now)  # no retry left: the dashboard
                    effects += failed
                case m.Yielded():
                    effects += self._yielded(msg, now)
                case m.NextItem():
                    effects += self._nested_next(conn, eid, msg)
                case m.StateRequest():
                    self._state_reply(conn, msg.request_id, msg.params)
                case m.Output():
                    self._print_output(eid, msg)
                case m.Submit():
                    effects += self._nested_submit(eid, msg.spec)
                case m.GetObjects():
                    effects += self.objects.reported_lost(msg, now)  # rebuilt first
                    effects += self._nested_get(conn, eid, msg)
                case m.CancelRequest():
                    effects += self._handle_intake(Cancel(msg.task_id, msg.force, msg.recursive))
                case _ if isinstance(msg, OBJECT_CALLS):
                    effects += self.objects.on_worker(eid, msg, now)
                case m.Hello():
                    pass
                case _ if isinstance(msg, WORKER_ACTOR_CALLS):
                    effects += self.actors.on_worker(conn, eid, msg, now)
        self._apply(effects)

    def on_executor_closed(self, conn: Connection, reason: str) -> None:
        """The agent's status update says best why an executor ended (exit status, signal,
        memory limit): wait a moment for it before failing over on the closed connection."""
        eid = self._conn_executor.pop(conn.id, None)
        if eid is None:
            return
        self.executor_conns.pop(eid, None)
        self.core.executor_closed(eid)  # no task goes to it while its status is awaited
        self.table.drop_borrower(eid)  # its references died with it
        if self._stopping or self._loop is None:
            return
        detail = f"its connection closed: {reason}"

        def gone() -> None:
            self._apply(self.core.executor_gone(eid, "executor_lost", detail, time.monotonic()))

        self._loop.call_later(STATUS_GRACE_S, gone)

    def _drop_executor(self, eid: str) -> None:
        self.table.drop_borrower(eid)
        conn = self.executor_conns.pop(eid, None)
        if conn is not None:
            self._conn_executor.pop(conn.id, None)
            conn.close("executor ended")

    def _failed_for_good(self, eid: str, msg: m.TaskFailed, now: float) -> None:
        rec = self.records.get(msg.task_id)
        name = rec.name if rec else (self.actors.label(msg.task_id) or msg.task_id)
        self.core.book.failed(msg.task_id, name, eid, "", msg.traceback, now)

    def _print_output(self, eid: str, msg: m.Output) -> None:
        rec = self.records.get(msg.task_id)
        label = rec.name if rec else (self.actors.label(msg.task_id) or msg.task_id)
        self.core.book.output(msg.task_id, label, msg.stream, msg.text, time.monotonic())
        prefix = f"({label} {msg.task_id} on {self.executor_hosts.get(eid, '?')}) "
        lines = msg.text.splitlines(keepends=True)
        text = "".join(prefix + line for line in lines)
        if not msg.text.endswith("\n"):
            text += "\n"
        context = self.output_contexts.get(msg.task_id)
        if context is None:
            _write(msg.stream, text)
        else:  # under the cell that submitted the task (ipykernel keeps it in a context var)
            context.run(_write, msg.stream, text)

    def _nested_submit(self, eid: str, spec: m.TaskSpec) -> list[fx.Effect]:
        returns = 1 if spec.extra is None else spec.extra.num_returns
        for oid in return_ids(spec.task_id, returns):
            self.table.create(oid, refs=0, borrower=eid)  # the submitter holds the refs
        if returns < 0:
            self.streams.open(spec.task_id, returns, owned=False)
        self.table.pin(spec.dep_ids)
        return self._handle_intake(spec)

    def _nested_get(self, conn: Connection, eid: str, msg: m.GetObjects) -> list[fx.Effect]:
        wanted = (
            len(msg.object_ids)
            if msg.num_returns <= 0
            else min(msg.num_returns, len(msg.object_ids))
        )
        done: dict[str, tuple[int, Payload]] = {}
        access = self.access
        assert access is not None
        replied = False

        def reply() -> None:
            nonlocal replied
            if replied:
                return
            replied = True
            blobs = [
                blob(oid, state, data) if msg.fetch else m.ObjectBlob(oid, b"")
                for oid, (state, data) in done.items()
            ]
            self.objects.copied_to(eid, blobs)
            if not conn.closed:
                conn.send(m.ObjectValues(msg.request_id, blobs))
            self._apply(self.core.blocked(eid, -1, time.monotonic()))

        def on_done(oid: str, state: int, data: Payload) -> None:
            if not access.holding():
                access.call_soon_threadsafe(on_done, oid, state, data)
                return
            done[oid] = (state, data)
            if len(done) >= wanted:
                reply()

        effects = self.core.blocked(eid, +1, time.monotonic())
        for oid in msg.object_ids:
            try:
                self.table.on_done(oid, on_done)
            except KeyError as exc:
                done[oid] = (FAILED, serialization.dumps_value(KeyError(str(exc))))
                if len(done) >= wanted:
                    reply()
        return effects


class _ExecutorSide:
    def __init__(self, driver: DataPlane) -> None:
        self.driver = driver

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        self.driver.on_executor_messages(conn, messages)

    def on_closed(self, conn: Connection, reason: str) -> None:
        self.driver.on_executor_closed(conn, reason)


def _write(stream_name: str, text: str) -> None:
    stream = sys.stdout if stream_name == "stdout" else sys.stderr
    stream.write(text)
    stream.flush()
