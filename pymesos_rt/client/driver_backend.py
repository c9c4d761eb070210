"""The backend of a driver process: hands tasks to the framework :class:`Driver` on the loop
thread and answers ``get``/``wait`` from the shared :class:`ObjectTable`."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.client.backend import Backend, DoneCallback, PickledCall, TaskOptions
from pymesos_rt.errors import ObjectLostError, UnschedulableError
from pymesos_rt.objects import layout
from pymesos_rt.protocol.ids import IdSequence
from pymesos_rt.protocol.objects import ObjectLocation, Payload
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.driver import Cancel, Driver, Ready
from pymesos_rt.scheduler.matching import fits_somewhere
from pymesos_rt.scheduler.objects import FAILED, ObjectTable
from pymesos_rt.transport.websocket import tls_client_context

LOST_READS = 4  # a stored object found lost again after as many rebuilds is given up


class DriverBackend(Backend):
    def __init__(
        self,
        driver: Driver,
        table: ObjectTable,
        ids: IdSequence,
        state_source: Callable[[], dict[str, Any]],
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

    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        for dep in call.dep_ids:
            if self.table.peek(dep) is None:
                raise ValueError(f"ObjectRef({dep}) is unknown to this runtime (freed or foreign)")
        oid = self.ids.next()
        self.table.create(oid)
        # pin the arguments now, on the caller's thread: the caller may drop its refs to them
        # before the loop thread sees this task
        self.table.pin(call.dep_ids)
        self.driver.enqueue(self.task_spec(oid, call, options))
        return oid

    def check_shape(self, shape: Resources) -> None:
        seen = self.driver.agents  # replaced (not mutated) whenever the cluster changes
        if seen is not self._agents_seen:
            self._agents_seen, self._shapes_ok = seen, set()
        if shape in self._shapes_ok:
            return
        agents = {a.agent_id: a.total for a in seen}
        if agents and not fits_somewhere(shape, agents):
            raise UnschedulableError(self.driver.core.unschedulable_message(shape))
        self._shapes_ok.add(shape)

    def get(self, oids: list[str], timeout: float | None) -> list[tuple[int, Payload]] | None:
        return self.table.get_many(oids, timeout)

    def wait(self, oids: list[str], num_returns: int, timeout: float | None) -> set[str]:
        return self.table.wait(oids, num_returns, timeout)

    def put(self, value: Any) -> str:
        oid = self.ids.next()
        contained: list[str] = []
        enc = layout.encode(value, contained)
        payload: Payload = enc if isinstance(enc, bytes) else self._store(oid, value, enc)
        self.table.put(oid, payload, contained=contained)
        self.driver.free_stored()  # frees made room for the next put at once
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

    def cancel(self, oid: str, force: bool) -> None:
        self.driver.enqueue(Cancel(oid, force))

    def on_done(self, oid: str, callback: DoneCallback) -> None:
        self.table.on_done(oid, callback)

    def add_ref(self, oid: str) -> None:
        self.table.add_ref(oid)

    def release(self, oid: str) -> None:
        self.table.release(oid)

    def escape(self, oid: str) -> None:
        self.table.escape(oid)

    def cluster_state(self) -> dict[str, Any]:
        return self._state_source()

    @staticmethod
    def fetch_state(http_url: str) -> dict[str, Any]:
        """The master's ``/state`` over HTTP (attached mode)."""
        tls = tls_client_context() if http_url.startswith("https") else None
        with urllib.request.urlopen(f"{http_url}/state", timeout=10, context=tls) as resp:
            state: dict[str, Any] = json.load(resp)
            return state

    def shutdown(self) -> None:
        self._on_shutdown()
