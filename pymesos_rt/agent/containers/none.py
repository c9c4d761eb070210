"""The ``none`` backend: no kernel limits. It needs no privileges and works everywhere.

The executor runs in a process group of its own (the launcher starts it in a new session), so
the whole tree can be stopped; psutil sums the tree's cpu time and memory: each process's USS
without shared memory (:func:`own_memory`), so pages of the object store it maps are not
counted. The memory limit is watched, not enforced by the kernel: ``enforce()`` (about once a
second) kills the process group when the tree's memory is over the shape's ``mem``, and the
executor is reported as stopped at its memory limit. A fast allocation can overshoot between
two looks, a process that leaves the group (``setsid``) escapes, and cpus are not capped. No
rlimit fits these limits: ``RLIMIT_AS``/``RLIMIT_DATA`` count address space that Python
reserves but never uses (thread stacks, malloc arenas), and ``RLIMIT_NPROC`` counts the user's
processes, not the executor's. Imports: psutil, ``.base``, ``protocol``.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

from pymesos_rt.agent.containers.base import Container, Containerizer, oom_message
from pymesos_rt.protocol.resources import MEM, Resources


def own_memory(proc: psutil.Process) -> float:
    """Memory a process holds itself: its unique set size (pages no other process maps) less
    the shared-memory pages among them, which belong to the object store's arena (written or
    read there, charged to the agent). Between its anonymous memory and its exact USS
    without shared memory."""
    uss = float(proc.memory_full_info().uss)
    anon = shmem = 0.0
    with open(f"/proc/{proc.pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"RssAnon:"):
                anon = float(line.split()[1]) * 1024
            elif line.startswith(b"RssShmem:"):
                shmem = float(line.split()[1]) * 1024
    return uss - min(shmem, max(0.0, uss - anon))


class NoneContainer(Container):
    def __init__(self, container_id: str, resources: Resources) -> None:
        super().__init__(container_id, resources)
        self.peak = 0.0
        self._limitation: str | None = None

    def usage(self) -> dict[str, float]:
        if self.pid is None:
            return {}
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return {}
        cpu = 0.0
        mem = 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                    mem += own_memory(proc)
            except (psutil.Error, OSError):
                continue  # exited meanwhile
        self.peak = max(self.peak, mem)
        return {
            "cpu_seconds": cpu,
            "memory": mem,
            "memory_peak": self.peak,
            "pids": float(len(procs)),
        }

    def enforce(self) -> str | None:
        limit = self.resources.get(MEM, 0.0) * 2**20
        if self._limitation is not None or limit <= 0 or self.pid is None:
            return None
        used = self.usage().get("memory", 0.0)
        if used <= limit:
            return None
        how = f"uss {used / 2**20:.0f} MiB; killed by the agent, isolation none"
        self._limitation = oom_message(self.resources, how)
        self.cleanup()
        return self._limitation

    def limitation(self) -> str | None:
        return self._limitation

    def cleanup(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


class NoneContainerizer(Containerizer):
    name = "none"

    def prepare(self, container_id: str, resources: Resources) -> Container:
        return NoneContainer(container_id, resources)
