"""The backend of the public API inside an executor: nested ``f.remote()``, ``get``, ``wait``,
``put`` and ``cancel`` are forwarded to the driver, which owns every object. A task blocked in
``get`` tells the runner, which lets the next queued task run meanwhile.

References held here are counted per object: the driver hears ``Borrow`` when the count of
live ``ObjectRef``s to an object goes from 0 to 1 and ``Unborrow`` when it drops back to 0
(objects this executor created start at 1, borrowed by its ``Submit``/``PutObject``). A ref
dies inside garbage collection, so a dead ref is only queued (``SimpleQueue.put`` takes no
lock) and counted down on a thread of its own.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.client.backend import Backend, DoneCallback, PickledCall, TaskOptions
from pymesos_rt.errors import PymesosRTError
from pymesos_rt.objects import layout
from pymesos_rt.objects.stores import Stores
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import IdSequence, process_prefix
from pymesos_rt.protocol.objects import ObjectLocation, Payload

PENDING, READY, FAILED = 0, 1, 2


class _Request:
    __slots__ = ("event", "objects")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.objects: list[m.ObjectBlob] = []


class WorkerBackend(Backend):
    def __init__(
        self,
        post: Callable[[Any], None],
        blocked: Callable[[int], None],
        stores: Stores | None = None,
    ) -> None:
        super().__init__()
        self.stores = stores or Stores()
        self._post = post
        self._blocked = blocked
        self._ids = IdSequence(process_prefix())
        self._requests: dict[int, _Request] = {}
        self._request_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._refs: dict[str, int] = {}  # live ObjectRefs here, per object
        self._refs_lock = threading.Lock()
        self._dead: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._count_down, name="unborrow", daemon=True).start()

    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        oid = self._ids.next()
        spec = self.task_spec(oid, call, options)
        with self._refs_lock:  # the caller's ref, borrowed by the Submit itself
            self._refs[oid] = self._refs.get(oid, 0) + 1
        self._post(m.Submit(spec))
        return oid

    # --- references held here ------------------------------------------------------------
    def add_ref(self, oid: str) -> None:
        with self._refs_lock:  # under the lock: Borrow and Unborrow of one object keep order
            count = self._refs.get(oid, 0)
            self._refs[oid] = count + 1
            if count == 0:
                self._post(m.Borrow([oid]))

    def release(self, oid: str) -> None:
        self._dead.put(oid)

    def _count_down(self) -> None:
        while True:
            batch = [self._dead.get()]
            while True:
                try:
                    batch.append(self._dead.get_nowait())
                except queue.Empty:
                    break
            gone: list[str] = []
            with self._refs_lock:
                for oid in batch:
                    count = self._refs.get(oid, 0) - 1
                    if count > 0:
                        self._refs[oid] = count
                    elif oid in self._refs:
                        del self._refs[oid]
                        gone.append(oid)
                if gone:
                    self._post(m.Unborrow(gone))

    def held(self) -> int:
        """Objects this executor holds references to."""
        with self._refs_lock:
            return len(self._refs)

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

    def get(self, oids: list[str], timeout: float | None) -> list[tuple[int, Payload]] | None:
        blobs = self._request(oids, 0, True, timeout)
        if blobs is None:
            return None
        found = {b.object_id: (FAILED if b.error else READY, _payload(b)) for b in blobs}
        return [found[oid] for oid in oids]

    def wait(self, oids: list[str], num_returns: int, timeout: float | None) -> set[str]:
        if num_returns == 0:
            return set()
        blobs = self._request(oids, num_returns, False, timeout)
        return set() if blobs is None else {b.object_id for b in blobs}

    def put(self, value: Any) -> str:
        oid = self._ids.next()
        blob = self.pack(oid, value)
        with self._refs_lock:  # the caller's ref, borrowed by the PutObject itself
            self._refs[oid] = self._refs.get(oid, 0) + 1
        self._post(m.PutObject(blob))
        return oid

    def pack(self, oid: str, value: Any) -> m.ObjectBlob:
        """A value to send to the driver: inline when small, else written into this node's
        object store (only its location is sent), with the refs it contains."""
        refs: list[str] = []
        enc = layout.encode(value, refs)
        if isinstance(enc, bytes):
            return m.ObjectBlob(oid, enc, contained=refs)
        location = self.stores.put(oid, enc)
        if location is None:  # no store here: inline after all
            return m.ObjectBlob(oid, serialization.dumps_value(value, []), contained=refs)
        return m.ObjectBlob(oid, b"", location=location, contained=refs)

    def value_of(self, b: m.ObjectBlob) -> Any:
        """The value a (non-error) blob carries, read from its store when it is stored."""
        if b.location is not None:
            return self.stores.load(b.object_id, b.location)
        return serialization.loads(b.data)

    def load(self, oid: str, location: ObjectLocation) -> Any:
        return self.stores.load(oid, location)

    def cancel(self, oid: str, force: bool) -> None:
        self._post(m.CancelRequest(oid, force))

    def on_done(self, oid: str, callback: DoneCallback) -> None:
        def fetch() -> None:
            found = self.get([oid], None)
            assert found is not None
            callback(oid, *found[0])

        threading.Thread(target=fetch, daemon=True).start()

    def cluster_state(self) -> dict[str, Any]:
        raise PymesosRTError("cluster state is not available inside a task")


def _payload(b: m.ObjectBlob) -> Payload:
    return b.data if b.location is None else b.location
