"""The backend of a driver process: hands tasks to the framework :class:`Driver` on the loop
thread and answers ``get``/``wait`` from the shared :class:`ObjectTable`."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from pymesos_rt import store
from pymesos_rt.client.backend import Backend, DoneCallback, PickledCall, Progress, TaskOptions
from pymesos_rt.client.notebook import output_context
from pymesos_rt.errors import UnschedulableError
from pymesos_rt.protocol.ids import IdSequence
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.driver import Cancel, Driver, Ready
from pymesos_rt.scheduler.matching import fits_any
from pymesos_rt.scheduler.objects import ObjectTable
from pymesos_rt.store import Payload
from pymesos_rt.transport.websocket import tls_client_context


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

    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        for dep in call.dep_ids:
            if self.table.peek(dep) is None:
                raise ValueError(f"ObjectRef({dep}) is unknown to this runtime (freed or foreign)")
        oid = self.ids.next()
        self.table.create(oid)
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
        self, oids: list[str], timeout: float | None, progress: Progress | None = None
    ) -> list[tuple[int, Payload]] | None:
        return self.table.get_many(oids, timeout, progress)

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
            self.driver.enqueue(Cancel(oid, False))
        return unneeded

    def put(self, data: bytes) -> str:
        oid = self.ids.next()
        directory = self.driver.object_dir
        if directory and len(data) >= store.THRESHOLD:
            self.table.put(oid, store.Stored(store.write(directory, oid, data), len(data)))
        else:
            self.table.put(oid, data)
        self.driver.enqueue(Ready(oid))
        return oid

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

    def cluster_state(self, params: str = "") -> dict[str, Any]:
        return self._state_source(params)

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
