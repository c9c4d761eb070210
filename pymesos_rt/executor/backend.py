"""The backend of the public API inside an executor: nested ``f.remote()``, ``get``, ``wait``,
``put`` and ``cancel`` are forwarded to the driver, which owns every object. A task blocked in
``get`` tells the runner, which lets the next queued task run meanwhile."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from pymesos_rt import store
from pymesos_rt.client.backend import Backend, DoneCallback, PickledCall, Progress, TaskOptions
from pymesos_rt.errors import PymesosRTError
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import IdSequence, process_prefix
from pymesos_rt.store import Payload

PENDING, READY, FAILED = 0, 1, 2


class _Request:
    __slots__ = ("event", "objects")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.objects: list[m.ObjectBlob] = []


def payload_of(b: m.ObjectBlob) -> bytes | memoryview:
    """The pickled bytes a blob carries, mapped from the store when it holds a path."""
    return store.read_path(b.location) if b.location else b.data


class WorkerBackend(Backend):
    def __init__(
        self,
        post: Callable[[Any], None],
        blocked: Callable[[int], None],
        object_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.object_dir = object_dir
        self._post = post
        self._blocked = blocked
        self._ids = IdSequence(process_prefix())
        self._requests: dict[int, _Request] = {}
        self._request_ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        oid = self._ids.next()
        spec = self.task_spec(oid, call, options)
        self._post(m.Submit(spec))
        return oid

    def _request(
        self, oids: list[str], num_returns: int, fetch: bool, timeout: float | None
    ) -> list[m.ObjectBlob] | None:
        rid = next(self._request_ids)
        req = _Request()
        with self._lock:
            self._requests[rid] = req
        self._post(m.GetObjects(rid, oids, num_returns, fetch))
        self._blocked(+1)
        try:
            if not req.event.wait(timeout):
                return None
            return req.objects
        finally:
            self._blocked(-1)
            with self._lock:
                self._requests.pop(rid, None)

    def deliver(self, values: m.ObjectValues) -> None:
        with self._lock:
            req = self._requests.get(values.request_id)
        if req is not None:
            req.objects = values.objects
            req.event.set()

    def get(
        self, oids: list[str], timeout: float | None, progress: Progress | None = None
    ) -> list[tuple[int, Payload]] | None:
        blobs = self._request(oids, 0, True, timeout)
        if blobs is None:
            return None
        found = {b.object_id: (FAILED if b.error else READY, payload_of(b)) for b in blobs}
        return [found[oid] for oid in oids]

    def wait(
        self,
        oids: list[str],
        num_returns: int,
        timeout: float | None,
        progress: Progress | None = None,
    ) -> set[str]:
        if num_returns == 0:
            return set()
        blobs = self._request(oids, num_returns, False, timeout)
        return set() if blobs is None else {b.object_id for b in blobs}

    def put(self, data: bytes) -> str:
        oid = self._ids.next()
        self._post(m.PutObject(self.pack(oid, data)))
        return oid

    def pack(self, oid: str, data: bytes) -> m.ObjectBlob:
        """A value to send to the driver: by store path when large and the driver can read it."""
        if self.object_dir and len(data) >= store.THRESHOLD:
            return m.ObjectBlob(oid, b"", location=store.write(self.object_dir, oid, data))
        return m.ObjectBlob(oid, data)

    def cancel(self, oid: str, force: bool) -> None:
        self._post(m.CancelRequest(oid, force))

    def on_done(self, oid: str, callback: DoneCallback) -> None:
        def fetch() -> None:
            found = self.get([oid], None)
            assert found is not None
            callback(oid, *found[0])

        threading.Thread(target=fetch, daemon=True).start()

    def cluster_state(self, params: str = "") -> dict[str, Any]:
        raise PymesosRTError("cluster state is not available inside a task")
