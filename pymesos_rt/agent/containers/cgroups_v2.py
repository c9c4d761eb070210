"""The ``cgroups-v2`` backend: one group per executor in the unified hierarchy.

What it enforces, from the executor's resource shape:
- ``cpu.max = "<cpus * 100000> 100000"`` (no quota at 0.01 cpus or less) and ``cpu.weight``
  (the v1 shares mapped onto 1..10000).
- ``memory.max = mem`` with ``memory.swap.max = 0`` (where present) and ``memory.oom.group = 1``
  (an OOM kill takes the whole container). A kill is read from ``oom_kill`` in
  ``memory.events``. Shapes without ``mem`` get no limit.
- ``pids.max`` (default 1024, or ``PYMESOS_RT_PIDS_MAX``).
- ``cgroup.kill`` (kernel 5.14+) removes a container's processes at once, forks included.

Where the groups go: ``<base>/pymesos-rt-<tag>-<digest>/<container id>``, where ``base`` is
this process's own group, or ``PYMESOS_RT_CGROUP_PARENT``. cgroup v2 lets a group hand
controllers to its children only when it has no processes of its own (the root excepted), so
``base`` must be the root of the hierarchy, or a delegated group the agent does not live in
(see docs/isolation.md). Imports: ``.base``, ``.cgroupfs``, ``protocol``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pymesos_rt.agent.containers import cgroupfs
from pymesos_rt.agent.containers.base import Container, Containerizer, oom_message
from pymesos_rt.agent.containers.cgroups_v1 import CFS_PERIOD_US, cpu_settings
from pymesos_rt.protocol.resources import CPUS, MEM, Resources

log = logging.getLogger(__name__)

CONTROLLERS = ("cpu", "memory", "pids")
PARENT_ENV = "PYMESOS_RT_CGROUP_PARENT"


def cpu_weight(shares: int) -> int:
    """The kernel's mapping of v1 ``cpu.shares`` (2..262144) onto v2 ``cpu.weight``."""
    return 1 + ((min(max(shares, 2), 262144) - 2) * 9999) // 262142


class CgroupsV2Container(Container):
    def __init__(
        self,
        container_id: str,
        resources: Resources,
        group: Path,
        controllers: Iterable[str] = CONTROLLERS,
        remove_dir: Callable[[Path], None] = cgroupfs.rmdir,
    ) -> None:
        super().__init__(container_id, resources)
        self.group = group
        self.controllers = frozenset(controllers)
        self._procs_file = os.fsencode(group / "cgroup.procs")  # for preexec
        self._remove = remove_dir
        self.peak = 0.0

    def configure(self, pids_max: int) -> None:
        g = self.group
        if "cpu" in self.controllers:
            quota, shares = cpu_settings(self.resources.get(CPUS, 0.0))
            cgroupfs.write(g / "cpu.max", f"{quota if quota > 0 else 'max'} {CFS_PERIOD_US}")
            cgroupfs.write(g / "cpu.weight", cpu_weight(shares))
        mib = self.resources.get(MEM, 0.0)
        if "memory" in self.controllers and mib > 0:
            cgroupfs.write(g / "memory.max", int(mib * 2**20))
            for name, value in (("memory.swap.max", 0), ("memory.oom.group", 1)):
                with contextlib.suppress(OSError):  # absent without swap / on old kernels
                    cgroupfs.write(g / name, value)
        if "pids" in self.controllers:
            cgroupfs.write(g / "pids.max", pids_max)

    def preexec(self) -> None:
        self._join(b"0")

    def adopt(self, pid: int) -> None:
        self._join(str(pid).encode())

    def _join(self, who: bytes) -> None:
        fd = os.open(self._procs_file, os.O_WRONLY)
        try:
            os.write(fd, who)
        finally:
            os.close(fd)

    def usage(self) -> dict[str, float]:
        g = self.group
        out: dict[str, float] = {}
        usec = cgroupfs.read_keyed(g / "cpu.stat").get("usage_usec")
        if usec is not None:
            out["cpu_seconds"] = usec / 1e6
        memory = cgroupfs.read_int(g / "memory.current")
        if memory is not None:
            self.peak = max(self.peak, float(memory))
            out["memory"] = float(memory)
            peak = cgroupfs.read_int(g / "memory.peak")  # kernel 5.19+
            out["memory_peak"] = float(peak) if peak is not None else self.peak
        pids = cgroupfs.read_int(g / "pids.current")
        if pids is not None:
            out["pids"] = float(pids)
        return out

    def oom_kills(self) -> int:
        return cgroupfs.read_keyed(self.group / "memory.events").get("oom_kill", 0)

    def limitation(self) -> str | None:
        return oom_message(self.resources) if self.oom_kills() > 0 else None

    def cleanup(self) -> None:
        cgroupfs.destroy([self.group], kill_first([self.group]), self._remove)


def kill_first(groups: list[Path]) -> cgroupfs.Freeze | None:
    """Kill ``groups`` through ``cgroup.kill`` at once; return a ``cgroup.freeze`` freezer for
    the loop that makes sure (and does the work on kernels without ``cgroup.kill``)."""
    for group in groups:
        if (group / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                cgroupfs.write(group / "cgroup.kill", 1)
    files = [g / "cgroup.freeze" for g in groups if (g / "cgroup.freeze").exists()]
    if not files:
        return None

    def freeze(frozen: bool) -> None:
        for path in files:
            cgroupfs.write(path, int(frozen))
        deadline = time.monotonic() + 1.0
        while frozen and time.monotonic() < deadline:
            events = [cgroupfs.read_keyed(p.parent / "cgroup.events") for p in files]
            if all(e.get("frozen", 1) == 1 for e in events):
                return
            time.sleep(0.001)

    return freeze


class CgroupsV2Containerizer(Containerizer):
    name = "cgroups-v2"

    def __init__(
        self,
        agent_tag: str,
        work_dir: Path,
        *,
        base: Path | None = None,
        controllers: Iterable[str] = CONTROLLERS,
        pids_max: int | None = None,
        remove_dir: Callable[[Path], None] = cgroupfs.rmdir,
    ) -> None:
        """Makes sure ``base`` gives ``controllers`` to its children, or raises
        :class:`cgroupfs.Unavailable` saying why it cannot."""
        super().__init__(agent_tag, work_dir)
        try:
            if base is None:
                parent = os.environ.get(PARENT_ENV, "")
                base = Path(parent) if parent else cgroupfs.v2_dir()
            self.controllers = tuple(controllers)
            self.base = base
            self._delegate(base)
        except OSError as exc:
            raise cgroupfs.Unavailable(f"cannot use cgroup2 at {base}: {exc}") from None
        self.pids_max = pids_max if pids_max is not None else cgroupfs.pids_max_default()
        self.stem = cgroupfs.agent_stem(agent_tag, work_dir)
        self.dir_name = cgroupfs.agent_dir_name(agent_tag, work_dir)
        self.agent_dir = base / self.dir_name
        self.ledger = cgroupfs.Ledger(work_dir, self.stem)
        self._remove = remove_dir

    def _delegate(self, base: Path) -> None:
        available = (base / "cgroup.controllers").read_text().split()
        missing = [c for c in self.controllers if c not in available]
        if missing:
            raise cgroupfs.Unavailable(
                f"cgroup2 controllers {' '.join(missing)} are not available in {base} "
                f"(cgroup.controllers: {' '.join(available) or 'none'}); on a machine that "
                "binds them to v1 hierarchies, use cgroups-v1"
            )
        if not os.access(base / "cgroup.procs", os.W_OK):
            raise cgroupfs.Unavailable(f"{base} is not writable by this user")
        enabled = (base / "cgroup.subtree_control").read_text().split()
        todo = " ".join(f"+{c}" for c in self.controllers if c not in enabled)
        if todo:
            try:
                cgroupfs.write(base / "cgroup.subtree_control", todo)
            except OSError as exc:
                raise cgroupfs.Unavailable(
                    f"cannot enable {todo} in {base}/cgroup.subtree_control ({exc.strerror}): "
                    "a cgroup2 group with processes of its own cannot give controllers to "
                    f"its children; set {PARENT_ENV} to a delegated group the agent does "
                    "not live in"
                ) from None

    def prepare(self, container_id: str, resources: Resources) -> CgroupsV2Container:
        group = self.agent_dir / cgroupfs.safe_name(container_id)
        self.ledger.record([self.agent_dir])  # before it exists: a crash leaves nothing unknown
        try:
            if not self.agent_dir.is_dir():
                self.agent_dir.mkdir()
                if self.controllers:
                    todo = " ".join(f"+{c}" for c in self.controllers)
                    cgroupfs.write(self.agent_dir / "cgroup.subtree_control", todo)
            if group.exists():  # an earlier executor of that id was not removed
                cgroupfs.destroy([group], kill_first([group]), self._remove)
            group.mkdir()
            container = CgroupsV2Container(
                container_id, resources, group, self.controllers, self._remove
            )
            container.configure(self.pids_max)
        except (OSError, ValueError) as exc:
            if group.exists():
                cgroupfs.destroy([group], None, self._remove)
            raise OSError(f"cannot set up a cgroup for {container_id}: {exc}") from exc
        return container

    def reap_leftovers(self) -> list[str]:
        leftovers = cgroupfs.leftover_dirs([self.base], self.stem)
        dirs = list(dict.fromkeys([*self.ledger.entries(), *leftovers]))
        removed = cgroupfs.reap(dirs, self._remove, kill_first)
        self.ledger.clear()
        return removed

    def shutdown(self) -> None:
        cgroupfs.reap([self.agent_dir], self._remove, kill_first)
        self.ledger.clear()
