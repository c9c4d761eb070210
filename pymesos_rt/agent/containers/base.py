"""The containerizer interface: how an agent confines one executor process tree.

Lifecycle of a :class:`Container`: ``prepare`` (create it, before the process exists) ->
the launcher starts the process with :meth:`Container.preexec` run in the child before ``exec``
(so no user code ever runs unconfined) -> ``isolate(pid)`` (record or move the pid; a no-op
where ``preexec`` already placed it) -> ``usage()`` while it runs -> ``limitation()`` after it
exits (a memory-limit kill, named) -> ``cleanup()`` (kill leftovers, remove the container).
"""

from __future__ import annotations

import abc
from pathlib import Path

from pymesos_rt.protocol.resources import Resources


class Container(abc.ABC):
    def __init__(self, container_id: str, resources: Resources) -> None:
        self.container_id = container_id
        self.resources = resources
        self.pid: int | None = None

    def preexec(self) -> None:
        """Runs in the forked child before exec: join the container."""

    def isolate(self, pid: int) -> None:
        self.pid = pid

    @abc.abstractmethod
    def usage(self) -> dict[str, float]:
        """cpu seconds, memory now and peak (bytes) of the container's processes."""

    def limitation(self) -> str | None:
        """After exit: why the kernel stopped the container (e.g. memory limit), if it did."""
        return None

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Kill what is left in the container and remove it."""


class Containerizer(abc.ABC):
    name: str = "base"

    def __init__(self, agent_tag: str, work_dir: Path) -> None:
        self.agent_tag = agent_tag
        self.work_dir = work_dir

    @abc.abstractmethod
    def prepare(self, container_id: str, resources: Resources) -> Container: ...

    def reap_leftovers(self) -> list[str]:
        """Remove containers a previous run of this agent left behind; returns their ids."""
        return []
