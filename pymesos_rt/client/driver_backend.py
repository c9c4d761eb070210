"""The backend of a driver process: hands tasks to the framework :class:`Driver` on the loop
thread and answers ``get``/``wait`` from the shared :class:`ObjectTable`."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Callable
from typing import Any

import msgspec

from pymesos_rt import serialization
from pymesos_rt.client import handles
from pymesos_rt.client.backend import (
    Backend,
    DoneCallback,
    PickledCall,
    Progress,
    RuntimeInfo,
    TaskOptions,
)
from pymesos_rt.client.notebook import output_context
from pymesos_rt.errors import ObjectLostError, UnschedulableError
from pymesos_rt.objects import layout
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import IdSequence, return_id, return_ids
from pymesos_rt.protocol.objects import ObjectLocation, Payload
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.actor_shell import Escape
from pymesos_rt.scheduler.actors import DRIVER
from pymesos_rt.scheduler.driver import Cancel, Driver, Ready
from pymesos_rt.scheduler.matching import fits_any
from pymesos_rt.scheduler.objects import FAILED, ObjectTable
from pymesos_rt.transport.websocket import tls_client_context

LOST_READS = 4  # a stored object found lost again after as many rebuilds is given up


class DriverBackend(Backend):
    def __init__(
        self,
        driver: Driver,
        table: ObjectTable,
        ids: IdSequence,
        state_source: Callable[[str], dict[str, Any]],
        on_shutdown: Callable[[], None],
    ) -> None:
        super().__init__()
        self.driver = driver
        self.table = table
        self.ids = ids
        self._state_source = state_source
        self._on_shutdown = on_shutdown
        self._agents_seen: object = None
        self._shapes_ok: set[Resources] = set()
        self.node_id = ""  # the agent this driver runs beside (embedded), if known
        self.namespace = "default"
        self.dashboard_url = ""
        self._node_id: str | None = None
        driver.actors.events = handles.presence.events
        driver.actors.presence = handles.PresenceFilter().apply

    def _check_deps(self, dep_ids: list[str]) -> None:
        for dep in dep_ids:
            if self.table.peek(dep) is None:
                raise ValueError(f"ObjectRef({dep}) is unknown to this runtime (freed or foreign)")

    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        self._check_deps(call.dep_ids)
        oid = self.ids.next()
        returns = options.num_returns
        for rid in return_ids(oid, returns):
            self.table.create(rid, refs=0 if returns == 0 else 1)
        if returns < 0:
            self.driver.streams.open(oid, returns, owned=True)
        # pin the arguments now, on the caller's thread: the caller may drop its refs to them
        # before the loop thread sees this task
        self.table.pin(call.dep_ids)
        context = output_context()
        if context is not None:  # in Jupyter: its output goes under the submitting cell
            self.driver.output_contexts[oid] = context
        self.driver.enqueue(self.task_spec(oid, call, options))
        return oid

    def check_shape(self, shape: Resources) -> None:
        seen = self.driver.core.agent_totals  # replaced (not mutated) when it changes
        if seen is not self._agents_seen:
            self._agents_seen, self._shapes_ok = seen, set()
        if shape in self._shapes_ok:
            return
        if seen and not fits_any(shape, seen):
            raise UnschedulableError(self.driver.core.unschedulable_message(shape))
        self._shapes_ok.add(shape)

    def get(
        self,
        oids: list[str],
        timeout: float | None,
        progress: Progress | None = None,
        read: Callable[[str, ObjectLocation], None] | None = None,
    ) -> list[tuple[int, Payload]] | None:
        return self.table.get_many(oids, timeout, progress, read)

    def wait(
        self,
        oids: list[str],
        num_returns: int,
        timeout: float | None,
        progress: Progress | None = None,
    ) -> set[str]:
        return self.table.wait(oids, num_returns, timeout, progress)

    def cancel_unneeded(self, oids: list[str]) -> list[str]:
        unneeded = self.table.unneeded(oids)
        for oid in unneeded:
            self.driver.enqueue(Cancel(oid, False, True))  # and what it submitted, as rt.cancel
        return unneeded

    def put(self, value: Any) -> str:
        oid = self.ids.next()
        contained: list[str] = []
        enc = layout.encode(value, contained)
        if not isinstance(enc, bytes):
            self.driver.free_stored()  # what was dropped before makes room for this value
        payload: Payload = enc if isinstance(enc, bytes) else self._store(oid, value, enc)
        self.table.put(oid, payload, contained=contained)
        location = payload if isinstance(payload, ObjectLocation) else None
        self.driver.enqueue(Ready(oid, location))
        return oid

    def _store(self, oid: str, value: Any, enc: layout.Encoded) -> Payload:
        location = self.driver.stores.put(oid, enc)
        return serialization.dumps_value(value, []) if location is None else location

    def load(self, oid: str, location: ObjectLocation) -> Any:
        """Read a stored object; one found lost is rebuilt from its lineage (and read again)
        or raises ObjectLostError naming the object and the node it was lost with."""
        for _ in range(LOST_READS):
            try:
                return self.driver.stores.load(oid, location)
            except ObjectLostError as exc:
                self.driver.lost(oid, location, str(exc))
            found = self.table.get_many([oid], None)
            assert found is not None
            state, payload = found[0]
            if isinstance(payload, ObjectLocation):
                location = payload
            elif state == FAILED:
                raise serialization.loads_exception(payload)
            else:
                return serialization.loads(payload)
        raise ObjectLostError(f"object {oid} was lost {LOST_READS} times in a row")

    def cancel(self, oid: str, force: bool, recursive: bool = True) -> None:
        self.driver.enqueue(Cancel(oid, force, recursive))

    def stream_next(self, task_id: str, index: int, timeout: float | None) -> str | None:
        return self.driver.streams.next(task_id, index, timeout)

    def stream_on_next(self, task_id: str, index: int, callback: Callable[[str], None]) -> None:
        self.driver.streams.on_next(task_id, index, callback)

    def stream_close(self, task_id: str, consumed: int) -> None:
        self.driver.streams.close(task_id, consumed)

    def on_done(self, oid: str, callback: DoneCallback) -> None:
        self.table.on_done(oid, callback)

    def add_ref(self, oid: str) -> None:
        self.table.add_ref(oid)

    def release(self, oid: str) -> None:
        self.table.release(oid)

    def escape(self, oid: str) -> None:
        self.table.escape(oid)

    def cluster_state(self, params: str = "") -> dict[str, Any]:
        return self._state_source(params)

    def runtime_info(self) -> RuntimeInfo:
        if self._node_id is None:
            here = socket.gethostname()
            agents = [] if self.node_id else self.cluster_state("limit=10000")["agents"]
            mine = [a["id"] for a in agents if a["hostname"] == here]
            self._node_id = self.node_id or (mine[0] if mine else "")
        return RuntimeInfo(
            job_id=self.driver.framework_id or "",
            node_id=self._node_id,
            namespace=self.namespace,
            dashboard_url=self.dashboard_url,
        )

    # --- actors ------------------------------------------------------------------------------
    def new_actor_id(self) -> str:
        return "a" + self.ids.next()

    def create_actor(self, spec: m.ActorSpec) -> bytes | None:
        self._check_deps(spec.dep_ids)
        if spec.cls is not None:
            spec = msgspec.structs.replace(spec, cls=self.first_send(spec.cls_id, spec.cls))
        self.table.pin(spec.dep_ids)
        if not spec.name:
            self.driver.enqueue(m.SubmitActor(spec))
            return None
        shell = self.driver.actors

        def create(now: float) -> bytes | None:
            meta, effects = shell.create_named(spec, DRIVER, now)
            self.driver._apply(effects)
            return meta

        return shell.run_sync(create)

    def call_actor(
        self,
        actor_id: str,
        method: str,
        args: bytes,
        dep_ids: list[str],
        num_returns: int,
        max_task_retries: int,
        handle_ids: list[str],
    ) -> list[str]:
        if dep_ids:
            self._check_deps(dep_ids)
        oid = self.ids.next()
        if num_returns == 1:
            outs = [oid]
            self.table.create(oid)
        else:
            outs = [return_id(oid, i) for i in range(num_returns)]
            for rid in outs:
                self.table.create(rid)
        if dep_ids:
            self.table.pin(dep_ids)
        context = output_context()
        if context is not None:  # in Jupyter: what the call prints goes under this cell
            self.driver.output_contexts[oid] = context
        self.driver.enqueue(
            m.ActorCallSpec(
                oid, actor_id, method, args, dep_ids, num_returns, max_task_retries, handle_ids
            )
        )
        return outs

    def lookup_actor(self, name: str, namespace: str) -> bytes:
        shell = self.driver.actors
        return shell.run_sync(lambda now: shell.lookup(name, namespace))

    def kill_actor(self, actor_id: str, no_restart: bool) -> None:
        self.driver.enqueue(m.KillActor(actor_id, no_restart))

    def escape_actor(self, actor_id: str) -> None:
        self.driver.enqueue(Escape(actor_id))

    def pin_handles(self, task_id: str, actor_ids: list[str]) -> None:
        self.driver.enqueue(m.HandlePins(task_id, actor_ids))

    @staticmethod
    def fetch_state(http_url: str, params: str = "") -> dict[str, Any]:
        """The master's ``/state`` over HTTP (attached mode)."""
        tls = tls_client_context() if http_url.startswith("https") else None
        url = f"{http_url}/state" + (f"?{params}" if params else "")
        with urllib.request.urlopen(url, timeout=10, context=tls) as resp:
            state: dict[str, Any] = json.load(resp)
            return state

    def shutdown(self) -> None:
        self._on_shutdown()
