"""The public API: a thin synchronous facade over the client runtime.

``init`` builds the runtime (an embedded cluster, or a connection to a running one) on a loop
thread of its own; every other call goes through the process's backend, so the same calls work
in a driver and, for nested tasks, inside an executor.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

from pymesos_rt import logs
from pymesos_rt.agent import standby
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client.info import ClusterInfo
from pymesos_rt.client.refs import ObjectRef, decode
from pymesos_rt.client.remote_function import RemoteFunction, RemoteOptions
from pymesos_rt.errors import GetTimeoutError, PymesosRTError
from pymesos_rt.protocol.resources import CPUS, MEM, Resources, parse_memory

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class _Session:
    def __init__(self, info: ClusterInfo, stop: Callable[[], None]) -> None:
        self.info = info
        self.stop = stop


_session: _Session | None = None
_session_lock = threading.Lock()


def init(
    address: str | None = None,
    *,
    num_cpus: float | None = None,
    memory: int | str | None = None,
    resources: dict[str, float] | None = None,
    isolation: str = "auto",
    name: str | None = None,
    role: str = "*",
    secret: str | None = None,
    ignore_reinit_error: bool = False,
    idle_timeout: float = 10.0,
    failover_timeout: float = 60.0,
    object_store_memory: int | str | None = None,
) -> ClusterInfo:
    """Start an embedded cluster (no address) or attach to one (``ws://host:port``)."""
    global _session
    with _session_lock:
        if backend_mod.current_or_none() is not None:
            if ignore_reinit_error and _session is not None:
                return _session.info
            raise PymesosRTError(
                "pymesos_rt.init() was already called in this process; call shutdown() first "
                "or pass ignore_reinit_error=True"
            )
        logs.configure_if_unset()
        address = address or os.environ.get("PYMESOS_RT_ADDRESS") or None
        mem_bytes = parse_memory(memory) if memory is not None else None
        store_bytes = parse_memory(object_store_memory) if object_store_memory else None
        first_standby = _early_standby() if address is None else None
        try:
            # imported here: executors import this module too, and never start a session
            from pymesos_rt.client.session import Session, SessionOptions

            session = Session(
                SessionOptions(
                    address=address,
                    num_cpus=num_cpus,
                    memory=mem_bytes,
                    resources=resources,
                    isolation=isolation,
                    name=name or _default_name(),
                    role=role,
                    secret=secret or os.environ.get("PYMESOS_RT_SECRET") or None,
                    idle_timeout=idle_timeout,
                    failover_timeout=failover_timeout,
                    first_standby=first_standby,
                    object_store_memory=store_bytes,
                )
            )
            info = session.start()
        except BaseException:
            if first_standby is not None:
                standby.discard(first_standby)
            raise
        _session = _Session(info, session.stop)
    return info


def _early_standby() -> subprocess.Popen[bytes] | None:
    """A warm standby executor for the embedded agent, started now so that it imports the
    runtime while this process builds the cluster (``agent/standby.py``). Only from the main
    thread: the standby is bound to the thread that starts it (PR_SET_PDEATHSIG), and a thread
    calling ``init`` may end long before the program does."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return standby.spawn("/", {})
    except OSError as exc:
        log.debug("no early standby executor: %s", exc)
        return None


def _default_name() -> str:
    import __main__

    main_file = getattr(__main__, "__file__", None)
    return os.path.basename(main_file) if main_file else "interactive"


def shutdown() -> None:
    """Stop this program's framework (and the embedded cluster). Safe to call twice."""
    global _session
    with _session_lock:
        session, _session = _session, None
    if session is not None:
        session.stop()


atexit.register(shutdown)


def is_initialized() -> bool:
    return backend_mod.current_or_none() is not None


@overload
def remote(fn: F, /) -> RemoteFunction[Any, Any]: ...


@overload
def remote(
    *,
    num_cpus: float = ...,
    memory: int | str | None = ...,
    resources: dict[str, float] | None = ...,
    max_retries: int = ...,
    retry_exceptions: bool = ...,
    name: str | None = ...,
) -> Callable[[F], RemoteFunction[Any, Any]]: ...


def remote(fn: Any = None, /, **options: Any) -> Any:
    """``@remote`` or ``@remote(num_cpus=..., memory=..., ...)``: make a remote function."""
    if fn is not None:
        if not callable(fn) or options:
            raise TypeError("use @remote or @remote(option=value, ...)")
        return RemoteFunction(fn, RemoteOptions())
    opts = RemoteOptions().merged(**options)

    def wrap(f: F) -> RemoteFunction[Any, Any]:
        return RemoteFunction(f, opts)

    return wrap


def _refs_of(refs: Any, what: str) -> list[ObjectRef]:
    items = list(refs)
    for item in items:
        if not isinstance(item, ObjectRef):
            raise TypeError(f"{what} takes ObjectRefs, got {type(item).__name__}: {item!r:.80}")
    return items


def get(refs: ObjectRef | Sequence[ObjectRef], timeout: float | None = None) -> Any:
    """The value(s) of ``refs``, blocking until ready; raises the task's error if it failed."""
    single = isinstance(refs, ObjectRef)
    items = [refs] if isinstance(refs, ObjectRef) else _refs_of(refs, "get")
    backend = backend_mod.current()
    found = backend.get([r.object_id for r in items], timeout)
    if found is None:
        raise GetTimeoutError(f"get timed out after {timeout}s waiting for {len(items)} object(s)")
    values = [
        decode(state, data, ref.object_id, backend)
        for ref, (state, data) in zip(items, found, strict=True)
    ]
    return values[0] if single else values


def wait(
    refs: Sequence[ObjectRef], num_returns: int = 1, timeout: float | None = None
) -> tuple[list[ObjectRef], list[ObjectRef]]:
    """``(ready, not_ready)`` once ``num_returns`` refs are done or ``timeout`` passed."""
    items = _refs_of(refs, "wait")
    if not 0 <= num_returns <= len(items):
        raise ValueError(f"num_returns must be between 0 and {len(items)}, got {num_returns}")
    if len({r.object_id for r in items}) != len(items):
        raise ValueError("wait got the same ObjectRef more than once")
    done = backend_mod.current().wait([r.object_id for r in items], num_returns, timeout)
    ready = [r for r in items if r.object_id in done][:num_returns]
    chosen = {r.object_id for r in ready}
    return ready, [r for r in items if r.object_id not in chosen]


def put(value: Any) -> ObjectRef:
    """Store ``value`` in the cluster once; tasks can take the returned ref as an argument."""
    if isinstance(value, ObjectRef):
        raise TypeError("put() takes a value, not an ObjectRef")
    backend = backend_mod.current()
    return ObjectRef(backend.put(value), backend)


def cancel(ref: ObjectRef, force: bool = False) -> None:
    """Cancel a pending or running task; ``get`` then raises ``TaskCancelledError``."""
    if not isinstance(ref, ObjectRef):
        raise TypeError(f"cancel takes an ObjectRef, got {type(ref).__name__}")
    backend_mod.current().cancel(ref.object_id, force)


def as_completed(refs: Sequence[ObjectRef], timeout: float | None = None) -> Iterator[ObjectRef]:
    """Yield ``refs`` in the order they finish."""
    items = _refs_of(refs, "as_completed")
    backend = backend_mod.current()
    done: queue.SimpleQueue[str] = queue.SimpleQueue()
    by_id = {r.object_id: r for r in items}
    for ref in items:
        backend.on_done(ref.object_id, lambda oid, state, data: done.put(oid))
    deadline = None if timeout is None else time.monotonic() + timeout
    for _ in range(len(by_id)):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            oid = done.get(timeout=left)
        except queue.Empty:
            raise GetTimeoutError(f"as_completed timed out after {timeout}s") from None
        yield by_id[oid]


def _public(res: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {"cpus": 0.0, "memory": 0.0}
    for key, value in res.items():
        if key == MEM:
            out["memory"] = float(int(value * 2**20))
        else:
            out[key] = float(value)
    return out


def cluster_resources() -> dict[str, float]:
    """Total resources of all agents, e.g. ``{"cpus": 2.0, "memory": 25769803776.0}``."""
    state = backend_mod.current().cluster_state()
    return _public(state["resources"]["total"])


def available_resources() -> dict[str, float]:
    """Resources not held by any executor."""
    state = backend_mod.current().cluster_state()
    free = Resources()
    for agent in state["agents"]:
        free = free + (Resources(agent["resources"]) - Resources(agent["used"])).clamp_nonnegative()
    return _public(free.to_dict())


def nodes() -> list[dict[str, Any]]:
    """One dict per agent: id, hostname, resources, state."""
    state = backend_mod.current().cluster_state()
    return [
        {
            "id": a["id"],
            "hostname": a["hostname"],
            "resources": _public(a["resources"]),
            "used": _public(a["used"]),
            "state": a["state"],
            "isolation": a["isolation"],
        }
        for a in state["agents"]
    ]


__all__ = [
    "CPUS",
    "ClusterInfo",
    "as_completed",
    "available_resources",
    "cancel",
    "cluster_resources",
    "get",
    "init",
    "is_initialized",
    "nodes",
    "put",
    "remote",
    "shutdown",
    "wait",
]
