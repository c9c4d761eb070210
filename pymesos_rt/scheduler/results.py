"""The driver's handling of what tasks return beyond one value, and of the requests that
executors make for Ray's API inside tasks. A mixin of :class:`~.driver.Driver` (kept apart so
the driver's file stays about connections and effects).

- Returns: a task of ``num_returns > 1`` reports one blob per return (some may be errors: a
  generator that raised before yielding them all); a generator task reports items as
  :class:`~pymesos_rt.protocol.messages.Yielded` (see :mod:`.streams`).
- ``retry_exceptions=[...]``: whether a raised exception is retried is decided here, from the
  pickled classes the task carries; the core then applies its retry budget.
- A DYNAMIC generator task that raised after yielding and will not be retried still succeeds:
  its value is the list of its items' refs, the last of which holds the error (Ray's rule).
  One that raised before yielding anything (or is no generator) fails.
- ``NextItem`` (an ``ObjectRefGenerator`` inside a task) and ``StateRequest``
  (``rt.available_resources()`` inside a task) are answered here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from pymesos_rt import serialization
from pymesos_rt.errors import make_task_error
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.objects import Payload
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler import effects as fx
from pymesos_rt.scheduler.actor_shell import ActorShell
from pymesos_rt.scheduler.driver_objects import DriverObjects
from pymesos_rt.scheduler.loop_access import LoopAccess
from pymesos_rt.scheduler.objects import FAILED, READY, ObjectTable
from pymesos_rt.scheduler.state import SchedulerState
from pymesos_rt.scheduler.streams import StreamTable
from pymesos_rt.transport.base import Connection

_PENDING: set[asyncio.Task[None]] = set()  # replies being prepared (kept from the GC)


def runtime_env_vars(spec: m.RuntimeEnvSpec) -> dict[str, str]:
    """What an executor of runtime env ``spec`` gets in its environment."""
    return {**spec.env_vars, m.RUNTIME_ENV_VAR: msgspec.json.encode(spec).decode()}


def _payload(blob: m.ObjectBlob) -> Payload:
    return blob.data if blob.location is None else blob.location


class ResultHandling:
    table: ObjectTable
    core: SchedulerState
    streams: StreamTable
    records: dict[str, m.TaskSpec]
    actors: ActorShell
    objects: DriverObjects
    state_source: Callable[[str], Awaitable[dict[str, Any]]] | None
    _loop: asyncio.AbstractEventLoop | None
    access: LoopAccess | None

    def _apply(self, effects: list[fx.Effect]) -> None:
        raise NotImplementedError

    # --- results -----------------------------------------------------------------------------
    def _task_done(self, eid: str, msg: m.TaskDone, now: float) -> list[fx.Effect]:
        value: Payload = msg.value if msg.location is None else msg.location
        if msg.task_id not in self.records:  # an actor's creation or call (actor_shell.py)
            effects = self.actors.returns(msg, now) if msg.returns else []
            self.table.complete(msg.task_id, READY, value, msg.contained)
            self.objects.record_home(msg.task_id, msg.location)
            return effects + self.core.task_done(eid, msg.task_id, msg.duration, now)
        errors: dict[str, bytes] = {}
        for blob in msg.returns:
            state = FAILED if blob.error else READY
            self.table.complete(blob.object_id, state, _payload(blob), blob.contained)
            self.objects.record_home(blob.object_id, blob.location)
            if blob.error:
                errors[blob.object_id] = blob.data
        if not msg.returns:
            if msg.location is not None:
                self.objects.remember(msg.task_id)  # a stored result: keep its lineage
            if self.streams.is_stream(msg.task_id):
                _, dynamic = self.streams.end(msg.task_id, None)
                value = value if dynamic is None else dynamic
            self.table.complete(msg.task_id, READY, value, msg.contained)
            self.objects.record_home(msg.task_id, msg.location)
        return self.core.task_done(eid, msg.task_id, msg.duration, now, errors or None)

    def _task_failed(self, eid: str, msg: m.TaskFailed, now: float) -> list[fx.Effect]:
        rec = self.records.get(msg.task_id)
        extra = rec.extra if rec is not None else None
        retryable = self._retryable(extra, msg.error)
        dynamic = extra is not None and extra.num_returns == m.DYNAMIC
        if (
            not dynamic
            or not self.streams.count(msg.task_id)  # nothing yielded: the task fails
            or self.core.will_retry(msg.task_id, retryable)
        ):
            return self.core.task_failed(eid, msg.task_id, msg.error, msg.duration, now, retryable)
        error_item, value = self.streams.end(msg.task_id, msg.error)
        if value is not None:
            self.table.complete(msg.task_id, READY, value)
        effects = self.core.task_done(eid, msg.task_id, msg.duration, now)
        if error_item is not None:
            effects += self.core.object_failed(fx.Fail(error_item, "blob", blob=msg.error), now)
        return effects

    @staticmethod
    def _retryable(extra: m.TaskExtra | None, error: bytes) -> bool | None:
        """For ``retry_exceptions=[...]``: whether this error is one of them (None: the task
        retries on every exception or none)."""
        if extra is None or not extra.retry_on:
            return None
        try:
            classes = serialization.loads(extra.retry_on)
            raised = serialization.loads_exception(error)
        except Exception:
            return False
        cause = getattr(raised, "cause", raised)
        return isinstance(cause, classes)

    def _yielded(self, msg: m.Yielded, now: float) -> list[fx.Effect]:
        blob = msg.blob
        state = FAILED if blob.error else READY
        oid = self.streams.item(msg.task_id, msg.index, state, _payload(blob))
        if oid is None:
            return []
        if blob.error:
            return self.core.object_failed(fx.Fail(oid, "blob", blob=blob.data), now)
        return self.core.object_ready(oid, now)

    def _end_stream(self, task_id: str, error: bytes, wrap: bool) -> None:
        """A generator task failed (a ``Fail`` effect): its stream ends with the error. With
        ``wrap`` (the runtime's error, e.g. cancelled), the item raises it as a ``TaskError``
        that is also of its class, as Ray's generators do."""
        item_error = error
        if wrap:
            rec = self.records.get(task_id)
            cause = serialization.loads_exception(error)
            name = rec.name if rec is not None else task_id
            item_error = serialization.dumps_value(make_task_error(cause, name, ""))
        error_item, _ = self.streams.end(task_id, item_error)
        self.table.complete(task_id, FAILED, error)
        if error_item is not None:
            failure = fx.Fail(error_item, "blob", blob=item_error)
            self._apply(self.core.object_failed(failure, time.monotonic()))

    # --- requests from tasks -----------------------------------------------------------------
    def _nested_next(self, conn: Connection, eid: str, msg: m.NextItem) -> list[fx.Effect]:
        """Answer once item ``msg.index`` exists or the stream ends; the asking task is
        blocked meanwhile (its executor may run the generator itself)."""
        access = self.access
        assert access is not None

        def deliver(oid: str) -> None:
            if not access.holding():
                access.call_soon_threadsafe(deliver, oid)
                return
            if not conn.closed:
                objects = [m.ObjectBlob(oid, b"")] if oid else []
                conn.send(m.ObjectValues(msg.request_id, objects))
            self._apply(self.core.blocked(eid, -1, time.monotonic()))

        effects = self.core.blocked(eid, +1, time.monotonic())
        self.streams.on_next(msg.task_id, msg.index, deliver)
        return effects

    async def cluster_view(self, params: str = "") -> dict[str, Any]:
        """The master's ``/state``, plus ``idle``: per agent, the resources of this
        framework's executors that hold no task (idle, or still starting with nothing sent to
        them yet): free for its next tasks, though the master counts them as used."""
        if self.state_source is None:
            raise RuntimeError("the driver has no source of cluster state")
        state = dict(await self.state_source(params))
        idle: dict[str, Resources] = {}
        for lease in self.core.leases.values():
            # one still starting with nothing sent to it is free too; an actor's never is
            if not (lease.inflight or lease.killing or lease.actor_id):
                idle[lease.agent_id] = idle.get(lease.agent_id, Resources()) + lease.shape
        state["idle"] = {aid: res.to_dict() for aid, res in idle.items()}
        return state

    def _state_reply(self, conn: Connection, request_id: int, params: str) -> None:
        async def reply() -> None:
            try:
                state = await self.cluster_view(params)
            except Exception as exc:
                state = {"error": str(exc)}
            if not conn.closed:
                conn.send(m.StateReply(request_id, json.dumps(state).encode()))

        task = asyncio.ensure_future(reply())
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)
