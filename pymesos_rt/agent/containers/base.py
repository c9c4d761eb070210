"""The containerizer interface: how an agent confines one executor process tree.

Lifecycle of a :class:`Container`: ``prepare`` (create it, before the process exists) ->
the launcher starts the process with :meth:`Container.preexec` run in the child before ``exec``,
or moves a standby process in with :meth:`Container.adopt` before telling it what to run (so no
user code ever runs unconfined; everything the executor starts inherits the limits) ->
``isolate(pid)`` (record the pid; ``preexec`` already placed it) -> ``usage()`` and
``enforce()`` about once a second while it runs -> ``limitation()`` after it exits (a
memory-limit kill, named) -> ``cleanup()`` (kill leftovers, remove the container).

A :class:`Containerizer` removes what an earlier run of the same agent (same work dir) left
behind with ``reap_leftovers()`` at start, and everything it made with ``shutdown()`` at stop.
Imports: ``protocol`` only.
"""

from __future__ import annotations

import abc
from pathlib import Path

from pymesos_rt.protocol.resources import MEM, Resources


def oom_message(resources: Resources, how: str = "oom_kill") -> str:
    """What a container's memory-limit kill is reported as (it becomes the executor's OOM
    status message and, in the framework, part of the task's ``OutOfMemoryError``)."""
    mib = resources.get(MEM, 0.0)
    if mib > 0:
        return f"memory limit of {mib:g} MiB reached ({how})"
    return f"out of memory ({how}) with no memory limit of its own: the node ran out"


class Container(abc.ABC):
    def __init__(self, container_id: str, resources: Resources) -> None:
        self.container_id = container_id
        self.resources = resources
        self.pid: int | None = None

    def preexec(self) -> None:
        """Runs in the forked child before exec: join the container. It runs in the child of a
        multi-threaded process, so it only makes system calls on values prepared beforehand
        (no imports, no logging, no locks)."""

    def adopt(self, pid: int) -> None:
        """Move a running process into the container instead of starting one with
        :meth:`preexec`: a warm standby executor that has run no framework code yet (see
        ``agent/launcher.py``). Memory it allocated before stays charged where it was."""

    def isolate(self, pid: int) -> None:
        self.pid = pid

    def allow_devices(self, gpus: list[int], node_gpus: list[int]) -> None:
        """Called after ``prepare``, before the process starts: of the node's NVIDIA GPUs
        (``node_gpus``, device indices), the ones this container may use. Backends that can
        confine devices (cgroups-v1's ``devices`` controller) deny it the others'
        ``/dev/nvidia<N>``; others do nothing (``CUDA_VISIBLE_DEVICES`` still tells CUDA which
        to use)."""

    @abc.abstractmethod
    def usage(self) -> dict[str, float]:
        """``cpu_seconds``, ``memory`` and ``memory_peak`` (bytes) of the container's processes,
        and ``pids`` where known. Empty when nothing can be read."""

    def enforce(self) -> str | None:
        """Called about once a second while the executor runs. Backends whose limits the kernel
        does not enforce check them here: when one is exceeded they kill the container and
        return why (``limitation()`` then says the same)."""
        return None

    def limitation(self) -> str | None:
        """After exit: why the container was stopped (its memory limit), if it was."""
        return None

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Kill what is left in the container and remove it. Never raises."""


class Containerizer(abc.ABC):
    name: str = "base"

    def __init__(self, agent_tag: str, work_dir: Path) -> None:
        self.agent_tag = agent_tag
        self.work_dir = work_dir

    @abc.abstractmethod
    def prepare(self, container_id: str, resources: Resources) -> Container:
        """Create a container for an executor of ``resources``; raises OSError if it cannot."""

    def reap_leftovers(self) -> list[str]:
        """Remove containers a previous run of this agent left behind; returns their ids."""
        return []

    def shutdown(self) -> None:
        """The agent stops (its executors have ended): remove whatever is left."""
