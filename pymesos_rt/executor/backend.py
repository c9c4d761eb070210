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
import json
import os
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from pymesos_rt import serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client import handles
from pymesos_rt.client.backend import (
    Backend,
    DoneCallback,
    PickledCall,
    Progress,
    RuntimeInfo,
    TaskOptions,
)
from pymesos_rt.errors import ObjectLostError, PymesosRTError
from pymesos_rt.executor import output
from pymesos_rt.objects import layout
from pymesos_rt.objects.stores import Stores
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import IdSequence, process_prefix, return_id
from pymesos_rt.protocol.objects import ObjectLocation, Payload

PENDING, READY, FAILED = 0, 1, 2
LOST_READS = 4  # a stored object found lost again after as many rebuilds is given up
STATE_TIMEOUT_S = 30.0


class _Request:
    __slots__ = ("event", "objects", "state")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.objects: list[m.ObjectBlob] = []
        self.state = b""


def value_of(b: m.ObjectBlob) -> Any:
    """The value a (non-error) blob carries, read from its store when it is stored (a task's
    argument: when lost, the task goes back to the driver, ``DepsLost``)."""
    if b.location is not None:
        backend = backend_mod.current()
        if isinstance(backend, WorkerBackend):
            return backend.stores.load(b.object_id, b.location)
        return backend.load(b.object_id, b.location)
    return serialization.loads(b.data)


def _lost_get(oid: str, location: ObjectLocation, why: str, rid: int) -> m.GetObjects:
    return m.GetObjects(rid, [oid], 0, True, lost=location, reason=why)


def _payload(b: m.ObjectBlob) -> Payload:
    return b.data if b.location is None else b.location


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
        self._lookups: dict[int, _Lookup] = {}
        self._refs: dict[str, int] = {}  # live ObjectRefs here, per object
        self._refs_lock = threading.Lock()
        self._dead: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._count_down, name="unborrow", daemon=True).start()

    def submit(self, call: PickledCall, options: TaskOptions) -> str:
        oid = self._ids.next()
        spec = self.task_spec(oid, call, options, parent_id=output.current_task_id() or "")
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
        req = self._await_reply(lambda rid: m.GetObjects(rid, oids, num_returns, fetch), timeout)
        return None if req is None else req.objects

    def _await_reply(self, message: Callable[[int], Any], timeout: float | None) -> _Request | None:
        """Send ``message(request id)`` and block (giving the task's slot back) until the
        driver answers it; None if ``timeout`` passed first."""
        rid = next(self._request_ids)
        req = _Request()
        with self._lock:
            self._requests[rid] = req
        self._post(message(rid))
        self._blocked(+1)
        try:
            return req if req.event.wait(timeout) else None
        finally:
            self._blocked(-1)
            with self._lock:
                self._requests.pop(rid, None)

    def deliver(self, values: m.ObjectValues | m.StateReply) -> None:
        with self._lock:
            req = self._requests.get(values.request_id)
        if req is None:
            return
        if isinstance(values, m.ObjectValues):
            req.objects = values.objects
        else:
            req.state = values.state
        req.event.set()

    def stream_next(self, task_id: str, index: int, timeout: float | None) -> str | None:
        req = self._await_reply(lambda rid: m.NextItem(rid, task_id, index), timeout)
        if req is None:
            return None
        return req.objects[0].object_id if req.objects else ""

    def stream_on_next(self, task_id: str, index: int, callback: Callable[[str], None]) -> None:
        def fetch() -> None:
            found = self.stream_next(task_id, index, None)
            callback(found or "")

        threading.Thread(target=fetch, daemon=True).start()

    def get(
        self,
        oids: list[str],
        timeout: float | None,
        progress: Progress | None = None,
        read: Callable[[str, ObjectLocation], None] | None = None,
    ) -> list[tuple[int, Payload]] | None:
        """(``read`` is not called: the driver answers with all the objects at once.)"""
        blobs = self._request(oids, 0, True, timeout)
        if blobs is None:
            return None
        found = {b.object_id: (FAILED if b.error else READY, _payload(b)) for b in blobs}
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

    def load(self, oid: str, location: ObjectLocation) -> Any:
        """A stored object a running task asked for; one found lost is rebuilt by the driver
        from its lineage (the task waits, its slot given back) or raises ObjectLostError."""
        for _ in range(LOST_READS):
            try:
                return self.stores.load(oid, location)
            except ObjectLostError as exc:
                why = str(exc)
            req = self._await_reply(partial(_lost_get, oid, location, why), None)
            assert req is not None
            (b,) = req.objects
            if b.error:
                raise serialization.loads_exception(b.data)
            if b.location is None:
                return serialization.loads(b.data)
            location = b.location
        raise ObjectLostError(f"object {oid} was lost {LOST_READS} times in a row")

    def cancel(self, oid: str, force: bool, recursive: bool = True) -> None:
        self._post(m.CancelRequest(oid, force, recursive))

    def on_done(self, oid: str, callback: DoneCallback) -> None:
        def fetch() -> None:
            found = self.get([oid], None)
            assert found is not None
            callback(oid, *found[0])

        threading.Thread(target=fetch, daemon=True).start()

    def runtime_info(self) -> RuntimeInfo:
        env = os.environ
        task_id = output.current_task_id()
        task = getattr(output.current, "task", None)
        if task is not None and task.task_id != task_id:  # an actor's call runs on this thread
            task = None
        gpus = env.get("PYMESOS_RT_GPU_IDS", "")
        return RuntimeInfo(
            job_id=env.get("PYMESOS_RT_FRAMEWORK_ID", ""),
            node_id=env.get("PYMESOS_RT_AGENT_ID", ""),
            task_id=task_id,
            task_name=task.name if task is not None else None,
            function_name=getattr(output.current, "function_name", None) if task else None,
            resources=(
                task.resources.to_dict()
                if task is not None and task.resources is not None
                else json.loads(env.get("PYMESOS_RT_RESOURCES") or "{}")
            ),
            namespace=env.get("PYMESOS_RT_NAMESPACE", "default"),
            dashboard_url=env.get("PYMESOS_RT_DASHBOARD_URL", ""),
            gpu_ids=[int(i) for i in gpus.split(",") if i.strip()],
        )

    def cluster_state(self, params: str = "") -> dict[str, Any]:
        req = self._await_reply(lambda rid: m.StateRequest(rid, params), STATE_TIMEOUT_S)
        if req is None:
            raise PymesosRTError(f"the driver did not send the cluster state in {STATE_TIMEOUT_S}s")
        state: dict[str, Any] = json.loads(req.state)
        if "error" in state:
            raise PymesosRTError(f"the driver could not read the cluster state: {state['error']}")
        return state

    # --- actors: calls go to the driver, which sends them on to the actor's executor ---------
    def forward_handles(self) -> None:
        """Tell the driver which actors this process holds handles of (client/handles.py): a
        new handle at once, on the thread that made it; the end of the last one through a
        thread, since a handle may die inside the garbage collector, where sending is unsafe."""
        changes = handles.PresenceFilter()
        in_order = threading.Lock()  # a change and its message go out together

        def appeared(actor_id: str, serial: int) -> None:
            with in_order:
                if changes.apply((actor_id, serial, True)):
                    self._post(m.HandleHeld(actor_id, True))

        def forward() -> None:
            while True:
                event = handles.presence.events.get()
                with in_order:
                    if changes.apply(event) is not None:
                        self._post(m.HandleHeld(event[0], event[2]))

        handles.presence.on_new = appeared
        threading.Thread(target=forward, name="actor-handles", daemon=True).start()

    def new_actor_id(self) -> str:
        return "a" + self._ids.next()

    def create_actor(self, spec: m.ActorSpec) -> bytes | None:
        if spec.cls is not None:
            spec = msgspec.structs.replace(spec, cls=self.first_send(spec.cls_id, spec.cls))
        if not spec.name:
            self._post(m.SubmitActor(spec))
            return None
        reply = self._ask(lambda rid: m.SubmitActor(spec, rid))
        return reply.meta or None

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
        oid = self._ids.next()
        spec = m.ActorCallSpec(
            oid, actor_id, method, args, dep_ids, num_returns, max_task_retries, handle_ids
        )
        self._post(m.SubmitCall(spec))
        return [oid] if num_returns == 1 else [return_id(oid, i) for i in range(num_returns)]

    def lookup_actor(self, name: str, namespace: str) -> bytes:
        return self._ask(lambda rid: m.LookupActor(rid, name, namespace)).meta

    def kill_actor(self, actor_id: str, no_restart: bool) -> None:
        self._post(m.KillActor(actor_id, no_restart))

    def escape_actor(self, actor_id: str) -> None:
        self._post(m.HandleHeld(actor_id, True, escaped=True))

    def pin_handles(self, task_id: str, actor_ids: list[str]) -> None:
        self._post(m.HandlePins(task_id, actor_ids))

    def _ask(self, make: Callable[[int], Any], timeout: float = 60.0) -> m.ActorLookup:
        rid = next(self._request_ids)
        lookup = _Lookup()
        with self._lock:
            self._lookups[rid] = lookup
        try:
            self._post(make(rid))
            if not lookup.event.wait(timeout) or lookup.reply is None:
                raise PymesosRTError(f"the driver did not answer within {timeout:g}s")
        finally:
            with self._lock:
                self._lookups.pop(rid, None)
        if lookup.reply.error:
            raise ValueError(lookup.reply.error)
        return lookup.reply

    def deliver_lookup(self, reply: m.ActorLookup) -> None:
        with self._lock:
            lookup = self._lookups.get(reply.request_id)
        if lookup is not None:
            lookup.reply = reply
            lookup.event.set()


class _Lookup:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: m.ActorLookup | None = None
