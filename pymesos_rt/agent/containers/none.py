"""The ``none`` backend: no kernel limits. It needs no privileges and works everywhere.

The executor runs in a process group of its own (the launcher starts it in a new session), so
the whole tree can be stopped; psutil sums the tree's cpu time and resident memory. The memory
limit is watched, not enforced by the kernel: ``enforce()`` (about once a second) kills the
process group when the tree's RSS is over the shape's ``mem``, and the executor is reported
as stopped at its memory limit. A fast allocation can overshoot between two looks, a process
that leaves the group (``setsid``) escapes, and cpus are not capped. No rlimit fits these
limits: ``RLIMIT_AS``/``RLIMIT_DATA`` count address space that Python reserves but never
uses (thread stacks, malloc arenas), and ``RLIMIT_NPROC`` counts the user's processes, not the
executor's. Imports: psutil, ``.base``, ``protocol``.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

from pymesos_rt.agent.containers.base import Container, Containerizer, oom_message
from pymesos_rt.protocol.resources import MEM, Resources


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
                    mem += proc.memory_info().rss
            except psutil.Error:
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
        rss = self.usage().get("memory", 0.0)
        if rss <= limit:
            return None
        how = f"rss {rss / 2**20:.0f} MiB; killed by the agent, isolation none"
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
