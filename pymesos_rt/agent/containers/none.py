"""The ``none`` backend: no kernel limits. The executor gets its own process group (so the whole
tree can be stopped), and psutil watches its usage."""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

from pymesos_rt.agent.containers.base import Container, Containerizer
from pymesos_rt.protocol.resources import Resources


class NoneContainer(Container):
    def __init__(self, container_id: str, resources: Resources) -> None:
        super().__init__(container_id, resources)
        self.peak = 0.0

    def usage(self) -> dict[str, float]:
        if self.pid is None:
            return {}
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
            cpu = 0.0
            mem = 0.0
            for proc in procs:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                    mem += proc.memory_info().rss
        except psutil.Error:
            return {}
        self.peak = max(self.peak, mem)
        return {"cpu_seconds": cpu, "memory": mem, "memory_peak": self.peak}

    def cleanup(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


class NoneContainerizer(Containerizer):
    name = "none"

    def prepare(self, container_id: str, resources: Resources) -> Container:
        return NoneContainer(container_id, resources)
