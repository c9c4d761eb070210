"""One small adapter per measured system, all with the same shape, plus process-tree memory.

An adapter hides how a system is started, how a task is submitted and how results come back, so
the workloads in ``bench_workloads`` are written once. pymesos_rt and Ray share one adapter (the
same API); Dask uses ``Client(LocalCluster(processes=True, threads_per_worker=1))``.
This module imports only the standard library at import time; each system is imported lazily.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger("bench")

SYSTEMS = ("pymesos_rt", "ray", "dask")
MIB = 1024 * 1024


class SystemNotInstalledError(Exception):
    """The system's top-level module is not importable with this interpreter."""


class Adapter(Protocol):
    name: str
    version: str
    import_s: float
    notes: list[str]

    def start(self, num_cpus: int) -> None: ...

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def map(self, fn: Callable[..., Any], args: Sequence[Any]) -> list[Any]: ...

    def get(self, ref: Any) -> Any: ...

    def get_many(self, refs: Sequence[Any]) -> list[Any]: ...

    def put(self, value: Any) -> Any: ...

    def shutdown(self) -> None: ...


def _version(module: Any, distribution: str) -> str:
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            version = "(version unknown)"
    return str(version)


def _import(module_name: str) -> tuple[Any, float]:
    start = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise SystemNotInstalledError(f"{module_name} is not importable: {exc}") from exc
        raise
    return module, time.perf_counter() - start


class RayLikeAdapter:
    """pymesos_rt and Ray: ``init``, ``remote(fn).remote(...)``, ``get``, ``put``, ``shutdown``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.notes: list[str] = []
        self._mod, self.import_s = _import(name)
        self.version = _version(self._mod, name)
        self._remote_fns: dict[Callable[..., Any], Any] = {}

    def start(self, num_cpus: int) -> None:
        if self.name == "ray":
            self._mod.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        else:
            self._mod.init(num_cpus=num_cpus)

    def _remote(self, fn: Callable[..., Any]) -> Any:
        remote_fn = self._remote_fns.get(fn)
        if remote_fn is None:
            remote_fn = self._remote_fns[fn] = self._mod.remote(fn)
        return remote_fn

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._remote(fn).remote(*args)

    def map(self, fn: Callable[..., Any], args: Sequence[Any]) -> list[Any]:
        remote_fn = self._remote(fn)
        return [remote_fn.remote(a) for a in args]

    def get(self, ref: Any) -> Any:
        return self._mod.get(ref)

    def get_many(self, refs: Sequence[Any]) -> list[Any]:
        return list(self._mod.get(list(refs)))

    def put(self, value: Any) -> Any:
        return self._mod.put(value)

    # actors (bench_actors.py)
    supports_actors = True

    def actor(self, cls: type, *args: Any) -> Any:
        actor_class = self._remote_fns.get(cls)
        if actor_class is None:
            actor_class = self._remote_fns[cls] = self._mod.remote(cls)
        return actor_class.remote(*args)

    def call(self, handle: Any, method: str, *args: Any) -> Any:
        return getattr(handle, method).remote(*args)

    def kill(self, handle: Any) -> None:
        self._mod.kill(handle)

    def shutdown(self) -> None:
        self._mod.shutdown()


class DaskAdapter:
    """Dask distributed: a LocalCluster of one single-threaded worker process per core.

    Submission uses ``pure=False`` (every call is a new task, as in Ray) and batches use
    ``client.map``, Dask's idiomatic bulk submission; ``put`` is ``scatter(hash=False)``.
    """

    def __init__(self) -> None:
        self.name = "dask"
        self.notes: list[str] = []
        self._distributed, self.import_s = _import("distributed")
        self.version = _version(self._distributed, "distributed")
        self._cluster: Any = None
        self._client: Any = None

    def start(self, num_cpus: int) -> None:
        self._cluster = self._distributed.LocalCluster(
            n_workers=num_cpus,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        self._client = self._distributed.Client(self._cluster)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._client.submit(fn, *args, pure=False)

    def map(self, fn: Callable[..., Any], args: Sequence[Any]) -> list[Any]:
        return list(self._client.map(fn, list(args), pure=False))

    def get(self, ref: Any) -> Any:
        return ref.result()

    def get_many(self, refs: Sequence[Any]) -> list[Any]:
        return list(self._client.gather(list(refs)))

    def put(self, value: Any) -> Any:
        return self._client.scatter([value], hash=False)[0]

    def shutdown(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_adapter(system: str) -> Adapter:
    """Import ``system`` and return its adapter (raises :class:`SystemNotInstalledError`)."""
    if system in ("pymesos_rt", "ray"):
        return RayLikeAdapter(system)
    if system == "dask":
        return DaskAdapter()
    raise ValueError(f"unknown system {system!r}; expected one of {', '.join(SYSTEMS)}")


def process_tree_memory() -> dict[str, Any]:
    """Memory of this process and all its descendants, summed (MiB).

    ``uss_mib`` (unique set size: pages no other process maps) is the headline number; ``pss_mib``
    (shared pages split between their users) and ``rss_mib`` (double-counts shared libraries) are
    kept for reference.
    """
    import psutil

    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    uss = pss = rss = 0
    names: Counter[str] = Counter()
    for proc in procs:
        try:
            info = proc.memory_full_info()
            names[proc.name()] += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        uss += info.uss
        pss += getattr(info, "pss", 0)
        rss += info.rss
    return {
        "uss_mib": uss / MIB,
        "pss_mib": pss / MIB,
        "rss_mib": rss / MIB,
        "processes": sum(names.values()),
        "process_names": dict(names),
    }
