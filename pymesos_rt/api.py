"""The public API: a thin synchronous facade over the client runtime.

``init`` builds the runtime (an embedded cluster, or a connection to a running one) on a loop
thread of its own; every other call goes through the process's backend, so the same calls work
in a driver and, for nested tasks, inside an executor.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import operator
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, overload

from pymesos_rt import logs
from pymesos_rt.agent import standby
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client import progress as progress_mod
from pymesos_rt.client.actor import ActorClass, ActorOptions
from pymesos_rt.client.generators import ObjectRefGenerator
from pymesos_rt.client.info import ClusterInfo
from pymesos_rt.client.options import RemoteOptions
from pymesos_rt.client.refs import ObjectRef, ReadAhead, error_of
from pymesos_rt.client.remote_function import RemoteFunction
from pymesos_rt.client.resource_names import GPUS, to_ray
from pymesos_rt.errors import GetTimeoutError, PymesosRTError
from pymesos_rt.protocol.resources import CPUS, Resources, parse_memory
from pymesos_rt.util.scheduling_strategies import NodeAffinitySchedulingStrategy

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


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
    num_gpus: float | None = None,
    namespace: str | None = None,
    object_store_memory: int | str | None = None,
    object_store_prefill: int | str | None = None,
) -> ClusterInfo:
    """Start an embedded cluster (no address) or attach to one (``ws://host:port``).

    ``num_gpus`` gives the embedded agent that many GPUs (device indices ``0..N-1``) when it
    cannot detect them; ``namespace`` is what ``get_runtime_context().namespace`` reports.
    ``object_store_memory`` (bytes or e.g. ``"2GiB"``) sizes the embedded agent's object store;
    ``object_store_prefill`` (the same way; default none) backs that much of it with memory
    from the start, in the background: memory held while idle, for a faster first burst of
    large values. ``num_cpus``, ``num_gpus``, ``memory``, ``resources``, ``isolation`` and the
    two store sizes describe the embedded agent: with an address (or ``PYMESOS_RT_ADDRESS``)
    each is refused with a ValueError naming the agents' flag that sets it, as Ray refuses
    ``num_cpus`` when it connects to a cluster."""
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
        if address is not None:
            _embedded_only(
                num_cpus=num_cpus,
                num_gpus=num_gpus,
                memory=memory,
                resources=resources,
                isolation=None if isolation == "auto" else isolation,
                object_store_memory=object_store_memory,
                object_store_prefill=object_store_prefill,
            )
        mem_bytes = parse_memory(memory) if memory is not None else None
        if num_gpus is not None:
            resources = {**(resources or {}), GPUS: float(num_gpus)}
        store_bytes, prefill_bytes = _store_sizes(object_store_memory, object_store_prefill)
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
                    namespace=namespace or "default",
                    object_store_memory=store_bytes,
                    object_store_prefill=prefill_bytes,
                )
            )
            info = session.start()
        except BaseException:
            if first_standby is not None:
                standby.discard(first_standby)
            raise
        _session = _Session(info, session.stop)
    return info


# what sets each of init's arguments for the embedded agent on a cluster's agents
_AGENT_FLAGS = {
    "num_cpus": "--resources cpus:N",
    "num_gpus": "--resources gpus:N",
    "memory": "--resources mem:N",
    "resources": "--resources",
    "isolation": "--isolation",
    "object_store_memory": "--object-store-memory",
    "object_store_prefill": "--object-store-prefill",
}


def _embedded_only(**given: object) -> None:
    """A program attaching to a cluster uses what its agents offer: an argument that sizes
    the embedded agent is refused in one line naming the agents' flag (as Ray refuses
    ``num_cpus`` with an address), not silently ignored."""
    for name, value in given.items():
        if value is not None:
            raise ValueError(
                f"{name} applies to an embedded cluster; set it on the agents "
                f"(pymesos-rt agent {_AGENT_FLAGS[name]})"
            )


def _store_sizes(memory: int | str | None, prefill: int | str | None) -> tuple[int | None, int]:
    """``object_store_memory`` and ``object_store_prefill`` in bytes (None, 0: the defaults),
    or ValueError in one line if unreadable (an attached program's are refused before)."""
    sizes: list[int] = []
    for name, value in (("object_store_memory", memory), ("object_store_prefill", prefill)):
        try:
            sizes.append(parse_memory(value) if value else 0)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"bad {name}: {exc}") from None
    return sizes[0] or None, sizes[1]


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


def _auto_init() -> None:
    """The first API call without ``init()`` starts the runtime, as Ray does (never inside an
    executor, whose backend is set when it starts, nor once the interpreter is exiting)."""
    if "PYMESOS_RT_EXECUTOR_ID" in os.environ:
        return
    where = os.environ.get("PYMESOS_RT_ADDRESS") or "an embedded cluster"
    logs.configure_if_unset()
    # a warning, so that it shows with the default (quiet) logging: a cluster is starting
    log.warning("pymesos_rt was not initialized: starting it with init() on %s", where)
    init(ignore_reinit_error=True)


backend_mod.set_auto_init(_auto_init)
atexit.register(backend_mod.set_auto_init, None)  # runs before shutdown (atexit is LIFO)


def is_initialized() -> bool:
    return backend_mod.current_or_none() is not None


@overload
def remote(fn: type, /) -> ActorClass: ...  # type: ignore[overload-overlap]


@overload
def remote(fn: F, /) -> RemoteFunction[Any, Any]: ...


@overload
def remote(
    *,
    num_cpus: float = ...,
    num_gpus: float = ...,
    memory: int | str | None = ...,
    resources: dict[str, float] | None = ...,
    num_returns: int | str | None = ...,
    max_calls: int = ...,
    max_retries: int = ...,
    retry_exceptions: bool | list[type[BaseException]] = ...,
    scheduling_strategy: str | NodeAffinitySchedulingStrategy | None = ...,
    runtime_env: dict[str, Any] | None = ...,
    name: str | None = ...,
) -> Callable[[F], RemoteFunction[Any, Any]]: ...


def remote(fn: Any = None, /, **options: Any) -> Any:
    """``@remote`` or ``@remote(num_cpus=..., num_gpus=..., num_returns=..., ...)``: make a
    remote function (the options are :class:`~pymesos_rt.client.options.RemoteOptions`), or
    of a class an actor class (``client/actor.py``)."""
    if fn is not None:
        if not callable(fn) or options:
            raise TypeError("use @remote or @remote(option=value, ...)")
        if isinstance(fn, type):
            return ActorClass(fn, ActorOptions())
        return RemoteFunction(fn, RemoteOptions())
    if not options:  # as Ray: "@remote()" is neither form
        raise TypeError(
            "the @remote decorator is applied either with no arguments and no parentheses "
            "(@rt.remote) or with options (@rt.remote(num_cpus=2)), not as @rt.remote()"
        )

    def wrap(f: Any) -> Any:
        if isinstance(f, type):
            return ActorClass(f, ActorOptions().merged(**options))
        return RemoteFunction(f, RemoteOptions().merged(**options))

    return wrap


_OBJECT_ID = operator.attrgetter("object_id")


def _refs_of(refs: Any, what: str) -> list[ObjectRef]:
    if isinstance(refs, str | bytes) or not isinstance(refs, Iterable):
        raise TypeError(
            f"{what}() takes an ObjectRef or a list of ObjectRefs, "
            f"got {type(refs).__name__}: {refs!r:.80}"
        )
    items = list(refs)
    if not set(map(type, items)) <= {ObjectRef}:  # one pass in C; then find the culprit
        for item in items:
            if not isinstance(item, ObjectRef):
                raise TypeError(
                    f"{what}() takes ObjectRefs, got {type(item).__name__}: {item!r:.80}"
                )
    return items


def get(
    refs: ObjectRef | Sequence[ObjectRef],
    timeout: float | None = None,
    *,
    progress: bool = False,
    cancel_on_interrupt: bool = True,
) -> Any:
    """The value(s) of ``refs``, blocking until ready; raises the task's error if it failed.

    ``progress``: show a progress bar (tqdm; a widget in Jupyter). An interrupt (Ctrl-C, or
    the kernel's interrupt in Jupyter) cancels the tasks this call waited for that nothing
    else needs (see :func:`wait`), unless ``cancel_on_interrupt`` is false.
    """
    __tracebackhide__ = True  # IPython shows the caller's line, not ours
    single = isinstance(refs, ObjectRef)
    items = [refs] if isinstance(refs, ObjectRef) else _refs_of(refs, "get")
    backend = backend_mod.current()
    oids = [r.object_id for r in items]
    ahead = ReadAhead(backend)  # stored values are read while the rest are being made
    try:
        found = _blocking(
            lambda report: backend.get(
                oids, timeout, report, ahead.read if len(oids) > 1 else None
            ),
            backend,
            oids,
            len(oids) if progress else 0,
            "get",
            cancel_on_interrupt,
        )
        if found is None:
            waited = f"waiting for {len(items)} object(s)"
            raise GetTimeoutError(f"get timed out after {timeout}s {waited}")
        values = []
        for ref, (state, data) in zip(items, found, strict=True):
            if state != backend_mod.READY:
                raise error_of(data)  # from here: the traceback ends in the caller's line
            values.append(ahead.value(ref.object_id, data, backend))
    finally:
        ahead.close()  # what an error or interrupt left unread is not read
    return values[0] if single else values


def wait(
    refs: Sequence[ObjectRef],
    num_returns: int = 1,
    timeout: float | None = None,
    fetch_local: bool = True,
    *,
    progress: bool = False,
    cancel_on_interrupt: bool = True,
) -> tuple[list[ObjectRef], list[ObjectRef]]:
    """``(ready, not_ready)`` once ``num_returns`` refs are done or ``timeout`` passed.

    ``fetch_local`` is accepted for Ray's sake: a ready object here is one whose value the
    runtime holds, so there is nothing to fetch ahead. ``progress``: show a progress bar up
    to ``num_returns``. An interrupt while waiting cancels the tasks among ``refs`` that are
    not done and that nothing else needs (no unfinished task takes them as an argument, no
    other ``get``/``wait``/future waits on them, no reference to them left this process),
    then raises ``KeyboardInterrupt``; ``cancel_on_interrupt=False`` keeps them running.
    """
    __tracebackhide__ = True
    items = _refs_of(refs, "wait")
    if not items:
        return [], []
    if not 0 <= num_returns <= len(items):
        raise ValueError(f"num_returns must be between 0 and {len(items)}, got {num_returns}")
    oids = list(map(_OBJECT_ID, items))  # every pass over the refs runs in C: linear, fast
    if len(set(oids)) != len(oids):
        raise ValueError("wait got the same ObjectRef more than once")
    backend = backend_mod.current()
    done = _blocking(
        lambda report: backend.wait(oids, num_returns, timeout, report),
        backend,
        oids,
        num_returns if progress else 0,
        "wait",
        cancel_on_interrupt,
    )
    if len(done) > num_returns:  # the first num_returns in the caller's order
        done = set(
            itertools.islice(itertools.compress(oids, map(done.__contains__, oids)), num_returns)
        )
    ready = list(itertools.compress(items, map(done.__contains__, oids)))
    return ready, list(itertools.compress(items, map(operator.not_, map(done.__contains__, oids))))


def progress(refs: Sequence[ObjectRef], *, desc: str = "tasks") -> list[ObjectRef]:
    """Show a progress bar until every ref in ``refs`` is done (failed ones count as done);
    returns ``refs``, so ``rt.get(rt.progress(refs))`` works. In Jupyter the bar is a widget
    (tqdm.notebook), elsewhere a text bar; ``tqdm`` is optional (else a plain text line)."""
    __tracebackhide__ = True
    items = list(dict.fromkeys(_refs_of(refs, "progress")))
    backend = backend_mod.current()
    oids = [r.object_id for r in items]
    _blocking(
        lambda report: backend.wait(oids, len(oids), None, report),
        backend,
        oids,
        len(oids),
        desc,
        True,
    )
    return list(refs)


def _blocking(
    call: Callable[[backend_mod.Progress | None], T],
    backend: backend_mod.Backend,
    oids: list[str],
    shown: int,
    desc: str,
    cancel_on_interrupt: bool,
) -> T:
    """Run a blocking ``get``/``wait``: with a progress bar up to ``shown`` (0: none), and on
    an interrupt, cancelling what only this call needed."""
    __tracebackhide__ = True
    display = progress_mod.bar(shown, desc) if shown else None
    try:
        result = call(display.update_to if display is not None else None)
        if display is not None and result is not None:
            display.update_to(shown if not isinstance(result, set) else min(shown, len(result)))
        return result
    except KeyboardInterrupt:
        if cancel_on_interrupt:
            cancelled = backend.cancel_unneeded(oids)
            if cancelled:
                log.warning(
                    "interrupted: cancelled %d task(s) that only this %s waited for",
                    len(cancelled),
                    desc if desc in ("get", "wait") else "progress",
                )
        raise
    finally:
        if display is not None:
            display.close()


def put(value: Any) -> ObjectRef:
    """Store ``value`` in the cluster once; tasks can take the returned ref as an argument."""
    if isinstance(value, ObjectRef):
        raise TypeError("put() takes a value, not an ObjectRef")
    backend = backend_mod.current()
    return ObjectRef(backend.put(value), backend)


def cancel(
    ref: ObjectRef | ObjectRefGenerator, *, force: bool = False, recursive: bool = True
) -> None:
    """Cancel a pending or running task (one of its refs, or its generator); ``get`` then
    raises ``TaskCancelledError``. ``force`` kills its executor process (the error is then
    ``WorkerCrashedError``, as in Ray); ``recursive`` also cancels the tasks it submitted."""
    if isinstance(ref, ObjectRefGenerator):
        backend_mod.current().cancel(ref.task_id(), force, recursive)
        return
    if not isinstance(ref, ObjectRef):
        raise TypeError(f"cancel takes an ObjectRef, got {type(ref).__name__}")
    backend_mod.current().cancel(ref.object_id, force, recursive)


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


def cluster_resources() -> dict[str, float]:
    """Total resources of all agents, keyed as Ray's: ``{"CPU": 2.0, "memory": 2.5e10, ...}``."""
    state = backend_mod.current().cluster_state()
    return to_ray(state["resources"]["total"])


def available_resources() -> dict[str, float]:
    """Resources not held by any executor, plus those of this program's idle executors (free
    for its next tasks), keyed as Ray's. Works inside tasks too."""
    state = backend_mod.current().cluster_state()
    total = Resources(state["resources"]["total"])
    free = (total - Resources(state["resources"]["used"])).clamp_nonnegative()
    for idle in state.get("idle", {}).values():
        free = free + Resources(idle)
    return to_ray(free.to_dict())


def nodes() -> list[dict[str, Any]]:
    """One dict per agent (the master's ``/state``, page by page): ours (id, hostname,
    resources, used, state, isolation) and Ray's (``NodeID``, ``Alive``, ``Resources``,
    ``NodeManagerAddress``, ``NodeManagerHostname``)."""
    backend = backend_mod.current()
    agents: list[dict[str, Any]] = []
    while True:
        state = backend.cluster_state(f"limit={_NODES_PAGE}&offset={len(agents)}")
        agents += state["agents"]
        if not state["agents"] or len(agents) >= state["counts"]["agents"]:
            break
    return [
        {
            "id": a["id"],
            "hostname": a["hostname"],
            "resources": to_ray(a["resources"]),
            "used": to_ray(a["used"]),
            "state": a["state"],
            "isolation": a["isolation"],
            "NodeID": a["id"],
            "Alive": a["state"] == "active",
            "Resources": to_ray(a["resources"], zeros=False),
            "NodeManagerAddress": a["hostname"],
            "NodeManagerHostname": a["hostname"],
        }
        for a in agents
    ]


_NODES_PAGE = 10_000


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
    "progress",
    "put",
    "remote",
    "shutdown",
    "wait",
]
