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

    def cross_node(self, n_bytes: int) -> dict[str, Any]: ...

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
        self._num_cpus = num_cpus
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

    def cross_node(self, n_bytes: int) -> dict[str, Any]:
        """Two nodes that share no memory: ours are two agents, each in a mount namespace of
        its own with a private /dev/shm (when root); Ray's are two raylets (two object
        stores) of one cluster. The session is restarted on them, then back as it was."""
        import bench_tasks as tasks

        num_cpus = self._num_cpus
        self._mod.shutdown()
        close = self._ray_two_nodes() if self.name == "ray" else self._our_two_nodes()
        try:
            produce = self._mod.remote(resources={"a": 1}, num_cpus=0.5)(tasks.make_array)
            consume = self._mod.remote(resources={"b": 1}, num_cpus=0.5)(tasks.size_of)
            self._mod.get([produce.remote(1024), consume.remote(b"warm")])  # both running
            times = []
            for _ in range(3):
                ref = produce.remote(n_bytes)
                self._mod.wait([ref], num_returns=1)
                start = time.perf_counter()
                self._mod.get(consume.remote(ref))
                times.append(time.perf_counter() - start)
                del ref
        finally:
            self._mod.shutdown()
            close()
            self.start(num_cpus)
        best = min(times)
        return {"mib_per_s": n_bytes / MIB / best, "s": best, "runs_s": times}

    def _our_two_nodes(self) -> Callable[[], None]:
        import os
        import shutil
        import subprocess
        import tempfile
        from pathlib import Path

        from pymesos_rt.testing.daemons import start_agent, start_master

        prefix = None
        if os.geteuid() == 0 and shutil.which("unshare"):
            prefix = [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                'mount -t tmpfs tmpfs /dev/shm && exec "$0" "$@"',
            ]
            if subprocess.run([*prefix, "true"], check=False).returncode != 0:
                prefix = None
        if prefix is None:
            self.notes.append("cross_node: agents share /dev/shm (no unshare here)")
        work = Path(tempfile.mkdtemp(prefix="bench-two-nodes-"))
        master = start_master(work)
        agents = [
            start_agent(
                master,
                work,
                "--resources",
                f"cpus:1;mem:2048;{tag}:1",
                "--hostname",
                f"node-{tag}",
                "--object-store-memory",
                "1GiB",
                name=f"node-{tag}",
                prefix=prefix,
            )
            for tag in "ab"
        ]
        self._mod.init(master.url)

        def close() -> None:
            for agent in agents:
                agent.stop()
            master.stop()
            shutil.rmtree(work, ignore_errors=True)

        return close

    def _ray_two_nodes(self) -> Callable[[], None]:
        from ray.cluster_utils import Cluster

        cluster = Cluster(
            initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"a": 1}}
        )
        cluster.add_node(num_cpus=1, resources={"b": 1})
        self._mod.init(address=cluster.address, log_to_driver=False)
        return cluster.shutdown

    # num_returns and generator tasks (bench_rayapi.py)
    supports_ray_api = True

    def submit_returns(self, fn: Callable[..., Any], n: int, *args: Any) -> list[Any]:
        return list(self._remote(fn).options(num_returns=n).remote(*args))

    def stream(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A generator task's refs, as they arrive (``num_returns="streaming"``)."""
        return self._remote(fn).options(num_returns="streaming").remote(*args)

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

    def cross_node(self, n_bytes: int) -> dict[str, Any]:
        """Dask's workers are separate processes: make on one, consume on the other."""
        import bench_tasks as tasks

        workers = sorted(self._client.scheduler_info()["workers"])
        if len(workers) < 2:
            raise RuntimeError("cross_node needs two workers")
        first, second = [workers[0]], [workers[1]]
        times = []
        for _ in range(3):
            ref = self._client.submit(tasks.make_array, n_bytes, workers=first, pure=False)
            self._distributed.wait([ref])
            start = time.perf_counter()
            self._client.submit(tasks.size_of, ref, workers=second, pure=False).result()
            times.append(time.perf_counter() - start)
            del ref
        best = min(times)
        return {"mib_per_s": n_bytes / MIB / best, "s": best, "runs_s": times}

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
